// socket_stick/proto/proto.go, as the Go tutorial publishes it (gofmt's
// layout). Decode has four defects (see ../../README.md); the Rust twin,
// without them, is ../../../proto/src/lib.rs.
package proto

import (
	"bufio"
	"bytes"
	"encoding/binary"
)

// Encode encodes the message and encodes the message when sending
func Encode(message string) ([]byte, error) {
	// Read the length of the message and convert it to int32 type (4 bytes)
	var length = int32(len(message))
	var pkg = new(bytes.Buffer)
	// Write header
	err := binary.Write(pkg, binary.LittleEndian, length)
	if err != nil {
		return nil, err
	}
	// Write message entity
	err = binary.Write(pkg, binary.LittleEndian, []byte(message))
	if err != nil {
		return nil, err
	}
	return pkg.Bytes(), nil
}

// Decode decodes the message and decodes the message when received
func Decode(reader *bufio.Reader) (string, error) {
	// Read the length of the message
	lengthByte, _ := reader.Peek(4) // Read the first 4 bytes of data
	lengthBuff := bytes.NewBuffer(lengthByte)
	var length int32
	err := binary.Read(lengthBuff, binary.LittleEndian, &length)
	if err != nil {
		return "", err
	}
	// Buffered returns the number of bytes that are currently readable in the buffer.
	if int32(reader.Buffered()) < length+4 {
		return "", err
	}

	// Read real message data
	pack := make([]byte, int(4+length))
	_, err = reader.Read(pack)
	if err != nil {
		return "", err
	}
	return string(pack[4:]), nil
}
