// Fixture: the chapter's server2, which decodes frames with proto.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"

	"gotutorial.example/socket_stick/proto"
)

func serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		msg, err := proto.Decode(r)
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
	ln, err := net.Listen("tcp", "127.0.0.1:30000")
	if err != nil {
		fmt.Println("listen failed, err:", err)
		return
	}
	defer ln.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Println("accept failed, err:", err)
			continue
		}
		go serve(c)
	}
}
