// UDP/client/main.go, as the Go tutorial publishes it (the imports added,
// gofmt's layout). The Rust twin: ../../../udp-client/src/main.rs.
package main

import (
	"fmt"
	"net"
)

// UDP client
func main() {
	socket, err := net.DialUDP("udp", nil, &net.UDPAddr{
		IP:   net.IPv4(0, 0, 0, 0),
		Port: 30000,
	})
	if err != nil {
		fmt.Println("Failed to connect to the server, err:", err)
		return
	}
	defer socket.Close()
	sendData := []byte("Hello server")
	_, err = socket.Write(sendData) // send data
	if err != nil {
		fmt.Println("Failed to send data, err:", err)
		return
	}
	data := make([]byte, 4096)
	n, remoteAddr, err := socket.ReadFromUDP(data) // receive data
	if err != nil {
		fmt.Println("Failed to receive data, err:", err)
		return
	}
	fmt.Printf("recv:%v addr:%v count:%v\n", string(data[:n]), remoteAddr, n)
}
