// socket_stick/server/main.go: the sticky-packet chapter says "the server
// code remains unchanged", and its clients dial port 30000. So this is
// ../../tcp/server/main.go with one change, the port (20000 → 30000).
// The Rust twin: ../../../stick-demo/src/raw_server.rs.
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
	listen, err := net.Listen("tcp", "127.0.0.1:30000")
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
