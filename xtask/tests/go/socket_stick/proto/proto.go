// Package proto is the fixture's copy of the tutorial's framing: an int32
// little-endian length, then the message bytes.
package proto

import (
	"bufio"
	"bytes"
	"encoding/binary"
)

// Encode returns the frame for message.
func Encode(message string) ([]byte, error) {
	var out bytes.Buffer
	if err := binary.Write(&out, binary.LittleEndian, int32(len(message))); err != nil {
		return nil, err
	}
	if err := binary.Write(&out, binary.LittleEndian, []byte(message)); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Decode returns the next message, with the tutorial's semantics: it peeks
// at the header, and when fewer than length+4 bytes are buffered it returns
// "" and a nil error without reading more.
func Decode(r *bufio.Reader) (string, error) {
	header, _ := r.Peek(4)
	var length int32
	if err := binary.Read(bytes.NewReader(header), binary.LittleEndian, &length); err != nil {
		return "", err
	}
	if int32(r.Buffered()) < length+4 {
		return "", nil
	}
	frame := make([]byte, int(4+length))
	if _, err := r.Read(frame); err != nil {
		return "", err
	}
	return string(frame[4:]), nil
}
