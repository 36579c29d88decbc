// socket_stick/server2/main.go, as the Go tutorial publishes it (the
// imports added, with the module path of go.mod, gofmt's layout). The Rust
// twin: `stick-demo server2`, ../../../stick-demo/src/framed_server.rs.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"

	"gotutorial.example/socket_stick/proto"
)

func process(conn net.Conn) {
	defer conn.Close()
	reader := bufio.NewReader(conn)
	for {
		msg, err := proto.Decode(reader)
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Println("decode msg failed, err:", err)
			return
		}
		fmt.Println("received client Data sent:", msg)
	}
}

func main() {
	listen, err := net.Listen("tcp", "127.0.0.1:30000")
	if err != nil {
		fmt.Println("listen failed, err:", err)
		return
	}
	defer listen.Close()
	for {
		conn, err := listen.Accept()
		if err != nil {
			fmt.Println("accept failed, err:", err)
			continue
		}
		go process(conn)
	}
}
