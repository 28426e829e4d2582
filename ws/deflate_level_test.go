package ws_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// TestDeflateLevel echoes compressible and random messages at levels 1, 4 and 9, with and
// without context takeover, between two Duplex endpoints: every level must round-trip.
func TestDeflateLevel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 70_000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	text := []byte(strings.Repeat(`{"type":"message","room":"lobby","text":"κόσμε"} `, 2000))
	for _, mode := range []ws.CompressionMode{ws.CompressionNoContextTakeover, ws.CompressionContextTakeover} {
		for _, level := range []int{1, 4, 9} {
			t.Run(fmt.Sprintf("%v/level%d", mode, level), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				copts := ws.CompressionOptions{Mode: mode, Level: level}
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					c, err := ws.Accept(w, req, &ws.AcceptOptions{Compression: copts})
					if err != nil {
						return
					}
					defer c.CloseNow()
					for {
						typ, msg, err := c.Read(ctx)
						if err != nil {
							return
						}
						if c.Write(ctx, typ, msg) != nil {
							return
						}
					}
				}))
				defer srv.Close()
				c, _, err := ws.Dial(ctx, srv.URL, &ws.DialOptions{Compression: copts})
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				for _, m := range []struct {
					typ ws.MessageType
					p   []byte
				}{{ws.MessageText, text}, {ws.MessageBinary, random}, {ws.MessageText, text[:500]}, {ws.MessageText, text}} {
					if err := c.Write(ctx, m.typ, m.p); err != nil {
						t.Fatal(err)
					}
					typ, got, err := c.Read(ctx)
					if err != nil || typ != m.typ || !bytes.Equal(got, m.p) {
						t.Fatalf("echo of %d bytes: %v %d bytes %v", len(m.p), typ, len(got), err)
					}
				}
				c.Close(ws.StatusNormalClosure, "")
			})
		}
	}
}
