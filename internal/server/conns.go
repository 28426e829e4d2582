package server

import (
	"net"
	"net/http"
	"sync"

	"github.com/duplex-ws/duplex/ws"
)

// connTable admits WebSocket requests within the connection limits and tracks the
// connections, which http.Server.Shutdown does not do for hijacked ones.
//
// A request holds a slot from admit, before its upgrade, until its handler calls leave;
// handlers counts the handlers holding one, which Shutdown waits for. Once closing is
// set, nothing more is admitted: so no handler is added to the WaitGroup after Shutdown
// starts waiting.
type connTable struct {
	maxConns, maxPerIP int // negative: no limit
	handlers           sync.WaitGroup

	mu      sync.Mutex
	closing bool
	n       int
	perIP   map[string]int
	open    map[*ws.Conn]endpoint
}

func newConnTable(maxConns, maxPerIP int) *connTable {
	return &connTable{
		maxConns: maxConns,
		maxPerIP: maxPerIP,
		perIP:    make(map[string]int),
		open:     make(map[*ws.Conn]endpoint),
	}
}

// admit takes a slot for a connection from ip, or returns why not; the caller must call
// leave(ip) once done with the slot.
func (t *connTable) admit(ip string) (rejection, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closing:
		return rejectShuttingDown, false
	case t.maxConns >= 0 && t.n >= t.maxConns:
		return rejectMaxConnections, false
	case t.maxPerIP >= 0 && t.perIP[ip] >= t.maxPerIP:
		return rejectMaxConnectionsPerIP, false
	}
	t.n++
	t.perIP[ip]++
	t.handlers.Add(1)
	return "", true
}

// leave gives back a slot that admit gave.
func (t *connTable) leave(ip string) {
	t.mu.Lock()
	t.n--
	if t.perIP[ip]--; t.perIP[ip] == 0 {
		delete(t.perIP, ip)
	}
	t.mu.Unlock()
	t.handlers.Done()
}

// add tracks an upgraded connection, and reports whether the server is shutting down, in
// which case the caller must close it: it is tracked all the same, so that a shutdown
// that runs out of time closes it.
func (t *connTable) add(c *ws.Conn, ep endpoint) (closing bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.open[c] = ep
	return t.closing
}

func (t *connTable) remove(c *ws.Conn) {
	t.mu.Lock()
	delete(t.open, c)
	t.mu.Unlock()
}

// close refuses new connections from now on and returns the open ones of endpoint ep.
func (t *connTable) close(ep endpoint) []*ws.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = true
	var conns []*ws.Conn
	for c, e := range t.open {
		if e == ep {
			conns = append(conns, c)
		}
	}
	return conns
}

// closeNow closes every open connection at once, without the closing handshake.
func (t *connTable) closeNow() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.open {
		c.CloseNow()
	}
}

// isClosing reports whether the server is shutting down.
func (t *connTable) isClosing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closing
}

// clientIP returns the IP address of the request's peer, which the per-IP limit counts.
// Headers such as X-Forwarded-For are not trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
