package hub

import (
	"slices"
	"sync"

	"github.com/duplex-ws/duplex/ws"
)

// room is the members of one room, and the order of its events.
type room struct {
	hub  *Hub
	name string
	refs int // under Hub.mu: members reserved or joined and not yet released

	mu      sync.Mutex
	names   map[string]*Member   // every name held, by a member reserved or joined
	joined  map[*Member]struct{} // members that receive the room's events
	members []string             // names of the joined members, sorted
}

func newRoom(h *Hub, name string) *room {
	return &room{
		hub:    h,
		name:   name,
		names:  make(map[string]*Member),
		joined: make(map[*Member]struct{}),
	}
}

// addLocked makes the reserved member m a member of the room: it queues m's welcome and
// announces it to everyone, m included.
func (r *room) addLocked(m *Member) {
	m.state = stateJoined
	r.joined[m] = struct{}{}
	i, _ := slices.BinarySearch(r.members, m.name)
	r.members = slices.Insert(r.members, i, m.name)
	if len(r.joined) == 1 {
		r.hub.count.rooms.Add(1)
	}
	r.hub.count.members.Add(1)

	now := r.hub.opts.Now()
	m.queue <- encodePresence("welcome", r.name, m.name, r.members, now) // a new queue has room
	r.broadcastLocked(encodePresence("join", r.name, m.name, r.members, now))
}

// removeLocked takes m out of the room and has its writer close the connection with code
// and reason. It reports whether m was a joined member; a member that was only reserved
// gives its name back and is left for the caller to release.
func (r *room) removeLocked(m *Member, code ws.StatusCode, reason string) bool {
	if m.state == stateLeft {
		return false
	}
	wasJoined := m.state == stateJoined
	m.state = stateLeft
	delete(r.names, m.name)
	if !wasJoined {
		return false
	}
	delete(r.joined, m)
	if i, ok := slices.BinarySearch(r.members, m.name); ok {
		r.members = slices.Delete(r.members, i, i+1)
	}
	if len(r.joined) == 0 {
		r.hub.count.rooms.Add(-1)
	}
	r.hub.count.members.Add(-1)
	m.code, m.reason = code, reason
	close(m.gone)
	return true
}

// leaveLocked removes the joined member m and announces its departure to the others.
func (r *room) leaveLocked(m *Member, code ws.StatusCode, reason string) {
	if r.removeLocked(m, code, reason) {
		r.broadcastLocked(encodePresence("leave", r.name, m.name, r.members, r.hub.opts.Now()))
	}
}

// broadcastLocked queues the encoded event msg for every member. A member whose queue is
// full is dropped as a slow consumer, and its departure is queued after msg, so every
// member that stays receives the same events in the same order. The queues share msg,
// which nobody modifies.
func (r *room) broadcastLocked(msg *ws.PreparedMessage) {
	events := []*ws.PreparedMessage{msg}
	var slow []*Member
	for len(events) > 0 {
		msg, events = events[0], events[1:]
		for m := range r.joined {
			select {
			case m.queue <- msg:
			default:
				slow = append(slow, m)
			}
		}
		for _, m := range slow {
			if r.removeLocked(m, ws.StatusPolicyViolation, ReasonSlowConsumer) {
				r.hub.count.slow.Add(1)
				events = append(events, encodePresence("leave", r.name, m.name, r.members, r.hub.opts.Now()))
			}
		}
		slow = slow[:0]
	}
}
