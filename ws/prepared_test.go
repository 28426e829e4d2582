package ws_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// preparedServer accepts connections with the given compression options and hands each
// server-side Conn to conns.
func preparedServer(t *testing.T, copts ws.CompressionOptions) (url string, conns <-chan *ws.Conn) {
	t.Helper()
	ch := make(chan *ws.Conn, 16)
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{Compression: copts})
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		ch <- c
		// Read so that close frames are handled; the test writes.
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return srv.URL, ch
}

// preparedMessages are the messages the prepared-message tests send: empty, short, and
// compressible at two sizes, one over the 64 KiB write buffer.
var preparedMessages = []string{
	"",
	"short",
	strings.Repeat(`{"type":"message","room":"lobby","from":"ada","text":"hello"} `, 40),
	strings.Repeat("κόσμε websocket ", 5000),
}

// TestWritePrepared broadcasts prepared messages to subscribers in every compression mode
// and window size, then writes an ordinary message: each subscriber must read every
// message intact, which, with context takeover, shows the server's compression history
// kept in step with what the subscriber decompressed.
func TestWritePrepared(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, mode := range []ws.CompressionMode{ws.CompressionDisabled, ws.CompressionNoContextTakeover, ws.CompressionContextTakeover} {
		for _, bits := range []int{8, 9, 15} {
			t.Run(fmt.Sprintf("%v/w%d", mode, bits), func(t *testing.T) {
				copts := ws.CompressionOptions{Mode: mode, ServerMaxWindowBits: bits, ClientMaxWindowBits: bits}
				url, conns := preparedServer(t, copts)
				const subscribers = 3
				var clients, servers []*ws.Conn
				for range subscribers {
					c, _, err := ws.Dial(ctx, url, &ws.DialOptions{Compression: copts})
					if err != nil {
						t.Fatal(err)
					}
					defer c.CloseNow()
					clients = append(clients, c)
					servers = append(servers, <-conns)
				}
				for _, m := range preparedMessages {
					pm, err := ws.NewPreparedMessage(ws.MessageText, []byte(m))
					if err != nil {
						t.Fatal(err)
					}
					for _, s := range servers {
						if err := s.WritePrepared(ctx, pm); err != nil {
							t.Fatal(err)
						}
					}
					// An ordinary message after each prepared one.
					for _, s := range servers {
						if err := s.Write(ctx, ws.MessageText, []byte(m+" again")); err != nil {
							t.Fatal(err)
						}
					}
					for i, c := range clients {
						for _, want := range []string{m, m + " again"} {
							typ, got, err := c.Read(ctx)
							if err != nil || typ != ws.MessageText || string(got) != want {
								t.Fatalf("subscriber %d: got %v %d bytes %v, want %d bytes", i, typ, len(got), err, len(want))
							}
						}
					}
				}
				for _, c := range clients {
					c.Close(ws.StatusNormalClosure, "")
				}
			})
		}
	}
}

// TestWritePreparedClient checks that a client, which masks every frame, writes a prepared
// message as Write would.
func TestWritePreparedClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			c.Write(ctx, typ, msg)
		}
	}))
	defer srv.Close()
	c, _, err := ws.Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	pm, _ := ws.NewPreparedMessage(ws.MessageBinary, []byte{1, 2, 3})
	if err := c.WritePrepared(ctx, pm); err != nil {
		t.Fatal(err)
	}
	if typ, got, err := c.Read(ctx); err != nil || typ != ws.MessageBinary || !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("got %v %v %v", typ, got, err)
	}
	if _, err := ws.NewPreparedMessage(ws.MessageType(9), nil); err == nil {
		t.Error("NewPreparedMessage accepted message type 9")
	}
	c.Close(ws.StatusNormalClosure, "")
}

// TestWritePreparedClientCompressed checks a client's prepared messages in every
// compression mode and window size: compressed once and masked by each connection with a
// key of its own (RFC 6455 §5.3), written and queued, each followed by an ordinary
// message. The server must read every message intact, which, with context takeover, shows
// the client's compression history kept in step with what the server decompressed.
func TestWritePreparedClientCompressed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, mode := range []ws.CompressionMode{ws.CompressionDisabled, ws.CompressionNoContextTakeover, ws.CompressionContextTakeover} {
		for _, bits := range []int{8, 15} {
			t.Run(fmt.Sprintf("%v/w%d", mode, bits), func(t *testing.T) {
				copts := ws.CompressionOptions{Mode: mode, ServerMaxWindowBits: bits, ClientMaxWindowBits: bits}
				url, conns := preparedServerEcho(t, copts)
				var clients []*ws.Conn
				var read []chan string
				for range 2 {
					c, _, err := ws.Dial(ctx, url, &ws.DialOptions{Compression: copts})
					if err != nil {
						t.Fatal(err)
					}
					defer c.CloseNow()
					clients = append(clients, c)
					read = append(read, <-conns)
				}
				for _, m := range preparedMessages {
					pm, err := ws.NewPreparedMessage(ws.MessageText, []byte(m))
					if err != nil {
						t.Fatal(err)
					}
					for i, c := range clients {
						if i == 0 {
							err = c.WritePrepared(ctx, pm)
						} else if err = c.QueuePrepared(ctx, pm); err == nil {
							err = c.Flush(ctx)
						}
						if err != nil {
							t.Fatal(err)
						}
						if err := c.Write(ctx, ws.MessageText, []byte(m+" again")); err != nil {
							t.Fatal(err)
						}
					}
					for i := range clients {
						for _, want := range []string{m, m + " again"} {
							if got := <-read[i]; got != want {
								t.Fatalf("from client %d, the server read %d bytes, want %d", i, len(got), len(want))
							}
						}
					}
				}
				for _, c := range clients {
					c.Close(ws.StatusNormalClosure, "")
				}
			})
		}
	}
}

// preparedServerEcho accepts connections with the given compression options and, for
// each, in the order they open, sends to conns a channel of what it reads: every text
// message, or the error that ends its reads.
func preparedServerEcho(t *testing.T, copts ws.CompressionOptions) (url string, conns <-chan chan string) {
	t.Helper()
	ch := make(chan chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{Compression: copts})
		if err != nil {
			return
		}
		defer c.CloseNow()
		got := make(chan string, 64)
		ch <- got
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				if ws.CloseStatus(err) != ws.StatusNormalClosure {
					got <- err.Error()
				}
				return
			}
			got <- string(msg)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

// BenchmarkBroadcast writes one 256-byte message to 100 server connections, prepared once
// or written to each, with and without compression. The connections write to a sink.
func BenchmarkBroadcast(b *testing.B) {
	msg := []byte(strings.Repeat(`{"type":"message","text":"hello, room"} `, 7)[:256])
	for _, mode := range []ws.CompressionMode{ws.CompressionDisabled, ws.CompressionNoContextTakeover} {
		conns := make([]*ws.Conn, 100)
		for i := range conns {
			conns[i] = ws.NewCompressedConnForBench(sinkConn{}, mode)
		}
		b.Run(fmt.Sprintf("%v/prepared", mode), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg) * len(conns)))
			for b.Loop() {
				pm, _ := ws.NewPreparedMessage(ws.MessageText, msg)
				for _, c := range conns {
					c.WritePrepared(context.Background(), pm)
				}
			}
		})
		b.Run(fmt.Sprintf("%v/write-each", mode), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg) * len(conns)))
			for b.Loop() {
				for _, c := range conns {
					c.Write(context.Background(), ws.MessageText, msg)
				}
			}
		})
	}
}

// sinkConn is a net.Conn that discards what is written and never has anything to read.
type sinkConn struct{ net.Conn }

func (sinkConn) Write(p []byte) (int, error)      { return len(p), nil }
func (sinkConn) Read(p []byte) (int, error)       { return 0, io.EOF }
func (sinkConn) Close() error                     { return nil }
func (sinkConn) SetReadDeadline(time.Time) error  { return nil }
func (sinkConn) SetWriteDeadline(time.Time) error { return nil }
func (sinkConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
