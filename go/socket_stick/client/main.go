// socket_stick/client/main.go, as the Go tutorial publishes it (the
// imports added, gofmt's layout). The Rust twin: `stick-demo client`,
// ../../../stick-demo/src/client.rs.
package main

import (
	"fmt"
	"net"
)

func main() {
	conn, err := net.Dial("tcp", "127.0.0.1:30000")
	if err != nil {
		fmt.Println("dial failed, err", err)
		return
	}
	defer conn.Close()
	for i := 0; i < 20; i++ {
		msg := `Hello, Hello. How are you?`
		conn.Write([]byte(msg))
	}
}
