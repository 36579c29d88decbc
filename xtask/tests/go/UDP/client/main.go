// Fixture: the tutorial's UDP client: one datagram, one blocking read.
package main

import (
	"fmt"
	"net"
)

func main() {
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4zero, Port: 30000})
	if err != nil {
		fmt.Println("Failed to connect to the server, err:", err)
		return
	}
	defer conn.Close()
	if _, err = conn.Write([]byte("Hello server")); err != nil {
		fmt.Println("Failed to send data, err:", err)
		return
	}
	buf := make([]byte, 4096)
	n, from, err := conn.ReadFromUDP(buf)
	if err != nil {
		fmt.Println("Failed to receive data, err:", err)
		return
	}
	fmt.Printf("recv:%v addr:%v count:%v\n", string(buf[:n]), from, n)
}
