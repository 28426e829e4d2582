package ws_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// TestPingPayload checks Conn.PingPayload: the ping carries the caller's payload (RFC 6455
// §5.5.2), the pong that echoes it ends the wait, a pong with another payload does not, and
// a payload over 125 bytes is refused before anything is sent.
func TestPingPayload(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			readAll(ctx, c) // pongs arrive through reads

			done := make(chan error, 1)
			go func() { done <- c.PingPayload(ctx, []byte("are you there")) }()
			f := p.mustReadFrame()
			if f.opcode != 0x9 || string(f.payload) != "are you there" {
				t.Fatalf("got opcode %#x payload %q, want a ping with the payload", f.opcode, f.payload)
			}
			p.send(true, 0xA, []byte("something else")) // not its pong
			select {
			case err := <-done:
				t.Fatalf("PingPayload returned %v on a pong with another payload", err)
			case <-time.After(50 * time.Millisecond):
			}
			p.send(true, 0xA, []byte("are you there"))
			if err := <-done; err != nil {
				t.Fatalf("PingPayload: %v", err)
			}

			if err := c.PingPayload(ctx, []byte(strings.Repeat("x", 126))); err == nil {
				t.Error("PingPayload sent a 126-byte ping")
			}
			short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancelShort()
			if err := c.PingPayload(short, []byte("no answer")); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("PingPayload without a pong: %v, want context.DeadlineExceeded", err)
			}
			p.mustReadFrame() // the unanswered ping
			c.CloseNow()
		})
	}
}

// TestWriteAfterPeerClose checks that a write after the peer's close frame reports the
// peer's code, as reads do, and still wraps net.ErrClosed.
func TestWriteAfterPeerClose(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p.send(true, 0x8, append([]byte{0x03, 0xf0}, "rate limit exceeded"...)) // 1008
			if _, _, err := c.Read(ctx); ws.CloseStatus(err) != ws.StatusPolicyViolation {
				t.Fatalf("Read: %v", err)
			}
			err := c.Write(ctx, ws.MessageText, []byte("late"))
			if ws.CloseStatus(err) != ws.StatusPolicyViolation || !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Write after the peer's close: %v, want its 1008 and net.ErrClosed", err)
			}
		})
	}
}
