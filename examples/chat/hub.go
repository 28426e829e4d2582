package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// hubOptions configures a hub. The zero value of each field means its default.
type hubOptions struct {
	// QueueSize is how many events may wait for a member's writer; a member whose queue
	// is full when an event is published is dropped, with 1008 "slow consumer". Zero
	// means 64.
	QueueSize int
	// WriteTimeout bounds the sending of one event to a member; a member that takes
	// longer is dropped. Zero means 10 seconds.
	WriteTimeout time.Duration
	// ReadLimit is the largest message, in bytes, that a member may send; a larger one
	// closes its connection with 1009. Zero means 4096.
	ReadLimit int64
}

// A hub is a chat room: every text message a member sends is relayed to all members, its
// sender included, as an event, and so are joins and departures. All members receive the
// same events in the same order.
//
// Publishing never waits for a member: each has a bounded queue drained by its own writer
// goroutine, and a member whose queue is full is dropped.
//
// Goroutines: a member has two, the HTTP handler's, which reads its messages, and its
// writer. Both are counted in running, which Close waits for.
//
// Locking: mu guards members and closed. It is held only for non-blocking work (the
// registry and sends to queues that never wait), never during network I/O.
type hub struct {
	opts    hubOptions
	running sync.WaitGroup

	mu      sync.Mutex
	members map[*member]struct{}
	closed  bool
}

// event is what the room sends to its members, as JSON.
type event struct {
	Type   string `json:"type"` // "join", "message" or "leave"
	Name   string `json:"name"`
	Text   string `json:"text,omitempty"`   // of a message
	Reason string `json:"reason,omitempty"` // why a member left
}

type member struct {
	name  string
	conn  *ws.Conn
	queue chan []byte // encoded events waiting for the writer

	// gone is closed when the member is removed, which tells its writer to close the
	// connection with code and reason; those are set before, under hub.mu.
	gone   chan struct{}
	code   ws.StatusCode
	reason string
}

func newHub(opts *hubOptions) *hub {
	var o hubOptions
	if opts != nil {
		o = *opts
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 4096
	}
	return &hub{opts: o, members: make(map[*member]struct{})}
}

// ServeHTTP admits a member named by the query parameter name and relays its messages
// until it leaves or is dropped.
func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if !validName(name) {
		http.Error(w, "chat: ?name= must be 1 to 32 letters, digits, '-', '_' or '.'", http.StatusBadRequest)
		return
	}
	if !h.enter() {
		http.Error(w, "chat: the server is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.running.Done()
	conn, err := ws.Accept(w, r, &ws.AcceptOptions{
		ConnOptions: ws.ConnOptions{ReadLimit: h.opts.ReadLimit},
	})
	if err != nil {
		return // Accept has answered with an HTTP error
	}
	m := &member{
		name:  name,
		conn:  conn,
		queue: make(chan []byte, h.opts.QueueSize),
		gone:  make(chan struct{}),
	}
	if code, reason := h.join(m); code != 0 {
		conn.Close(code, reason)
		return
	}
	h.running.Go(func() { h.write(m) })
	h.read(m)
}

// enter counts a handler in running, unless the hub is closed.
func (h *hub) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.running.Add(1)
	return true
}

// join adds m to the room and announces it, or returns the code and reason to close m's
// connection with.
func (h *hub) join(m *member) (ws.StatusCode, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ws.StatusGoingAway, "server shutting down"
	}
	for other := range h.members {
		if other.name == m.name {
			return ws.StatusPolicyViolation, "name already taken"
		}
	}
	h.members[m] = struct{}{}
	h.broadcastLocked(event{Type: "join", Name: m.name})
	return 0, ""
}

// read publishes m's messages until its connection ends, then removes it.
func (h *hub) read(m *member) {
	for {
		typ, msg, err := m.conn.Read(context.Background())
		if err != nil {
			h.remove(m, ws.StatusNormalClosure, leaveReason(err))
			return
		}
		if typ != ws.MessageText {
			h.remove(m, ws.StatusUnsupportedData, "text messages only")
			return
		}
		h.publish(m, string(msg))
	}
}

// leaveReason says why a member's connection ended with err, for its departure's
// announcement.
func leaveReason(err error) string {
	var perr *ws.ProtocolError
	switch {
	case ws.CloseStatus(err) == ws.StatusNormalClosure, ws.CloseStatus(err) == ws.StatusGoingAway:
		return "left"
	case errors.As(err, &perr):
		return perr.Code.String() // "message too big", say
	}
	return "connection lost"
}

// write sends m's queue to its connection until m is removed, then closes the connection
// with the code and reason of the removal.
func (h *hub) write(m *member) {
	for {
		// A removed member gets nothing more, even if events are queued.
		select {
		case <-m.gone:
			m.conn.Close(m.code, m.reason)
			return
		default:
		}
		select {
		case <-m.gone:
		case msg := <-m.queue:
			ctx, cancel := context.WithTimeout(context.Background(), h.opts.WriteTimeout)
			err := m.conn.Write(ctx, ws.MessageText, msg)
			cancel()
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				h.remove(m, ws.StatusPolicyViolation, "slow consumer")
			case err != nil:
				h.remove(m, ws.StatusGoingAway, "connection lost")
			}
		}
	}
}

// publish relays a message from m, unless m has been removed meanwhile: its connection
// is closing, and what it still sends is read but not relayed.
func (h *hub) publish(m *member, text string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.members[m]; ok {
		h.broadcastLocked(event{Type: "message", Name: m.name, Text: text})
	}
}

// broadcastLocked queues ev for every member. A member whose queue is full is dropped and
// its departure queued after ev, so every member receives the same events in the same
// order.
func (h *hub) broadcastLocked(ev event) {
	events := []event{ev}
	for len(events) > 0 {
		// Encoded once for all members: the queues share the bytes, read-only.
		msg, _ := json.Marshal(events[0]) // cannot fail: the event holds only strings
		events = events[1:]
		for m := range h.members {
			select {
			case m.queue <- msg:
			default:
				h.removeLocked(m, ws.StatusPolicyViolation, "slow consumer")
				events = append(events, event{Type: "leave", Name: m.name, Reason: "slow consumer"})
			}
		}
	}
}

// remove takes m out of the room, if it is still in, and announces its departure.
func (h *hub) remove(m *member, code ws.StatusCode, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.removeLocked(m, code, reason) {
		h.broadcastLocked(event{Type: "leave", Name: m.name, Reason: reason})
	}
}

// removeLocked takes m out of the room and has its writer close the connection with code
// and reason. It reports whether m was in the room.
func (h *hub) removeLocked(m *member, code ws.StatusCode, reason string) bool {
	if _, ok := h.members[m]; !ok {
		return false
	}
	delete(h.members, m)
	m.code, m.reason = code, reason
	close(m.gone)
	return true
}

// Close closes every member's connection with 1001 (going away), refuses new members, and
// returns once every goroutine of the room has ended. A writer in the middle of an event
// finishes it first, within WriteTimeout.
func (h *hub) Close() {
	h.mu.Lock()
	h.closed = true
	for m := range h.members {
		h.removeLocked(m, ws.StatusGoingAway, "server shutting down")
	}
	h.mu.Unlock()
	h.running.Wait()
}

// validName reports whether name is 1 to 32 letters, digits, '-', '_' or '.'.
func validName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
