package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestServerEchoes starts the testee and checks that it echoes text and binary messages,
// including one larger than the library's default read limit, as the suite's 9.* cases need.
func TestServerEchoes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var stderr bytes.Buffer
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- run(runCtx, []string{"-addr", "127.0.0.1:0"}, &stderr, ready) }()
	addr := <-ready

	c, _, err := ws.Dial(ctx, "ws://"+addr.String()+"/any/path", &ws.DialOptions{ConnOptions: ws.ConnOptions{ReadLimit: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0xAB}, 40<<20)
	for _, m := range []struct {
		typ ws.MessageType
		p   []byte
	}{{ws.MessageText, []byte("Hello")}, {ws.MessageBinary, nil}, {ws.MessageBinary, big}} {
		if err := c.Write(ctx, m.typ, m.p); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.p) {
			t.Fatalf("echo of %d-byte %v: got %v, %d bytes, %v", len(m.p), m.typ, typ, len(got), err)
		}
	}
	if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "autobahn testee listening") {
		t.Errorf("log: %s", stderr.String())
	}
}

// autobahnOffers are the Sec-WebSocket-Extensions offers of the suite's cases 12.* and
// 13.* (autobahntestsuite case12_x_x.py: PerMessageDeflateOffer's defaults accept no
// context takeover and window bits, and cases 13.2-13.7 request the server's).
var autobahnOffers = []string{
	"permessage-deflate; client_no_context_takeover; client_max_window_bits",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=15",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, " +
		"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, " +
		"permessage-deflate; client_no_context_takeover; client_max_window_bits",
}

// startServer runs the testee with args until the test ends, and returns its address.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	ctx, stop := context.WithCancel(context.Background())
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard, ready) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		stop()
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return addr.String()
}

// TestServerAcceptsAutobahnOffers sends the suite's offers in raw handshakes: with each
// -compress mode the server accepts the first of them (RFC 7692 §5.1), repeating what it
// must (server_no_context_takeover, server_max_window_bits, §7.1.1.1, §7.1.2.1); with
// "none" it declines, and the handshake still succeeds.
func TestServerAcceptsAutobahnOffers(t *testing.T) {
	for _, mode := range []string{"none", "no-takeover", "takeover"} {
		t.Run(mode, func(t *testing.T) {
			addr := startServer(t, "-compress", mode)
			for _, offer := range autobahnOffers {
				first, _, _ := strings.Cut(offer, ", ")
				want := ""
				if mode != "none" {
					want = "permessage-deflate"
					if mode == "no-takeover" || strings.Contains(first, "server_no_context_takeover") {
						want += "; server_no_context_takeover"
					}
					want += "; client_no_context_takeover"
					if _, bits, ok := strings.Cut(first, "server_max_window_bits="); ok {
						want += "; server_max_window_bits=" + bits
					}
				}
				if got := rawHandshake(t, addr, offer); got != want {
					t.Errorf("offer %q: answer %q; want %q", offer, got, want)
				}
			}
		})
	}
	if err := run(context.Background(), []string{"-compress", "gzip"}, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("-compress gzip: %v", err)
	}
}

// rawHandshake opens a connection with the offer and returns the 101 response's
// Sec-WebSocket-Extensions.
func rawHandshake(t *testing.T, addr, offer string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET /runCase HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: %s\r\n\r\n", addr, offer)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("offer %q: status %d", offer, resp.StatusCode)
	}
	return resp.Header.Get("Sec-WebSocket-Extensions")
}

// TestServerEchoesCompressed echoes compressible messages of the suite's sizes, from 16
// bytes to 128 KiB, to clients with and without context takeover and with 8 and 15 window
// bits, under each -compress mode, and checks that the server's echoes were compressed
// (RSV1, RFC 7692 §6) exactly when compression was agreed.
func TestServerEchoesCompressed(t *testing.T) {
	for _, mode := range []string{"none", "no-takeover", "takeover"} {
		t.Run(mode, func(t *testing.T) {
			addr := startServer(t, "-compress", mode)
			for _, copts := range []ws.CompressionOptions{
				{Mode: ws.CompressionContextTakeover},
				{Mode: ws.CompressionNoContextTakeover},
				{Mode: ws.CompressionContextTakeover, ServerMaxWindowBits: 8, ClientMaxWindowBits: 8},
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				tap := &rsvTap{}
				c, resp, err := ws.Dial(ctx, "ws://"+addr+"/", &ws.DialOptions{
					Compression: copts,
					NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
						var d net.Dialer
						nc, err := d.DialContext(ctx, network, addr)
						return &rsvTapConn{nc, tap}, err
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				agreed := resp.Header.Get("Sec-WebSocket-Extensions")
				if (agreed != "") != (mode != "none") {
					t.Fatalf("%+v: agreed %q", copts, agreed)
				}
				for _, n := range []int{16, 64, 256, 1024, 4096, 65536, 131072} {
					msg := []byte(strings.Repeat(`{"id":1,"name":"duplex","tags":["a","b"]},`, n/40+1)[:n])
					for _, typ := range []ws.MessageType{ws.MessageText, ws.MessageBinary} {
						if err := c.Write(ctx, typ, msg); err != nil {
							t.Fatal(err)
						}
						gt, got, err := c.Read(ctx)
						if err != nil || gt != typ || !bytes.Equal(got, msg) {
							t.Fatalf("%+v: echo of %d bytes: %v, %d bytes, %v", copts, n, gt, len(got), err)
						}
					}
				}
				if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
					t.Fatal(err)
				}
				compressed, plain := tap.counts()
				if compressed+plain != 14 || mode == "none" && compressed > 0 || mode != "none" && plain > 0 {
					t.Errorf("%+v: %d compressed and %d uncompressed echoes", copts, compressed, plain)
				}
			}
		})
	}
}

// rsvTap counts the data messages a server sent, compressed (RSV1) or not, in the bytes a
// client read: an HTTP response, then unmasked frames.
type rsvTap struct {
	mu                sync.Mutex
	buf               []byte
	compressed, plain int
}

func (t *rsvTap) counts() (compressed, plain int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		b = b[i+4:]
	}
	first := true
	for len(b) >= 2 {
		n, hdr := int(b[1]&0x7f), 2
		switch n {
		case 126:
			n, hdr = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, hdr = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if op := b[0] & 0x0f; op < 8 {
			if first {
				if b[0]&0x40 != 0 {
					compressed++
				} else {
					plain++
				}
			}
			first = b[0]&0x80 != 0
		}
		b = b[min(len(b), hdr+n):]
	}
	return compressed, plain
}

type rsvTapConn struct {
	net.Conn
	tap *rsvTap
}

func (c *rsvTapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tap.mu.Lock()
	c.tap.buf = append(c.tap.buf, p[:n]...)
	c.tap.mu.Unlock()
	return n, err
}
