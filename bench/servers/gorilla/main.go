// Command gorilla is the benchmark server of github.com/gorilla/websocket: /echo sends
// every message back, /broadcast sends every message to every connection there. It
// compresses only without context takeover, the one mode gorilla/websocket implements.
//
//	go run ./servers/gorilla -addr 127.0.0.1:9002 -compress no-takeover
package main

import (
	"context"
	"net"
	"net/http"

	"github.com/duplex-ws/duplex/bench/internal/srv"
	"github.com/gorilla/websocket"
)

func main() {
	srv.Main("gorilla", []srv.Compression{srv.CompressNone, srv.CompressNoTakeover}, serve)
}

func serve(ctx context.Context, ln net.Listener, opts srv.Options) error {
	// Zero buffer sizes reuse the HTTP server's 4 KiB buffers (doc.go, "Buffers").
	u := &websocket.Upgrader{EnableCompression: opts.Compress == srv.CompressNoTakeover}
	return srv.ServeHTTP(ctx, ln, echo(u), broadcast(u))
}

// echo is examples/echo/server.go: ReadMessage, then WriteMessage with the same type.
func echo(u *websocket.Upgrader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		defer c.Close()
		c.SetReadLimit(srv.ReadLimit)
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}
}

// broadcast encodes each message once, as a websocket.PreparedMessage, which each
// subscriber's writer goroutine (gorilla allows one writer at a time, as in
// examples/chat's writePump) sends with WritePreparedMessage.
func broadcast(u *websocket.Upgrader) http.HandlerFunc {
	var room srv.Broadcast[*websocket.PreparedMessage]
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(srv.ReadLimit)
		leave := room.Join(c.WritePreparedMessage, func() { c.Close() })
		defer leave()
		defer c.Close() // first: a writer blocked on a peer that does not read must return
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			pm, err := websocket.NewPreparedMessage(mt, msg)
			if err != nil {
				return
			}
			room.Publish(pm)
		}
	}
}
