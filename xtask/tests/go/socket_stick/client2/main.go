// Fixture: the chapter's client2, which writes 20 framed messages.
package main

import (
	"fmt"
	"net"

	"gotutorial.example/socket_stick/proto"
)

func main() {
	c, err := net.Dial("tcp", "127.0.0.1:30000")
	if err != nil {
		fmt.Println("dial failed, err", err)
		return
	}
	defer c.Close()
	for i := 0; i < 20; i++ {
		frame, err := proto.Encode("Hello, Hello. How are you?")
		if err != nil {
			fmt.Println("encode msg failed, err:", err)
			return
		}
		c.Write(frame)
	}
}
