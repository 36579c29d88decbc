// Built beside a copy of the tutorial's go/tcp/server/main.go, whose one
// `net.Listen("tcp", "127.0.0.1:20000")` call the bench replaces with
// `benchListen("tcp", "127.0.0.1:20000")`: everything else the tutorial
// server does (a new bufio.Reader per read, a 128-byte buffer, a line
// printed to stdout per message) is measured as published. Only the address
// changes, to the one given as `--addr ADDR` (port 0 in the bench), so that
// it never collides with anything else on port 20000; and it announces the
// address as every server of the project does, once it is listening.
package main

import (
	"fmt"
	"net"
	"os"
)

func benchListen(network, published string) (net.Listener, error) {
	addr := published
	for i, arg := range os.Args[1:] {
		if arg == "--addr" && i+2 < len(os.Args) {
			addr = os.Args[i+2]
		}
	}
	listener, err := net.Listen(network, addr)
	if err == nil {
		fmt.Println("listening on", listener.Addr())
	}
	return listener, err
}
