package ws

import (
	"context"
	"encoding/binary"
	"fmt"
)

// Ping sends a ping and waits for its pong. Pongs are received by the goroutine reading
// the connection, so Ping returns only while another goroutine reads (see the package
// documentation's Concurrency section).
func (c *Conn) Ping(ctx context.Context) error {
	var payload [8]byte
	binary.BigEndian.PutUint64(payload[:], c.pingSeq.Add(1))
	return c.ping(ctx, payload[:])
}

// PingPayload is Ping with a payload of the caller's, at most 125 bytes, which the peer's
// pong returns. Pings outstanding with the same payload are all answered by its first
// pong.
func (c *Conn) PingPayload(ctx context.Context, payload []byte) error {
	if len(payload) > maxControlPayload {
		return fmt.Errorf("ws: ping: payload of %d bytes exceeds 125", len(payload))
	}
	return c.ping(ctx, payload)
}

// pingWait is the pings waiting for a pong with one payload.
type pingWait struct {
	done    chan struct{} // closed by the pong
	waiters int
}

func (c *Conn) ping(ctx context.Context, payload []byte) error {
	key := string(payload)
	c.pingMu.Lock()
	if c.pings == nil {
		c.pings = make(map[string]*pingWait)
	}
	w, ok := c.pings[key]
	if !ok {
		w = &pingWait{done: make(chan struct{})}
		c.pings[key] = w
	}
	w.waiters++
	done := w.done
	c.pingMu.Unlock()

	if err := c.writeControl(ctx, opPing, payload); err != nil {
		c.forgetPing(key, done)
		return fmt.Errorf("ws: ping: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		c.forgetPing(key, done)
		return fmt.Errorf("ws: ping: %w", ctx.Err())
	case <-c.closed:
		return fmt.Errorf("ws: ping: %w", c.cause())
	}
}

// forgetPing stops one ping waiting for its pong, given up on; the last to give up lets go
// of the entry, so that pings whose pongs never come do not pile up.
func (c *Conn) forgetPing(key string, done chan struct{}) {
	c.pingMu.Lock()
	if w := c.pings[key]; w != nil && w.done == done {
		if w.waiters--; w.waiters == 0 {
			delete(c.pings, key)
		}
	}
	c.pingMu.Unlock()
}

// pongReceived wakes the pings waiting for a pong with this payload, if any. Pongs that
// answer no ping of ours (unsolicited pongs, RFC 6455 §5.5.3) are ignored.
func (c *Conn) pongReceived(payload []byte) {
	c.pingMu.Lock()
	if w, ok := c.pings[string(payload)]; ok {
		close(w.done)
		delete(c.pings, string(payload))
	}
	c.pingMu.Unlock()
}

// keepaliveTick runs every PingInterval when keepalive is on: it pings and, when neither the
// pong nor any other byte arrives within PongTimeout, closes the connection with 1011. Bytes
// count, not frames: a peer cannot send a pong inside a large frame that takes a while to
// arrive.
func (c *Conn) keepaliveTick() {
	select {
	case <-c.closed:
		return
	default:
	}
	before := c.progress.Load()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.PongTimeout)
	err := c.Ping(ctx)
	cancel()
	if c.closeStarted.Load() {
		// The closing handshake has begun, and Close or the reader bound it by
		// CloseTimeout: keepalive has nothing more to do.
		return
	}
	if err != nil && c.progress.Load() == before {
		select {
		case <-c.closed:
			return
		default:
		}
		reason := fmt.Sprintf("keepalive: no pong within %v", c.opts.PongTimeout)
		c.debug("ws: " + reason)
		cause := &CloseError{Code: StatusAbnormalClosure, Reason: reason}
		c.writeClose(StatusInternalError, "keepalive timeout")
		c.closeNow(cause)
		return
	}
	select {
	case <-c.closed:
	default:
		c.keepalive.Reset(c.opts.PingInterval)
	}
}
