package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Serve reads c's messages and calls handle with each, in order, on the calling goroutine,
// until handle returns an error, reading fails or ctx ends; it returns that error, as Read
// would have (a *[CloseError] once the peer has closed). With idle > 0 it also returns nil
// once no message has arrived for idle (idle to 2×idle, as [Conn.WaitReadable] counts it),
// so that a server can give the connection's goroutine up until it is readable again
// ([Conn.WhenReadable]); the connection stays usable.
//
// p is valid only until handle returns: it may be c's read buffer. Control frames are
// handled as a read handles them, messages are checked as a read checks them, and messages
// that handle queues ([Conn.Queue], [Conn.QueuePrepared]) are sent once the messages that
// arrived together are handled, before Serve waits for more.
//
// Serve costs fewer system calls than a loop of reads. A read that finds nothing to read
// forgets that it looked, so a read loop reads once more than it gets messages; on plain
// TCP on Unix, Serve reads and waits inside one [syscall.RawConn.Read], calling handle from
// there, and waits for the next message without that read whenever the last read left
// nothing behind: an echo costs two system calls a message instead of three. There, too, a
// binary frame of up to 2 MiB is read whole into the read buffer, which grows from a pool
// as what arrives of the frame fills it (its header alone takes no memory), and on Linux
// the socket is to report readable only once the rest of such a frame is there, not at
// every segment: a 64 KiB message costs one read or two, not three, and a 1 MiB message
// two, not twenty.
//
// Serve is a read: no other may run meanwhile, and handle must not read from c (a read
// waits for Serve to return). handle may write, queue, ping and close. A Close it calls
// (or that another goroutine calls while handle runs) sends the close frame and returns
// nil without waiting: Serve goes on reading until the peer's close frame, for at most the
// CloseTimeout option, and returns it. A CloseNow takes effect at once for the peer and for
// writes, and the socket itself is closed once handle returns.
func (c *Conn) Serve(ctx context.Context, idle time.Duration, handle func(typ MessageType, p []byte) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ws: read: %w", err)
	}
	if err := c.readLock.lock(ctx, nil); err != nil {
		return fmt.Errorf("ws: read: %w", err)
	}
	defer c.readLock.unlock()
	c.readWatch.end()        // a message abandoned by its Reader
	if c.readWatch.cleared { // a read's context ended it, clearing any deadline
		c.readWatch.cleared = false
		c.lingerD = 0
	}
	if c.readErr != nil {
		return c.readErr
	}
	c.readWatch.start(ctx)
	defer c.readWatch.end()
	s := serveLoop{c: c, handle: handle, idle: idle}
	if idle > 0 && c.lingerD != idle {
		c.setLinger(idle)
	}
	for c.msgOpen {
		if err := c.discardPayload(); err != nil {
			if err != io.EOF {
				return err
			}
			c.msgOpen = false
		}
	}
	if c.raw.ready() {
		s.stepFn = s.step
		return s.serveRaw()
	}
	for {
		if err := s.slowMessage(); err != nil || s.idled {
			return err
		}
	}
}

// serveLoop is the state of one Serve call.
type serveLoop struct {
	c      *Conn
	handle func(MessageType, []byte) error
	idle   time.Duration
	stepFn func(fd uintptr) bool // step, bound once

	buf     []byte // messages read the usual way are assembled here
	drained bool   // the last read left the socket empty: wait for it without a read (readMore)
	need    int    // bytes of the frame at the read buffer's front, when it is not all there
	want    int    // the read buffer's size for the next message: the last one's, in one frame
	lowat   int    // the socket's receive low-water mark, if set (rcvlowat_linux.go)
	slow    bool   // the next message must be read the usual way, outside step
	rerr    error  // a read in step failed: the failure is handled outside it
	perr    *ProtocolError
	err     error // handle's, ending Serve
	closing bool  // a close frame was sent: the wait for the peer's is bounded
	idled   bool  // idle passed with no message
}

// States of Conn.serving. Inside RawConn.Read the socket cannot be closed: net.Conn.Close
// waits for the RawConn.Read to return, on this very goroutine when handle closes the
// connection. closeNow then only shuts the socket down, and Serve closes it. While handle
// runs, wherever it runs, Close does not wait for the peer's close frame, which only Serve
// can read.
const (
	serveOff      = iota
	serveReading  // inside RawConn.Read
	serveHandling // inside RawConn.Read, in handle
	serveClosed   // inside RawConn.Read, after closeNow: Serve closes the socket
	serveCalling  // in handle, outside RawConn.Read
)

// serveRaw is Serve on a plain TCP socket: RawConn.Read runs step, which reads, handles the
// messages that are whole in the read buffer and waits; it returns to read a message that
// step leaves to the usual way.
func (s *serveLoop) serveRaw() error {
	c := s.c
	for {
		s.rearmIdle()
		// A new RawConn.Read forgets what the runtime's poller saw: its first step reads.
		s.drained = false
		c.serving.Store(serveReading)
		err := c.raw.loop(s.stepFn)
		if c.serving.Swap(serveOff) == serveClosed {
			c.nc.Close()
			return c.readFailed(errClosed)
		}
		if s.lowat != 0 {
			// Reads outside step wait for any byte.
			c.raw.setLowat(0)
			s.lowat = 0
		}
		if err == nil {
			err = s.rerr
			s.rerr = nil
		}
		switch {
		case s.err != nil:
			return s.err
		case s.perr != nil:
			return c.fail(s.perr)
		case err != nil:
			if s.waitAgain(err) {
				continue
			}
			if s.idled {
				return nil
			}
			return c.readFailed(err)
		case s.slow:
			s.slow = false
			if err := s.slowMessage(); err != nil || s.idled {
				return err
			}
		}
	}
}

// step runs inside RawConn.Read: it handles what is buffered, then reads. It returns false
// to wait for the socket to be readable, true to leave RawConn.Read. Nothing in it may
// close the socket (see serveClosed) or wait in another read: close frames, protocol
// errors and read failures are left to serveRaw.
func (s *serveLoop) step(fd uintptr) bool {
	for {
		if !s.handleBuffered() {
			return true
		}
		if s.drained {
			// The last read took all there was: whatever arrives since makes the
			// runtime's poller, which no new RawConn.Read has reset, wake this one.
			s.drained = false
			s.beforeWait(fd)
			return false
		}
		switch s.readMore(fd) {
		case readMoreNone:
			s.beforeWait(fd)
			return false
		case readMoreFailed:
			return true
		}
	}
}

// beforeWait sends what handle queued and lets go of an empty read buffer. While a large
// frame is on its way, it has the socket report readable only once the rest of it is
// there (or the buffer's room is), rather than at every segment.
func (s *serveLoop) beforeWait(fd uintptr) {
	c := s.c
	if c.queued.Load() > 0 {
		c.flushForRead()
	}
	s.checkClosing()
	if c.rbuf != nil && c.r == c.w {
		putBuffer(c.rbuf)
		c.rbuf = nil
		c.r, c.w = 0, 0
	}
	lowat := 0
	if s.need > 0 {
		if rest := min(s.need, len(*c.rbuf)) - (c.w - c.r); rest >= minLowat {
			lowat = rest
		}
	}
	if lowat != s.lowat {
		setRcvLowat(fd, lowat)
		s.lowat = lowat
	}
}

// minLowat is the least rest of a frame worth a receive low-water mark: about what a
// wake-up costs, in bytes read. A low-water mark costs a system call to set (and one to
// clear, unless the next wait sets another).
const minLowat = 16 << 10

// handleBuffered handles the frames at the front of the read buffer for as long as they
// are whole and step may handle them: pings and pongs, and data messages of one
// uncompressed frame, which handle gets in place. It reports false when step must return
// (a message for the usual way, a failure, handle's error, a CloseNow), true when more
// bytes are needed.
func (s *serveLoop) handleBuffered() bool {
	c := s.c
	s.need = 0
	for {
		if c.serving.Load() == serveClosed || len(c.pending) > 0 {
			return s.leave()
		}
		if c.rbuf == nil || c.r == c.w {
			return true
		}
		buf := (*c.rbuf)[c.r:c.w]
		h, n, err := parseHeader(buf)
		if err == nil && n > 0 {
			err = c.checkHeader(&h)
		}
		switch {
		case err != nil:
			return s.leave() // nextFrame fails the connection
		case n == 0:
			return true // the buffer, of at least minReadBufferSize, holds any header
		case h.opcode == opClose, h.opcode == opContinuation, !h.fin, h.rsv != 0:
			return s.leave()
		case limitExceeded(h.length, c.readLimit.Load()):
			return s.leave() // nextFrame fails the connection with 1009
		case int64(len(buf)-n) < h.length:
			// A text frame in part goes the usual way, which checks its UTF-8 as it
			// arrives and fails it at the first invalid byte (Autobahn 6.4). Others of
			// up to maxReadBufferSize are read whole into the read buffer.
			if h.opcode == opText || h.length > int64(maxReadBufferSize-n) {
				return s.leave()
			}
			s.need = n + int(h.length)
			s.growRead()
			return true
		}
		p := buf[n : n+int(h.length)]
		c.r += n + len(p)
		if h.masked {
			mask(h.key, p)
		}
		if h.opcode.isControl() {
			c.handleControl(h.opcode, p) // a ping or a pong
			continue
		}
		typ := MessageType(h.opcode)
		s.want = n + len(p)
		if typ == MessageText {
			c.text.reset()
			if !c.text.write(p) {
				s.perr = protocolErrorf(StatusInvalidFramePayload, "invalid UTF-8 in text message")
				return false
			}
			if !c.text.complete() {
				s.perr = protocolErrorf(StatusInvalidFramePayload, "text message ends inside a UTF-8 sequence")
				return false
			}
		}
		c.serving.Store(serveHandling)
		err = s.handle(typ, p)
		if !c.serving.CompareAndSwap(serveHandling, serveReading) {
			s.slow = true // closed meanwhile
		}
		if err != nil {
			s.err = err
			return false
		}
		s.checkClosing()
		if s.slow {
			return false
		}
	}
}

// growRead makes room in the read buffer for the frame at its front, of s.need bytes, once
// what has arrived of it fills half the buffer: a buffer of twice what has arrived at most,
// rounded up to its pool's size, as appendPayload grows, so that a frame's header alone
// never makes memory.
func (s *serveLoop) growRead() {
	c := s.c
	have := c.w - c.r
	if s.need <= len(*c.rbuf) || 2*have < len(*c.rbuf) {
		return // readMore moves what is unread to the front, making room
	}
	b := getReadBuffer(min(s.need, 2*have))
	c.w = copy(*b, (*c.rbuf)[c.r:c.w])
	c.r = 0
	putBuffer(c.rbuf)
	c.rbuf = b
}

// leave makes step leave RawConn.Read, for the next message to be read the usual way.
func (s *serveLoop) leave() bool {
	s.slow = true
	return false
}

// limitExceeded reports whether a frame of n bytes, the first of its message, is more
// than limit allows (a negative limit allows any).
func limitExceeded(n, limit int64) bool { return limit >= 0 && n > limit }

// checkClosing bounds the wait for the peer's close frame once this side has sent its own.
func (s *serveLoop) checkClosing() {
	c := s.c
	if s.closing || !c.closeStarted.Load() {
		return
	}
	s.closing = true
	c.lingerD = 0
	c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
}

// slowMessage reads one message, or a control frame that ends reading, the usual way, and
// hands the message to handle. With idle > 0 it first waits, at most idle, for something
// to read, setting s.idled if nothing came.
func (s *serveLoop) slowMessage() error {
	c := s.c
	if typ, msg, ok := c.popPending(); ok {
		return s.call(typ, msg)
	}
	for c.r == c.w {
		if c.queued.Load() > 0 {
			c.flushForRead()
		}
		s.checkClosing()
		s.rearmIdle()
		err := c.fillOnce()
		if err == nil {
			break
		}
		if s.waitAgain(err) {
			continue
		}
		if s.idled {
			return nil
		}
		return c.readFailed(err)
	}
	if err := c.nextFrame(); err != nil {
		return err
	}
	typ := c.msgType
	msg, err := c.appendPayload(s.buf[:0])
	if err != nil {
		return err
	}
	s.buf = msg
	return s.call(typ, msg)
}

// call hands a message read the usual way to handle.
func (s *serveLoop) call(typ MessageType, msg []byte) error {
	c := s.c
	c.serving.Store(serveCalling)
	err := s.handle(typ, msg)
	c.serving.Store(serveOff)
	if err != nil {
		return err
	}
	select {
	case <-c.closed: // by handle, perhaps: no message is handed over after CloseNow
		return c.readFailed(errClosed)
	default:
	}
	s.checkClosing()
	return nil
}

// rearmIdle sets idle's read deadline again where a read inside a message cleared it
// (lingerExpired), so that idle keeps counting from one wait for a message to the next.
func (s *serveLoop) rearmIdle() {
	if s.idle > 0 && s.c.lingerD == 0 && !s.closing {
		s.c.setLinger(s.idle)
	}
}

// waitAgain reports whether a wait that failed with err is to go on: err is the read
// deadline that idle (or an earlier WaitReadable) left set, and something arrived since it
// was set, or part of a frame is buffered (a message that has begun is read whole, as a
// read reads it), or idle is 0. Otherwise it sets s.idled instead.
func (s *serveLoop) waitAgain(err error) bool {
	c := s.c
	if c.lingerD == 0 || s.closing || !errors.Is(err, os.ErrDeadlineExceeded) || c.cause() != nil {
		return false
	}
	if !c.readWatch.clearDeadline() {
		return false // ctx ended, which readFailed reports
	}
	if s.idle > 0 && uint32(c.progress.Load()) == c.lingerSeen && c.r == c.w {
		c.lingerD = 0
		s.idled = true
		return false
	}
	c.lingerD = 0
	if s.idle > 0 {
		c.setLinger(s.idle)
	}
	return true
}

// Results of serveLoop.readMore.
const (
	readMoreGot    = iota // bytes were read; drained says whether the read left any behind
	readMoreNone          // nothing to read: wait
	readMoreFailed        // rerr says why
)

// serveCloses is closeNow's, for a connection in Serve: it reports whether Serve will
// close the socket, having shut it down so that the peer, writes and Serve's wait see the
// end at once.
func (c *Conn) serveCloses() bool {
	for {
		st := c.serving.Load()
		switch st {
		case serveOff, serveCalling:
			return false
		case serveClosed:
			return true
		}
		if c.serving.CompareAndSwap(st, serveClosed) {
			c.raw.shutdown()
			return true
		}
	}
}

// inHandle reports whether Serve's handle is running.
func (c *Conn) inHandle() bool {
	st := c.serving.Load()
	return st == serveHandling || st == serveCalling
}
