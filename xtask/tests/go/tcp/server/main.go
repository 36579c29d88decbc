// Fixture: the tutorial's TCP echo server (tcp/server/main.go).
package main

import (
	"bufio"
	"fmt"
	"net"
)

// serve echoes one connection. A fresh bufio.Reader per read, handing out at
// most 128 bytes, as the tutorial does: bytes it buffered past those are lost.
func serve(c net.Conn) {
	defer c.Close()
	for {
		var chunk [128]byte
		n, err := bufio.NewReader(c).Read(chunk[:])
		if err != nil {
			fmt.Println("read from client failed, err:", err)
			return
		}
		text := string(chunk[:n])
		fmt.Println("received client Data sent from terminal:", text)
		c.Write([]byte(text))
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:20000")
	if err != nil {
		fmt.Println("listen failed, err:", err)
		return
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Println("accept failed, err:", err)
			continue
		}
		go serve(c)
	}
}
