// Fixture: the tutorial's TCP line client (tcp/client/main.go).
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	c, err := net.Dial("tcp", "127.0.0.1:20000")
	if err != nil {
		fmt.Println("err :", err)
		return
	}
	defer c.Close()
	in := bufio.NewReader(os.Stdin)
	for {
		line, _ := in.ReadString('\n')
		line = strings.Trim(line, "\r\n")
		if strings.ToUpper(line) == "Q" {
			return
		}
		if _, err = c.Write([]byte(line)); err != nil {
			return
		}
		// One read of at most 512 bytes, as in the tutorial.
		var reply [512]byte
		n, err := c.Read(reply[:])
		if err != nil {
			fmt.Println("recv failed, err:", err)
			return
		}
		fmt.Println(string(reply[:n]))
	}
}
