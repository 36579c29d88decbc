// Fixture: the tutorial's UDP echo server, on every interface, port 30000.
package main

import (
	"fmt"
	"net"
)

func main() {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4zero, Port: 30000})
	if err != nil {
		fmt.Println("listen failed, err:", err)
		return
	}
	defer conn.Close()
	for {
		var buf [1024]byte
		n, from, err := conn.ReadFromUDP(buf[:])
		if err != nil {
			fmt.Println("read udp failed, err:", err)
			continue
		}
		fmt.Printf("data:%v addr:%v count:%v\n", string(buf[:n]), from, n)
		if _, err := conn.WriteToUDP(buf[:n], from); err != nil {
			fmt.Println("write to udp failed, err:", err)
		}
	}
}
