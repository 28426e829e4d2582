// Command rawtcpecho is the echo of bench/servers/rawtcp, standard library only, for
// TestBenchGeneratorCheaperThanRawTCP: the cheapest server duplex bench can load. After
// connecting, a client sends the byte 'E'; from then on each message, both ways, is a
// 4-byte big-endian length and that many bytes of payload. Each connection is read through
// a bufio.Reader and each message written back with one Write. It prints "listening on
// ADDRESS" and serves until killed.
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening on", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go echo(c)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	if mode, err := br.ReadByte(); err != nil || mode != 'E' {
		return
	}
	var msg []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > 1<<20 {
			return
		}
		msg = append(append(msg[:0], hdr[:]...), make([]byte, n)...)
		if _, err := io.ReadFull(br, msg[4:]); err != nil {
			return
		}
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}
