// Fixture: the sticky-packet chapter's server, "unchanged" from tcp/server
// but listening on port 30000, where the chapter's clients dial.
package main

import (
	"bufio"
	"fmt"
	"net"
)

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
		fmt.Println("received client Data sent:", text)
		c.Write([]byte(text))
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:30000")
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
