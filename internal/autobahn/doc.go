// Package autobahn holds what the Autobahn|Testsuite testee programs share: the echo
// loop that the suite drives.
//
// The programs are in ./server and ./client:
//
//	go run ./internal/autobahn/server -addr 127.0.0.1:9001
//	wstest -m fuzzingclient   # with a spec pointing at ws://127.0.0.1:9001
//
//	wstest -m fuzzingserver   # listening on 127.0.0.1:9001
//	go run ./internal/autobahn/client -url ws://127.0.0.1:9001 -agent duplex
package autobahn

import (
	"context"
	"fmt"

	"github.com/duplex-ws/duplex/ws"
)

// ReadLimit is the largest message the testees accept: the suite's largest is 16 MiB.
const ReadLimit = 64 << 20

// Echo sends every message back unchanged, with its type, until the connection ends, and
// returns the error that ended it.
func Echo(ctx context.Context, c *ws.Conn) error {
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return err
		}
		buf = msg
	}
}

// Compression returns the permessage-deflate options for -compress: "none", "no-takeover"
// or "takeover". Every message is compressed, however small, so that the suite's cases
// 12.* and 13.* exercise the compressor at each of their sizes.
func Compression(flag string) (ws.CompressionOptions, error) {
	o := ws.CompressionOptions{Threshold: -1}
	switch flag {
	case "none":
		o.Mode = ws.CompressionDisabled
	case "no-takeover":
		o.Mode = ws.CompressionNoContextTakeover
	case "takeover":
		o.Mode = ws.CompressionContextTakeover
	default:
		return o, fmt.Errorf("-compress %q: want none, no-takeover or takeover", flag)
	}
	return o, nil
}
