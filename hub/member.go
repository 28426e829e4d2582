package hub

import (
	"context"
	"log/slog"

	"github.com/duplex-ws/duplex/internal/writetimer"
	"github.com/duplex-ws/duplex/ws"
)

// Member is a member of a room, made by [Hub.Reserve].
type Member struct {
	hub  *Hub
	room *room
	name string

	queue chan *ws.PreparedMessage // encoded events waiting for the writer
	gone  chan struct{}            // closed when the member is removed from the room
	done  chan struct{}            // closed when the member has left and its connection is closed

	conn Conn // set by Join, before the writer starts

	// Under room.mu. code and reason are set before gone is closed, and read by the
	// writer after.
	state  memberState
	code   ws.StatusCode
	reason string
}

type memberState int

const (
	stateReserved memberState = iota // holds its name; not yet joined
	stateJoined                      // receives the room's events
	stateLeft                        // removed from the room
)

func newMember(h *Hub, r *room, name string) *Member {
	return &Member{
		hub:   h,
		room:  r,
		name:  name,
		queue: make(chan *ws.PreparedMessage, h.opts.QueueSize+1), // and the welcome
		gone:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// Join attaches c to the reserved member m and makes it a member of its room: m receives
// a welcome with the room's members, then every event of the room, starting with its own
// join, which every member receives. From now on, only m's writer writes to c, until it
// closes c when m leaves. Join fails with [ErrClosed] if the hub is closed or m has
// already left; the caller then closes c itself.
func (m *Member) Join(c Conn) error {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.state != stateReserved {
		return ErrClosed
	}
	if h.closed {
		r.removeLocked(m, ws.StatusGoingAway, ReasonShutdown)
		m.releaseLocked()
		return ErrClosed
	}
	m.conn = c
	r.addLocked(m)
	h.live[m] = struct{}{}
	h.writers.Go(m.write)
	return nil
}

// releaseLocked releases a member that never had a writer; h.mu is held.
func (m *Member) releaseLocked() {
	r := m.room
	if r.refs--; r.refs == 0 && m.hub.rooms[r.name] == r {
		delete(m.hub.rooms, r.name)
	}
	close(m.done)
}

// Publish sends text from m to every member of its room, m included, as a message event.
// It never waits for a connection. Nothing is sent if m is not (or no longer) a member.
func (m *Member) Publish(text string) {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.state != stateJoined {
		return
	}
	r.broadcastLocked(encodeMessage(r.name, m.name, text, m.hub.opts.Now()))
}

// SendError sends an error event to m alone. It never waits for the connection: if m's
// queue is full, m is dropped as a slow consumer.
func (m *Member) SendError(text string) {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.state != stateJoined {
		return
	}
	select {
	case m.queue <- encodeError(text, m.hub.opts.Now()):
	default:
		m.hub.count.slow.Add(1)
		r.leaveLocked(m, ws.StatusPolicyViolation, ReasonSlowConsumer)
	}
}

// Leave removes m from its room, announces its departure to the others, and has its
// writer close the connection with code and reason (which the peer does not see if it
// closed the connection first). A member that was only reserved gives its name back.
// Leave may be called more than once, and after the hub removed m; it does not wait for
// the connection to close: [Member.Done] does.
func (m *Member) Leave(code ws.StatusCode, reason string) {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.state == stateReserved {
		r.removeLocked(m, code, reason)
		m.releaseLocked()
		return
	}
	r.leaveLocked(m, code, reason)
}

// Done returns a channel that is closed once m has left and, if it had joined, its
// connection has been closed.
func (m *Member) Done() <-chan struct{} { return m.done }

// write is m's writer: it sends m's queue to its connection until m is removed, then closes
// the connection with the code and reason of the removal.
func (m *Member) write() {
	h := m.hub
	wt := writetimer.New(h.opts.WriteTimeout) // no context and timer per message
	defer func() {
		wt.Stop()
		h.release(m)
		close(m.done)
	}()
	for {
		// A removed member gets nothing more, even if events are queued.
		select {
		case <-m.gone:
			m.close()
			return
		default:
		}
		select {
		case <-m.gone:
		case msg := <-m.queue:
			err := m.conn.WritePrepared(wt.Start(), msg)
			switch {
			case wt.Expired():
				m.drop()
			case err != nil:
				m.Leave(ws.StatusAbnormalClosure, "connection lost")
			}
		}
	}
}

// drop removes m as a slow consumer, after a write took longer than WriteTimeout.
func (m *Member) drop() {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.state == stateJoined {
		m.hub.count.slow.Add(1)
		r.leaveLocked(m, ws.StatusPolicyViolation, ReasonSlowConsumer)
	}
}

// close closes m's connection with the code and reason of its removal, and logs why.
func (m *Member) close() {
	level := slog.LevelDebug
	if m.reason == ReasonSlowConsumer {
		level = slog.LevelWarn
	}
	m.hub.opts.Logger.Log(context.Background(), level, "hub: member removed",
		"room", m.room.name, "name", m.name, "code", int(m.code), "reason", m.reason)
	if m.code != ws.StatusAbnormalClosure { // 1006 is never sent: the connection is lost
		m.conn.Close(m.code, m.reason)
	}
	m.conn.CloseNow() // in case Close could not close it
}
