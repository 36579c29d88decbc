// socket_stick/client2/main.go, as the Go tutorial publishes it (the
// imports added, with the module path of go.mod, gofmt's layout). The Rust
// twin: `stick-demo client2`, ../../../stick-demo/src/client.rs.
package main

import (
	"fmt"
	"net"

	"gotutorial.example/socket_stick/proto"
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
		data, err := proto.Encode(msg)
		if err != nil {
			fmt.Println("encode msg failed, err:", err)
			return
		}
		conn.Write(data)
	}
}
