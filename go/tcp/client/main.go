// tcp/client/main.go, as the Go tutorial publishes it (the imports added,
// gofmt's layout). The Rust twin: ../../../tcp-client/src/main.rs.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
)

// client
func main() {
	conn, err := net.Dial("tcp", "127.0.0.1:20000")
	/*
	 * defer conn.Close()
	 * conn.close What's the difference between putting it here and putting it below?
	 * A: if the following err is not empty, conn cannot call close, and close will
	 * directly report an error, exit the program, and put the You can also print to err below.
	 */
	if err != nil {
		fmt.Println("err :", err)
		return
	}
	defer conn.Close() // Close connection
	inputReader := bufio.NewReader(os.Stdin)
	for {
		input, _ := inputReader.ReadString('\n') // Read user input
		inputInfo := strings.Trim(input, "\r\n")
		if strings.ToUpper(inputInfo) == "Q" { // If you enter q, exit
			return
		}
		_, err = conn.Write([]byte(inputInfo)) // send data
		if err != nil {
			return
		}
		buf := [512]byte{}
		n, err := conn.Read(buf[:])
		if err != nil {
			fmt.Println("recv failed, err:", err)
			return
		}
		fmt.Println(string(buf[:n]))
	}
}
