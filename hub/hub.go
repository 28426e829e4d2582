package hub

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Errors that callers branch on.
var (
	// ErrNameTaken is returned by [Hub.Reserve] for a name that a member of the room
	// already has, or holds in reserve.
	ErrNameTaken = errors.New("hub: name already taken in this room")
	// ErrClosed is returned by [Hub.Reserve] and [Member.Join] once [Hub.Close] has been
	// called, and by Join for a member that left before joining.
	ErrClosed = errors.New("hub: closed")
)

// Conn is what the hub needs of a member's connection. *ws.Conn has these methods; a
// wrapper may count or log what goes through them.
//
// Only the member's writer goroutine calls Write and Close. CloseNow may be called from
// another goroutine, at any time, and must make a blocked Write or Close return.
type Conn interface {
	WritePrepared(ctx context.Context, pm *ws.PreparedMessage) error
	Close(code ws.StatusCode, reason string) error
	CloseNow() error
}

// Options configures a hub. Nil means the defaults of every field; the struct is copied by
// [New] and never modified.
type Options struct {
	// QueueSize is how many events may wait for a member's writer, besides its welcome. A
	// member whose queue is full when an event is published is dropped as a slow consumer.
	// Zero means 256.
	QueueSize int
	// WriteTimeout bounds the writing of one event to a member's connection; a member
	// that takes longer is dropped as a slow consumer. Zero means 10 seconds.
	WriteTimeout time.Duration
	// Now returns the time stamped on events. Nil means time.Now.
	Now func() time.Time
	// Logger receives a record for every member removed: at Warn for a slow consumer, at
	// Debug otherwise. Nil means nothing is logged.
	Logger *slog.Logger
}

// Close reasons the hub sends with 1008 and 1001.
const (
	ReasonSlowConsumer = "slow consumer"
	ReasonShutdown     = "server shutting down"
)

// Hub is a set of chat rooms. A room exists while it has members. Make one with [New].
type Hub struct {
	opts    Options
	writers sync.WaitGroup // every member's writer goroutine

	count counters

	mu     sync.Mutex
	rooms  map[string]*room
	live   map[*Member]struct{} // members with a writer
	closed bool
}

// New returns an empty hub.
func New(opts *Options) *Hub {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		opts:  o,
		rooms: make(map[string]*room),
		live:  make(map[*Member]struct{}),
	}
}

// counters are kept without a lock, for Stats.
type counters struct {
	rooms, members atomic.Int64
	slow           atomic.Uint64
}

// Stats is a snapshot of a hub's counters.
type Stats struct {
	Rooms         int    // rooms with at least one member
	Members       int    // members joined, in all rooms
	SlowConsumers uint64 // members dropped as slow consumers since New
}

// Stats returns the hub's counters. It takes no lock.
func (h *Hub) Stats() Stats {
	return Stats{
		Rooms:         int(h.count.rooms.Load()),
		Members:       int(h.count.members.Load()),
		SlowConsumers: h.count.slow.Load(),
	}
}

// Reserve holds name in room for a member about to join, and returns that member. It
// fails with [ErrNameTaken] if a member of the room has the name or holds it in reserve,
// and with [ErrClosed] once the hub is closed. The caller must call [Member.Join] or
// [Member.Leave].
func (h *Hub) Reserve(room, name string) (*Member, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	r := h.rooms[room]
	if r == nil {
		r = newRoom(h, room)
		h.rooms[room] = r
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.names[name]; taken {
		return nil, ErrNameTaken // so the room has a member: r.refs > 0
	}
	m := newMember(h, r, name)
	r.names[name] = m
	r.refs++
	return m, nil
}

// release forgets m once it has left and its writer, if it had one, has ended; the room
// goes when its last member does.
func (h *Hub) release(m *Member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.live, m)
	r := m.room
	if r.refs--; r.refs == 0 && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
}

// Close closes every member's connection with 1001 (going away) and the reason "server
// shutting down", refuses new members, and waits for every member's writer to end. A
// writer in the middle of an event finishes it first, within WriteTimeout, and the
// closing handshake takes at most the connection's close timeout. If ctx ends first,
// Close closes the remaining connections at once (Conn.CloseNow), waits for the writers,
// which then end promptly, and returns ctx's error. Close may be called more than once.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	for _, r := range h.rooms {
		r.mu.Lock()
		for m := range r.joined {
			// Everyone leaves at once: no leave events.
			r.removeLocked(m, ws.StatusGoingAway, ReasonShutdown)
		}
		r.mu.Unlock()
	}
	h.mu.Unlock()

	done := make(chan struct{})
	go func() {
		h.writers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	h.mu.Lock()
	for m := range h.live {
		m.conn.CloseNow()
	}
	h.mu.Unlock()
	<-done
	return ctx.Err()
}
