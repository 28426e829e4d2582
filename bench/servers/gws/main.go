// Command gws is the benchmark server of github.com/lxzan/gws: /echo sends every message
// back, /broadcast sends every message to every connection there.
//
//	go run ./servers/gws -addr 127.0.0.1:9004 -compress takeover
package main

import (
	"bytes"
	"context"
	"net"
	"net/http"

	"github.com/duplex-ws/duplex/bench/internal/srv"
	"github.com/lxzan/gws"
)

func main() {
	modes := []srv.Compression{srv.CompressNone, srv.CompressNoTakeover, srv.CompressTakeover}
	srv.Main("gws", modes, serve)
}

func serve(ctx context.Context, ln net.Listener, opts srv.Options) error {
	return srv.ServeHTTP(ctx, ln, handler(&echo{}, opts), handler(&broadcast{}, opts))
}

// handler upgrades requests for an event handler, as the README's "Best Practice" does:
// each connection's ReadLoop on a goroutine of its own, which calls the handler's
// OnMessage for one message after the other (ParallelEnabled is off).
func handler(events gws.Event, opts srv.Options) http.HandlerFunc {
	u := gws.NewUpgrader(events, &gws.ServerOption{
		ReadMaxPayloadSize:  srv.ReadLimit,
		WriteMaxPayloadSize: srv.ReadLimit,
		CheckUtf8Enabled:    true, // as examples/echo; off by default
		PermessageDeflate: gws.PermessageDeflate{
			Enabled:               opts.Compress != srv.CompressNone,
			ServerContextTakeover: opts.Compress == srv.CompressTakeover,
			ClientContextTakeover: opts.Compress == srv.CompressTakeover,
			// 15-bit windows, as the other servers agree to: with context takeover gws
			// asks for 12 unless told otherwise.
			ServerMaxWindowBits: 15,
			ClientMaxWindowBits: 15,
		},
	})
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		go c.ReadLoop() // returning frees the request's resources (README, "Attention")
	}
}

// pinger answers pings with their payload: gws.BuiltinEventHandler's pong carries none.
type pinger struct{ gws.BuiltinEventHandler }

func (pinger) OnPing(c *gws.Conn, payload []byte) { c.WritePong(payload) }

// echo is examples/echo: WriteMessage from OnMessage.
type echo struct{ pinger }

func (*echo) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.WriteMessage(m.Opcode, m.Bytes())
}

// broadcast sends each message with a gws.Broadcaster, as the README's "Broadcast"
// section does: the frame is built (and compressed) once, then queued on each
// subscriber's own write queue, which gws drains on a goroutine of its own.
type broadcast struct {
	pinger
	subs srv.Subscribers[*gws.Conn]
}

func (b *broadcast) OnOpen(c *gws.Conn)             { b.subs.Add(c) }
func (b *broadcast) OnClose(c *gws.Conn, err error) { b.subs.Remove(c) }

func (b *broadcast) OnMessage(c *gws.Conn, m *gws.Message) {
	// The broadcaster keeps the payload until every queued write is done, but m's buffer
	// goes back to gws's pool on Close.
	payload := bytes.Clone(m.Bytes())
	op := m.Opcode
	m.Close()
	br := gws.NewBroadcaster(op, payload)
	defer br.Close()
	for _, s := range b.subs.Snapshot() {
		br.Broadcast(s)
	}
}
