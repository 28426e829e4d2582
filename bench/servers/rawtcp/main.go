// Command rawtcp is the baseline of the benchmarks: the same echo and broadcast as the
// WebSocket servers over plain TCP, with no framing beyond a length, read through a
// bufio.Reader. It is the limit for Go on the machine, which no WebSocket library can
// beat.
//
// The protocol: the client sends one byte after connecting, 'E' for echo or 'B' for
// broadcast; then each message, both ways, is a 4-byte big-endian length and that many
// bytes of payload. The echo sends every message back; the broadcast sends every message
// to every 'B' connection, the sender included. A message over 32 MiB ends the
// connection. There is no compression.
//
//	go run ./servers/rawtcp -addr 127.0.0.1:9006
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"

	"github.com/duplex-ws/duplex/bench/internal/srv"
)

// Modes, the first byte a client sends.
const (
	modeEcho      = 'E'
	modeBroadcast = 'B'
)

func main() {
	srv.Main("rawtcp", []srv.Compression{srv.CompressNone}, serve)
}

func serve(ctx context.Context, ln net.Listener, opts srv.Options) error {
	var room srv.Broadcast[[]byte]
	return srv.ServeConns(ctx, ln, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		mode, err := br.ReadByte()
		if err != nil {
			return
		}
		switch mode {
		case modeEcho:
			echo(c, br)
		case modeBroadcast:
			broadcast(c, br, &room)
		}
	})
}

// echo reads each message, length included, into a buffer it reuses and writes it back
// in one write.
func echo(c net.Conn, br *bufio.Reader) {
	var buf []byte
	for {
		msg, err := readMessage(br, buf[:0])
		if err != nil {
			return
		}
		buf = msg
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}

// broadcast reads each message, length included, into a new slice that every subscriber's
// writer then writes as it is.
func broadcast(c net.Conn, br *bufio.Reader, room *srv.Broadcast[[]byte]) {
	leave := room.Join(
		func(msg []byte) error { _, err := c.Write(msg); return err },
		func() { c.Close() })
	defer leave()
	defer c.Close() // first: a writer blocked on a peer that does not read must return
	for {
		msg, err := readMessage(br, nil)
		if err != nil {
			return
		}
		room.Publish(msg)
	}
}

var errTooLarge = errors.New("rawtcp: message over the read limit")

// readMessage appends the next message, its 4-byte length and its payload, to buf. It
// grows buf as the payload arrives, never ahead by more than 64 KiB, whatever the length
// announces.
func readMessage(br *bufio.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > srv.ReadLimit {
		return buf, errTooLarge
	}
	buf = append(buf, hdr[:]...)
	for n > 0 {
		chunk := min(n, 64<<10)
		start := len(buf)
		buf = append(buf, make([]byte, chunk)...)
		if _, err := io.ReadFull(br, buf[start:]); err != nil {
			return buf, err
		}
		n -= chunk
	}
	return buf, nil
}
