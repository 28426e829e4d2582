package ws

import (
	"errors"
	"os"
	"time"
)

// WhenReadable arranges for f to be called, once, on a goroutine of its own, when c has
// something for a read: bytes from the peer, a message or bytes already buffered, or an
// end (the peer went away, or c was closed, in which case a read returns the error). It
// returns at once.
//
// Meanwhile c holds neither a goroutine nor a buffer: on plain TCP on Linux, the wait is a
// registration with a shared epoll instance, which one goroutine of the package watches
// through the runtime's poller. A server with many mostly idle connections thus costs
// little more than their sockets (see the package documentation's section Memory).
// Elsewhere (TLS, a wrapped net.Conn, other systems), and when a read is in progress or
// another WhenReadable is pending, f is called right away: a read it makes then waits in
// the usual way. f must therefore never assume a read will not block, only that one is
// due:
//
//	var serve func()
//	serve = func() {
//		typ, p, err := c.Read(ctx)
//		if err != nil {
//			return
//		}
//		handle(typ, p)
//		c.WhenReadable(serve)
//	}
//	c.WhenReadable(serve)
//
// Control frames are handled by reads, as ever: a pong or the peer's close frame makes c
// readable, and f's read handles it and waits again. Like a read, WhenReadable belongs to
// the goroutine that reads; call it from there (or before reading starts).
func (c *Conn) WhenReadable(f func()) {
	if c.readLock.tryLock() {
		armed := false
		if !c.readyLocked() {
			c.releaseReadBuffer()
			armed = readiness.arm(c, f)
		}
		c.readLock.unlock()
		if armed {
			return
		}
	}
	go f()
}

// WaitReadable waits, on the calling goroutine, for c to have something for a read, as
// WhenReadable means it, and reports whether it has; what arrives meanwhile is kept for the
// read. It gives up, returning false, once nothing has arrived for d: after d to 2d, the
// deadline being kept from one call to the next (setting it for each would cost a busy
// connection about what a message costs). Messages queued with Queue are sent first. A server that serves a
// connection with WhenReadable can call it after a burst, to keep the goroutine while
// messages come in quick succession and give it up (WhenReadable) once the connection goes
// quiet: a busy connection then costs no system call or goroutine per message more than a
// plain read loop, an idle one no goroutine.
//
// WaitReadable reports true at once when a read is in progress, and, where WhenReadable
// has no poller to wait with (TLS, a wrapped net.Conn), when d is positive: a read then
// waits in the usual way. A failure of the connection counts as something to read: the
// read reports it.
func (c *Conn) WaitReadable(d time.Duration) bool {
	if !c.readLock.tryLock() {
		return true
	}
	defer c.readLock.unlock()
	if c.readyLocked() {
		return true
	}
	if c.queued.Load() > 0 {
		c.flushForRead()
	}
	if d <= 0 {
		return false
	}
	if !c.raw.ready() {
		return true
	}
	if c.readWatch.cleared { // a read's context ended it, clearing any deadline
		c.readWatch.cleared = false
		c.lingerD = 0
	}
	// The deadline stays set from one wait to the next, setting it costing about what a
	// message does otherwise: a wait that reaches it gives up only if nothing has arrived
	// since it was set, and sets it again if something has. (A read that waits while it is
	// set clears it: see fill.)
	if c.lingerD != d {
		c.setLinger(d)
	}
	for {
		err := c.raw.fill()
		switch {
		case err == nil:
			return true
		case !errors.Is(err, os.ErrDeadlineExceeded) || c.cause() != nil:
			c.endLinger()
			c.readFailed(err)
			return true
		case uint32(c.progress.Load()) == c.lingerSeen:
			c.endLinger()
			return false
		}
		c.setLinger(d)
	}
}

// setLinger sets the read deadline of WaitReadable(d). readLock is held.
func (c *Conn) setLinger(d time.Duration) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	c.lingerD = d
	c.lingerSeen = uint32(c.progress.Load())
}

// endLinger clears WaitReadable's read deadline, if it is set. readLock is held.
func (c *Conn) endLinger() {
	if c.lingerD != 0 {
		c.nc.SetReadDeadline(time.Time{})
		c.lingerD = 0
	}
}

// Buffered reports how many bytes c has received that no read has consumed yet: a frame
// or part of one, waiting in its read buffer, plus messages kept by Close. A loop that
// answers messages can use it to tell whether its next read will find data without
// waiting for the network (when it is not zero, it usually will; only a frame cut short
// needs more). Call it from the goroutine that reads.
func (c *Conn) Buffered() int {
	if !c.readLock.tryLock() {
		return 0 // Close is reading; what it finds, it keeps
	}
	defer c.readLock.unlock()
	n := c.w - c.r
	for _, m := range c.pending {
		n += len(m.msg)
	}
	return n
}

// readyLocked reports whether a read would find something without the network: buffered
// bytes, kept messages, an open message (whose reader a read discards), or a failure.
// readLock is held.
func (c *Conn) readyLocked() bool {
	return c.r < c.w || len(c.pending) > 0 || c.msgOpen || c.readErr != nil
}

// readyWait is a connection's pending WhenReadable, if any. It is guarded by the
// connection's closeMu, so that a wait and the connection's closing are ordered: a wait
// is registered only while the connection is open, and closing takes it.
type readyWait struct {
	f          func() // waiting to be called; nil when none is
	token      uint32 // the registration's key in the poller, while f waits
	registered bool   // the socket has been added to the poller once (later waits re-arm it)
}

// fireReady calls the pending WhenReadable function, if token is still its registration.
func (c *Conn) fireReady(token uint32) {
	c.closeMu.Lock()
	w := &c.ready
	f := w.f
	if f == nil || w.token != token {
		c.closeMu.Unlock()
		return
	}
	w.f, w.token = nil, 0
	c.closeMu.Unlock()
	go f()
}

// cancelReadyLocked takes the pending WhenReadable function, if any, and forgets its
// registration: the connection is closing, and the caller calls the function once it has
// closed the socket, so that a read in it sees why. It is called before the socket is
// closed, so that no registration outlives it. closeMu is held.
func (c *Conn) cancelReadyLocked() func() {
	w := &c.ready
	f, token := w.f, w.token
	w.f, w.token = nil, 0
	if f != nil {
		readiness.forget(token)
	}
	return f
}
