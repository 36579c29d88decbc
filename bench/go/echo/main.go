// The idiomatic Go echo server the bench measures ours against: one
// goroutine per connection, io.Copy(conn, conn), as a Go programmer would
// write it (Go's net package sets TCP_NODELAY by default). Like every
// server of the project it prints `listening on <addr>` first, and binds
// --addr (port 0 lets the kernel choose).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to bind; port 0 lets the kernel choose")
	flag.Parse()
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-echo: listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", listener.Addr())
	for {
		conn, err := listener.Accept()
		if err != nil {
			// Out of descriptors, typically: this connection is lost, the server goes on.
			fmt.Fprintln(os.Stderr, "go-echo: accept:", err)
			continue
		}
		go func(conn net.Conn) {
			defer conn.Close()
			io.Copy(conn, conn)
		}(conn)
	}
}
