// Package hub relays chat messages among the members of rooms, as docs/chat-protocol.md
// describes: it keeps the rooms and their members, tells every member who joins and who
// leaves, and delivers every event of a room to all of its members in one order.
//
// A member is admitted in two steps, so that a server can refuse a name before it upgrades
// the connection: [Hub.Reserve] holds the name, and [Member.Join] attaches the connection
// once the WebSocket handshake is done:
//
//	m, err := h.Reserve(room, name) // ErrNameTaken: answer 409
//	c, err := ws.Accept(w, r, opts)
//	if err != nil {
//		m.Leave(ws.StatusNormalClosure, "") // gives the name back
//		return
//	}
//	if err := m.Join(c); err != nil { … } // ErrClosed: the hub is shutting down
//	for {
//		_, msg, err := c.Read(ctx)
//		if err != nil { break }
//		m.Publish(string(msg))
//	}
//	m.Leave(ws.StatusNormalClosure, "")
//	<-m.Done() // the connection is closed
//
// # Delivery
//
// Every event is encoded once, as JSON in a [ws.PreparedMessage], and the same message is
// queued for every member of the room, so its frame is built (and compressed) once for all
// of them. Each member has a bounded queue and one writer goroutine, which is the only
// goroutine that writes to its connection; publishing only appends to queues and never
// waits for a connection. A member whose queue is full when an event is published, or
// whose connection takes longer than Options.WriteTimeout to accept one event, is a slow
// consumer: it is removed from the room at once, announced with a leave event, and its
// connection is closed, with 1008 (policy violation) and the reason "slow consumer" where the
// stream still allows a close frame (a peer that stopped reading may never get it), once
// the write in progress, if any, has ended. The other members are never delayed by it.
//
// Events are queued while the room's lock is held, so every member receives the events of
// its room in the same order, and a member's welcome before anything else.
//
// # Concurrency
//
// All methods may be called from any goroutine. A member's writer is started by
// [Member.Join] and owned by the hub: it ends when the member leaves, after closing the
// connection, and [Hub.Close] waits for every writer. The hub starts no other goroutine,
// except one inside Close that waits for the writers and ends with them.
//
// Lock order: Hub.mu, then room.mu. Hub.mu guards the map of rooms, the set of members
// with a writer, each room's reference count and the closed flag; room.mu guards a room's
// members and each member's state, code and reason. Neither is held during network I/O:
// under them, events are encoded and sent to channels that never block.
package hub
