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

	"github.com/duplex-ws/duplex/ws"
)

func TestDeflateSmoke(t *testing.T) {
	for _, mode := range []ws.CompressionMode{ws.CompressionNoContextTakeover, ws.CompressionContextTakeover} {
		for _, bits := range []int{8, 9, 15} {
			t.Run(fmt.Sprintf("%v/%d", mode, bits), func(t *testing.T) {
				copts := ws.CompressionOptions{Mode: mode, ServerMaxWindowBits: bits, ClientMaxWindowBits: bits}
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c, err := ws.Accept(w, r, &ws.AcceptOptions{Compression: copts})
					if err != nil {
						return
					}
					defer c.CloseNow()
					for {
						typ, msg, err := c.Read(context.Background())
						if err != nil {
							return
						}
						if err := c.Write(context.Background(), typ, msg); err != nil {
							return
						}
					}
				}))
				defer srv.Close()
				ctx := context.Background()
				c, resp, err := ws.Dial(ctx, srv.URL, &ws.DialOptions{Compression: copts})
				if err != nil {
					t.Fatal(err)
				}
				t.Log(resp.Header.Get("Sec-WebSocket-Extensions"))
				r := rand.New(rand.NewPCG(1, 2))
				for _, size := range []int{0, 1, 127, 128, 1000, 65536, 300000} {
					for _, kind := range []string{"text", "random"} {
						var msg []byte
						if kind == "text" {
							msg = []byte(strings.Repeat("hello websocket κόσμε ", size/20+1)[:size])
						} else {
							msg = make([]byte, size)
							for i := range msg {
								msg[i] = byte(r.Uint32())
							}
						}
						typ := ws.MessageBinary
						if kind == "text" && size > 0 {
							// cut at rune boundary
							for !utf8Valid(msg) {
								msg = msg[:len(msg)-1]
							}
							typ = ws.MessageText
						}
						for range 3 {
							if err := c.Write(ctx, typ, msg); err != nil {
								t.Fatal(err)
							}
							gt, got, err := c.Read(ctx)
							if err != nil || gt != typ || !bytes.Equal(got, msg) {
								t.Fatalf("%s %d: %v %v %d", kind, size, err, gt, len(got))
							}
						}
					}
				}
				if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }
