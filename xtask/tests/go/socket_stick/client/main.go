// Fixture: the chapter's client that writes 20 unframed messages.
package main

import (
	"fmt"
	"net"
)

func main() {
	c, err := net.Dial("tcp", "127.0.0.1:30000")
	if err != nil {
		fmt.Println("dial failed, err", err)
		return
	}
	defer c.Close()
	const msg = "Hello, Hello. How are you?"
	for i := 0; i < 20; i++ {
		c.Write([]byte(msg))
	}
}
