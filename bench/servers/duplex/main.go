// Command duplex is the benchmark server of Duplex's own ws package: /echo sends every
// message back, /broadcast sends every message to every connection there.
//
//	go run ./servers/duplex -addr 127.0.0.1:9001 -compress takeover
//
// It is written the way ws's documentation recommends for a server with many connections
// (sections Memory and Writing): the handler returns once Accept has succeeded; a
// connection's goroutine, once it has waited a second or two (WaitReadable) for a message in
// vain, leaves the waiting to ws.Conn.WhenReadable, so an idle connection holds no
// goroutine and no buffer; replies are queued with Queue, so that a burst of messages read
// together is answered in one write; and a broadcast is written from the publisher's
// goroutine with Conn.TryFlush, a goroutine starting only for a subscriber that falls
// behind.
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

// echo sends every message back, as one frame of the same type.
func echo(accept *ws.AcceptOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, accept)
		if err != nil {
			return
		}
		e := &echoConn{c: c}
		e.serveFunc = e.serve // bound once: WhenReadable takes it at every wait
		e.handleFunc = e.handle
		c.WhenReadable(e.serveFunc)
	}
}

type echoConn struct {
	c          *ws.Conn
	serveFunc  func()
	handleFunc func(ws.MessageType, []byte) error
}

// serve answers the messages that arrive until the connection goes quiet for linger, then
// waits for more without a goroutine.
func (e *echoConn) serve() {
	if err := e.c.Serve(context.Background(), linger, e.handleFunc); err != nil {
		e.c.CloseNow()
		return
	}
	e.c.WhenReadable(e.serveFunc)
}

// handle queues the message's echo, which Serve sends with the others of its burst.
func (e *echoConn) handle(typ ws.MessageType, p []byte) error {
	return e.c.Queue(context.Background(), typ, p) // cancellable contexts cost an allocation per call
}

// broadcast prepares each message once, as a ws.PreparedMessage whose frame every
// subscriber is then sent as it is (compressed once per window size when permessage-deflate
// is on), from the publisher's goroutine: see room.
func broadcast(accept *ws.AcceptOptions) http.HandlerFunc {
	r := &room{}
	return func(w http.ResponseWriter, req *http.Request) {
		c, err := ws.Accept(w, req, accept)
		if err != nil {
			return
		}
		s := &subscriber{c: c, room: r}
		s.backlogFree.L = &s.mu
		s.serveFunc = s.serve
		r.subs.Add(s)
		c.WhenReadable(s.serveFunc)
	}
}

// room is a broadcast's subscribers. A publisher queues each message on every subscriber
// and tries to send it at once (ws.Conn.TryFlush), one system call a subscriber, with no
// goroutine woken: a subscriber that keeps up, nearly every one, costs only that. Messages
// that arrive together are published together, so that each subscriber is sent them in one
// write. A subscriber whose socket is full gets a goroutine, for as long as it is behind,
// which waits in Flush; what is published meanwhile waits in its backlog, and a publisher
// waits, as with srv.Broadcast, once that holds srv.QueueLen messages.
type room struct {
	subs srv.Subscribers[*subscriber]
}

// publish delivers a batch of messages to every subscriber.
func (r *room) publish(batch []*ws.PreparedMessage) {
	for _, s := range r.subs.Snapshot() {
		s.deliver(batch)
	}
}

// maxBatch bounds the messages published together: 64 KiB of them at most, what a
// connection's queue holds, so that each subscriber takes one write.
const maxBatch = 64 << 10

type subscriber struct {
	c         *ws.Conn
	room      *room
	serveFunc func()

	mu          sync.Mutex
	behind      bool                  // a goroutine is flushing: deliveries go to backlog
	backlog     []*ws.PreparedMessage // for that goroutine to send, in order
	backlogFree sync.Cond             // signalled when the backlog empties, or behind ends
}

// deliver sends the batch to the subscriber, or leaves it to the subscriber's goroutine.
func (s *subscriber) deliver(batch []*ws.PreparedMessage) {
	s.mu.Lock()
	for s.behind && len(s.backlog) >= srv.QueueLen {
		s.backlogFree.Wait()
	}
	if s.behind {
		s.backlog = append(s.backlog, batch...)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	ctx := context.Background()
	for _, pm := range batch {
		if s.c.QueuePrepared(ctx, pm) != nil {
			return // closed: its reader's read fails too, and it leaves
		}
	}
	if sent, err := s.c.TryFlush(); err != nil || sent {
		return
	}
	s.mu.Lock()
	if !s.behind {
		s.behind = true
		go s.catchUp()
	}
	s.mu.Unlock()
}

// catchUp sends what is queued, waiting as long as the subscriber needs, then the backlog,
// until nothing is left.
func (s *subscriber) catchUp() {
	ctx := context.Background()
	var batch []*ws.PreparedMessage
	for {
		err := s.c.Flush(ctx)
		s.mu.Lock()
		batch, s.backlog = s.backlog, batch[:0]
		if err != nil || len(batch) == 0 {
			s.behind = false
			s.backlogFree.Broadcast()
			s.mu.Unlock()
			if err != nil {
				s.c.CloseNow()
			}
			return
		}
		s.backlogFree.Broadcast()
		s.mu.Unlock()
		for _, pm := range batch {
			if err := s.c.QueuePrepared(ctx, pm); err != nil {
				break // the Flush that follows reports it
			}
		}
		clear(batch)
	}
}

// serve publishes the messages that have arrived, then waits for more.
func (s *subscriber) serve() {
	ctx := context.Background()
	c := s.c
	var batch []*ws.PreparedMessage
	size := 0
	for {
		typ, msg, err := c.Read(ctx) // a new slice: the prepared message keeps it
		var pm *ws.PreparedMessage
		if err == nil {
			pm, err = ws.NewPreparedMessage(typ, msg)
		}
		if err != nil {
			if len(batch) > 0 {
				s.room.publish(batch) // read before the error: delivered
			}
			break
		}
		batch = append(batch, pm)
		size += len(msg)
		if c.Buffered() > 0 && size < maxBatch {
			continue // another message is here: it goes out with this one
		}
		s.room.publish(batch)
		clear(batch)
		batch, size = batch[:0], 0
		if c.Buffered() == 0 && !c.WaitReadable(linger) {
			c.WhenReadable(s.serveFunc)
			return
		}
	}
	c.CloseNow()
	s.room.subs.Remove(s)
}
