// Command coder is the benchmark server of github.com/coder/websocket: /echo sends every
// message back, /broadcast sends every message to every connection there.
//
//	go run ./servers/coder -addr 127.0.0.1:9003 -compress takeover
package main

import (
	"context"
	"net"
	"net/http"

	"github.com/coder/websocket"
	"github.com/duplex-ws/duplex/bench/internal/srv"
)

func main() {
	modes := []srv.Compression{srv.CompressNone, srv.CompressNoTakeover, srv.CompressTakeover}
	srv.Main("coder", modes, serve)
}

func serve(ctx context.Context, ln net.Listener, opts srv.Options) error {
	accept := &websocket.AcceptOptions{}
	switch opts.Compress {
	case srv.CompressNoTakeover:
		accept.CompressionMode = websocket.CompressionNoContextTakeover
	case srv.CompressTakeover:
		accept.CompressionMode = websocket.CompressionContextTakeover
	}
	return srv.ServeHTTP(ctx, ln, echo(accept), broadcast(accept))
}

// echo reads each message whole with Read and writes it back, as one frame, with Write.
func echo(accept *websocket.AcceptOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, accept)
		if err != nil {
			return // Accept has answered with an HTTP error
		}
		defer c.CloseNow()
		c.SetReadLimit(srv.ReadLimit) // 32 KiB by default
		// Not r.Context(), which the README advises against for a hijacked connection.
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}
}

// message is a message to broadcast. coder/websocket has no prepared messages: each
// subscriber's Write frames it, and compresses it, again.
type message struct {
	typ  websocket.MessageType
	data []byte
}

// broadcast hands each message to every subscriber's writer goroutine, like
// internal/examples/chat's subscribers with their buffered channel, which sends it with
// Write.
func broadcast(accept *websocket.AcceptOptions) http.HandlerFunc {
	var room srv.Broadcast[message]
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, accept)
		if err != nil {
			return
		}
		c.SetReadLimit(srv.ReadLimit)
		ctx := context.Background()
		leave := room.Join(
			func(m message) error { return c.Write(ctx, m.typ, m.data) },
			func() { c.CloseNow() })
		defer leave()
		defer c.CloseNow() // first: a writer blocked on a peer that does not read must return
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			room.Publish(message{typ, msg})
		}
	}
}
