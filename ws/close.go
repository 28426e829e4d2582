package ws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Close performs the closing handshake (RFC 6455 §7.1.2): it sends a close frame with
// code and reason, waits for the peer's close frame, and closes the TCP connection — the
// server at once, a client once the server has closed it (§7.1.1). Each step is bounded by
// the CloseTimeout option. A reason longer than a control frame allows is cut and
// marked with "…".
//
// Close returns nil if the peer answered. Messages that arrive while Close waits are not
// lost: the goroutine reading receives them, and then the peer's *[CloseError]. (When no
// Read is in progress, Close reads them itself and keeps them, up to the read limit in
// all, for the reads that follow.) Close may be called from any goroutine, and more than
// once; later calls wait for the first to finish and return net.ErrClosed.
func (c *Conn) Close(code StatusCode, reason string) error {
	if code != StatusNoStatusRcvd && !code.validOnWire() {
		return fmt.Errorf("ws: close: code %d may not be sent", int(code))
	}
	err := c.writeClose(code, reason)
	if errors.Is(err, errCloseSent) {
		if !c.inHandle() {
			c.waitClosed()
		}
		return errClosed
	}
	if err != nil {
		c.closeNow(errClosed)
		return fmt.Errorf("ws: close: %w", err)
	}
	c.debug("ws: close frame sent", "code", int(code))
	if c.inHandle() {
		return nil // Serve's handle, perhaps this call's caller: Serve reads the answer
	}
	c.waitClosed()
	c.closeNow(errClosed)
	if c.peerCloseReceived() {
		return nil
	}
	return fmt.Errorf("ws: close: no close frame from the peer within %v: %w", c.opts.CloseTimeout, errClosed)
}

// CloseNow closes the TCP connection at once, without the closing handshake. Blocked
// reads and writes return an error that wraps net.ErrClosed. It returns net.ErrClosed if
// the connection was already closed.
func (c *Conn) CloseNow() error {
	if c.closeNow(errClosed) {
		return nil
	}
	return errClosed
}

// waitClosed waits, up to CloseTimeout, for the peer's close frame to end the connection.
// If no other goroutine is reading, it reads (and discards messages) itself.
func (c *Conn) waitClosed() {
	timeout := c.opts.CloseTimeout
	if c.readLock.tryLock() {
		c.readWatch.end() // a message abandoned by its Reader
		c.nc.SetReadDeadline(time.Now().Add(timeout))
		c.lingerD = 0 // WaitReadable's deadline, replaced
		// Every error sets readErr: the peer's close frame, a protocol error, the
		// deadline or the connection's end. Messages on the way are kept for the
		// reads that follow, up to the read limit in all.
		kept := int64(0)
		limit := c.readLimit.Load()
		if limit < 0 {
			limit = DefaultReadLimit
		}
		for c.readErr == nil {
			if c.msgOpen {
				c.discardPayload() // the rest of a message abandoned by its Reader
				continue
			}
			if c.nextFrame() != nil {
				break
			}
			typ := c.msgType
			msg, err := c.appendPayload(nil)
			if err != nil {
				break
			}
			c.releaseReadBuffer()
			if kept += int64(len(msg)); kept > limit {
				c.debug("ws: message received while closing dropped", "bytes", len(msg))
				continue
			}
			c.pending = append(c.pending, pendingMessage{typ, msg})
		}
		c.readLock.unlock()
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C:
	}
}

// writeClose sends a close frame, waiting at most CloseTimeout. It returns errCloseSent if
// one was sent already.
func (c *Conn) writeClose(code StatusCode, reason string) error {
	var buf [maxControlPayload]byte
	payload := appendClosePayload(buf[:0], code, reason)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CloseTimeout)
	defer cancel()
	return c.writeControl(ctx, opClose, payload)
}

// peerClosed completes the closing handshake after the peer's close frame: it answers with
// a close frame carrying the same code, unless this side sent one first (§5.5.1), then
// ends the TCP connection. It is called by the reading goroutine, and returns the error
// that reads report from now on.
func (c *Conn) peerClosed(ce *CloseError) error {
	c.readWatch.end()
	c.readErr = ce
	c.closeMu.Lock()
	c.peerClose = ce
	c.closeMu.Unlock()
	c.debug("ws: close frame received", "code", int(ce.Code), "reason", ce.Reason)
	c.writeClose(ce.Code, "")
	if c.client {
		c.awaitEOF()
	}
	c.closeNow(ce)
	return ce
}

// fail fails the connection (RFC 6455 §7.1.7) for a protocol error of the peer's: it sends
// a close frame with the error's code, ends the TCP connection and returns the error,
// which reads report from now on.
func (c *Conn) fail(perr *ProtocolError) error {
	c.readWatch.end()
	c.readErr = perr
	c.debug("ws: failing connection", "code", int(perr.Code), "reason", perr.Reason)
	c.writeClose(perr.Code, perr.Reason)
	// Drain until the peer closes too, so that the close frame is not lost to a reset
	// caused by unread data. A server half-closes first; a client leaves the TCP close to
	// the server (§7.1.1), up to CloseTimeout.
	if c.client {
		c.awaitEOF()
	} else if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.awaitEOF()
	}
	c.closeNow(perr)
	return perr
}

// awaitEOF reads and discards until the peer closes the connection, at most CloseTimeout.
func (c *Conn) awaitEOF() {
	c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
	var scratch [512]byte
	for {
		if _, err := c.nc.Read(scratch[:]); err != nil {
			return
		}
	}
}

// closeNow closes the TCP connection, once, recording why for the operations that it
// interrupts. It reports whether this call closed it.
func (c *Conn) closeNow(cause error) bool {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closeMu.Lock()
		c.closeCause = cause
		waiting := c.cancelReadyLocked()
		c.closeMu.Unlock()
		if !c.serveCloses() {
			c.nc.Close()
		}
		c.isClosed.Store(true)
		close(c.closed)
		if c.keepalive != nil {
			c.keepalive.Stop()
		}
		if c.frameLock.tryLock() {
			c.dropQueueLocked() // what Queue added is lost with the connection
			c.frameLock.unlock()
		}
		if waiting != nil {
			go waiting() // a WhenReadable: its read returns the cause
		}
	})
	return first
}

// cause returns why the connection was closed, or nil while it is open.
func (c *Conn) cause() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeCause
}

// closedCause is cause, made to wrap net.ErrClosed, for a write that the connection's
// closing ended: every write to a closed connection says so (errClosed).
func (c *Conn) closedCause() error {
	cause := c.cause()
	if cause == nil || errors.Is(cause, net.ErrClosed) {
		return cause
	}
	return fmt.Errorf("%w (%w)", cause, net.ErrClosed)
}

func (c *Conn) peerCloseReceived() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.peerClose != nil
}
