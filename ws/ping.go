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
	id := c.pingSeq.Add(1)
	done := make(chan struct{})
	c.pingMu.Lock()
	if c.pings == nil {
		c.pings = make(map[uint64]chan struct{})
	}
	c.pings[id] = done
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		delete(c.pings, id)
		c.pingMu.Unlock()
	}()

	var payload [8]byte
	binary.BigEndian.PutUint64(payload[:], id)
	if err := c.writeControl(ctx, opPing, payload[:]); err != nil {
		return fmt.Errorf("ws: ping: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ws: ping: %w", ctx.Err())
	case <-c.closed:
		return fmt.Errorf("ws: ping: %w", c.cause())
	}
}

// pongReceived wakes the Ping waiting for the pong with this id, if any. Pongs that answer
// no ping of ours (unsolicited pongs, RFC 6455 §5.5.3) are ignored.
func (c *Conn) pongReceived(id uint64) {
	c.pingMu.Lock()
	if done, ok := c.pings[id]; ok {
		close(done)
		delete(c.pings, id)
	}
	c.pingMu.Unlock()
}

// keepaliveTick runs every PingInterval when keepalive is on: it pings and, when neither the
// pong nor any other frame arrives within PongTimeout, closes the connection with 1011.
func (c *Conn) keepaliveTick() {
	select {
	case <-c.closed:
		return
	default:
	}
	before := c.frames.Load()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.PongTimeout)
	err := c.Ping(ctx)
	cancel()
	if c.closeStarted.Load() {
		// The closing handshake has begun, and Close or the reader bound it by
		// CloseTimeout: keepalive has nothing more to do.
		return
	}
	if err != nil && c.frames.Load() == before {
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
