// Command duplex is the benchmark server of Duplex's own ws package: /echo sends every
// message back, /broadcast sends every message to every connection there.
//
//	go run ./servers/duplex -addr 127.0.0.1:9001 -compress takeover
//
// It is written the way ws's documentation recommends for a server with many connections
// (sections Memory and Writing): the handler returns once Accept has succeeded; a
// connection's goroutine, once it has waited a second (WaitReadable) for a message in
// vain, leaves the waiting to ws.Conn.WhenReadable, so an idle connection holds no
// goroutine and no buffer; and replies are queued with Queue, so that a burst of messages
// read together is answered in one write.
package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

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

// linger is how long a connection's goroutine waits for its next message before it
// leaves the waiting to WhenReadable: a busy connection keeps its goroutine, an idle one
// gives it up.
const linger = time.Second

// buffers holds the echo's message buffers between bursts, so that an idle connection
// keeps none.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// echo sends every message back, as one frame of the same type.
func echo(accept *ws.AcceptOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, accept)
		if err != nil {
			return
		}
		e := &echoConn{c: c}
		e.serveFunc = e.serve // bound once: WhenReadable takes it at every wait
		c.WhenReadable(e.serveFunc)
	}
}

type echoConn struct {
	c         *ws.Conn
	serveFunc func()
}

// serve answers the messages that have arrived, then waits for more without a goroutine.
func (e *echoConn) serve() {
	ctx := context.Background() // cancellable contexts cost an allocation per call
	c := e.c
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	for {
		typ, msg, err := c.ReadAppend(ctx, (*buf)[:0]) // sends the queued replies before it waits
		if err != nil {
			c.CloseNow()
			return
		}
		*buf = msg
		if err := c.Queue(ctx, typ, msg); err != nil {
			c.CloseNow()
			return
		}
		if c.Buffered() == 0 && !c.WaitReadable(linger) { // sends the queued replies first
			break
		}
	}
	c.WhenReadable(e.serveFunc)
}

// broadcast prepares each message once, as a ws.PreparedMessage whose frame every
// subscriber's writer then sends as it is (compressed once per window size when
// permessage-deflate is on). A subscriber's writer sends what is waiting for it in one
// write.
func broadcast(accept *ws.AcceptOptions) http.HandlerFunc {
	var room srv.Broadcast[*ws.PreparedMessage]
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, accept)
		if err != nil {
			return
		}
		ctx := context.Background()
		s := &subscriber{c: c, room: &room}
		s.leave = room.JoinBatch(
			func(pm *ws.PreparedMessage, more bool) error {
				if err := c.QueuePrepared(ctx, pm); err != nil || more {
					return err
				}
				return c.Flush(ctx)
			},
			func() { c.CloseNow() })
		s.serveFunc = s.serve
		c.WhenReadable(s.serveFunc)
	}
}

type subscriber struct {
	c         *ws.Conn
	room      *srv.Broadcast[*ws.PreparedMessage]
	leave     func()
	serveFunc func()
}

// serve publishes the messages that have arrived, then waits for more.
func (s *subscriber) serve() {
	ctx := context.Background()
	c := s.c
	for {
		typ, msg, err := c.Read(ctx) // a new slice: the prepared message keeps it
		if err != nil {
			c.CloseNow() // first: a writer blocked on a peer that does not read must return
			s.leave()
			return
		}
		pm, err := ws.NewPreparedMessage(typ, msg)
		if err != nil {
			c.CloseNow()
			s.leave()
			return
		}
		s.room.Publish(pm)
		if c.Buffered() == 0 && !c.WaitReadable(linger) {
			break
		}
	}
	c.WhenReadable(s.serveFunc)
}
