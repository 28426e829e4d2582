package hub_test

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// fakeConn is a hub.Conn that records what the hub writes. A stuck fakeConn is a peer that
// reads nothing: its writes block until their context ends or the connection is closed.
// A fakeConn whose Close hangs is a peer that never answers the closing handshake.
type fakeConn struct {
	stuck     bool
	closeHang bool

	mu          sync.Mutex
	written     [][]byte
	closeCode   ws.StatusCode // of the Close call, 0 if none
	closeReason string

	closeOnce sync.Once
	closed    chan struct{}
}

func newFakeConn() *fakeConn { return &fakeConn{closed: make(chan struct{})} }

func (c *fakeConn) WritePrepared(ctx context.Context, pm *ws.PreparedMessage) error {
	typ, p := pm.Type(), pm.Data()
	if typ != ws.MessageText {
		panic("hub wrote a binary message")
	}
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	if c.stuck {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return net.ErrClosed
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = append(c.written, append([]byte(nil), p...))
	return nil
}

func (c *fakeConn) Close(code ws.StatusCode, reason string) error {
	c.mu.Lock()
	c.closeCode, c.closeReason = code, reason
	c.mu.Unlock()
	if c.closeHang {
		<-c.closed
		return net.ErrClosed
	}
	c.CloseNow()
	return nil
}

func (c *fakeConn) CloseNow() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// isClosed reports whether the connection has been closed.
func (c *fakeConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// closedWith returns the code and reason of the hub's Close call.
func (c *fakeConn) closedWith() (ws.StatusCode, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode, c.closeReason
}

// events returns what was written, one string per event.
func (c *fakeConn) events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.written))
	for i, p := range c.written {
		out[i] = string(p)
	}
	return out
}

// event is any server event, decoded.
type event struct {
	Type    string   `json:"type"`
	Room    string   `json:"room"`
	Name    string   `json:"name"`
	From    string   `json:"from"`
	Text    string   `json:"text"`
	Members []string `json:"members"`
	Error   string   `json:"error"`
	TS      int64    `json:"ts"`
}

// decoded returns the events written to c, decoded.
func (c *fakeConn) decoded(t *testing.T) []event {
	t.Helper()
	var out []event
	for _, s := range c.events() {
		var ev event
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			t.Fatalf("event %s: %v", s, err)
		}
		out = append(out, ev)
	}
	return out
}

// ofType returns the events of type typ.
func ofType(evs []event, typ string) []event {
	var out []event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}
