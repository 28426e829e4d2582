// Command duplex is the benchmark server of Duplex's own ws package: /echo sends every
// message back, /broadcast sends every message to every connection there.
//
//	go run ./servers/duplex -addr 127.0.0.1:9001 -compress takeover
package main

import (
	"context"
	"net"
	"net/http"

	"github.com/duplex-ws/duplex/bench/internal/srv"
	"github.com/duplex-ws/duplex/ws"
)

func main() {
	modes := []srv.Compression{srv.CompressNone, srv.CompressNoTakeover, srv.CompressTakeover}
	srv.Main("duplex", modes, serve)
}

func serve(ctx context.Context, ln net.Listener, opts srv.Options) error {
	accept := &ws.AcceptOptions{ConnOptions: ws.ConnOptions{ReadLimit: srv.ReadLimit}}
	switch opts.Compress {
	case srv.CompressNoTakeover:
		accept.Compression.Mode = ws.CompressionNoContextTakeover
	case srv.CompressTakeover:
		accept.Compression.Mode = ws.CompressionContextTakeover
	}
	return srv.ServeHTTP(ctx, ln, echo(accept), broadcast(accept))
}

// echo reads each message into a buffer it reuses and writes it back as one frame. The
// connection is served on a goroutine of its own and the handler returns, so that
// net/http lets go of what it keeps per connection (its bufio buffers, the request, a
// deep stack) for as long as the WebSocket lives.
func echo(accept *ws.AcceptOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, accept)
		if err != nil {
			return
		}
		go echoLoop(c)
	}
}

func echoLoop(c *ws.Conn) {
	defer c.CloseNow()
	ctx := context.Background() // cancellable contexts cost an allocation per call
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return
		}
		buf = msg
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// broadcast prepares each message once, as a ws.PreparedMessage whose frame every
// subscriber's writer then sends as it is (compressed once per window size when
// permessage-deflate is on).
func broadcast(accept *ws.AcceptOptions) http.HandlerFunc {
	var room srv.Broadcast[*ws.PreparedMessage]
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, accept)
		if err != nil {
			return
		}
		go broadcastLoop(&room, c) // as echo: net/http's per-connection state goes
	}
}

func broadcastLoop(room *srv.Broadcast[*ws.PreparedMessage], c *ws.Conn) {
	ctx := context.Background()
	leave := room.Join(
		func(pm *ws.PreparedMessage) error { return c.WritePrepared(ctx, pm) },
		func() { c.CloseNow() })
	defer leave()
	defer c.CloseNow() // first: a writer blocked on a peer that does not read must return
	for {
		typ, msg, err := c.Read(ctx) // a new slice: the prepared message keeps it
		if err != nil {
			return
		}
		pm, err := ws.NewPreparedMessage(typ, msg)
		if err != nil {
			return
		}
		room.Publish(pm)
	}
}
