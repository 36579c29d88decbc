// tcp/server/main.go, as the Go tutorial publishes it (the imports added,
// gofmt's layout). See ../../README.md for what it gets wrong, and
// ../../../tcp-server/src/main.rs for the Rust twin.
package main

import (
	"bufio"
	"fmt"
	"net"
)

// TCP server side
// Processing function
func process(conn net.Conn) {
	defer conn.Close() // Close connection
	for {
		reader := bufio.NewReader(conn)
		var buf [128]byte
		n, err := reader.Read(buf[:]) // Read data
		if err != nil {
			fmt.Println("read from client failed, err:", err)
			break
		}
		recvStr := string(buf[:n])
		fmt.Println("received client Data sent from terminal:", recvStr)
		conn.Write([]byte(recvStr)) // send data
	}
}

func main() {
	listen, err := net.Listen("tcp", "127.0.0.1:20000")
	if err != nil {
		fmt.Println("listen failed, err:", err)
		return
	}
	for {
		conn, err := listen.Accept() // Remove a connection handler from the connection pool
		if err != nil {
			fmt.Println("accept failed, err:", err)
			continue
		}
		go process(conn) // Start a goroutine processing connection
	}
}
