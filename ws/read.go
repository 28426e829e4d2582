package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Read reads the next data message and returns its type and payload, in a new slice.
// Control frames that arrive first are handled on the way: pings are answered, pongs
// delivered, and a close frame ends the connection, after which Read returns a
// *[CloseError].
//
// If ctx ends while Read is waiting for a message to start, Read returns ctx's error and
// the connection stays usable; if it ends in the middle of a message, the connection is
// closed.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadAppend(ctx, nil)
}

// ReadAppend is like [Conn.Read] but appends the payload to dst and returns the extended
// slice, so a caller that reuses its buffer reads without allocating. dst grows only as
// payload arrives, never by what a frame header announces.
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, dst, fmt.Errorf("ws: read: %w", err)
	}
	if err := c.readLock.lock(ctx, nil); err != nil {
		return 0, dst, fmt.Errorf("ws: read: %w", err)
	}
	defer c.readLock.unlock()
	if typ, msg, ok := c.popPending(); ok {
		return typ, append(dst, msg...), nil
	}
	typ, err := c.beginMessage(ctx)
	if err != nil {
		return 0, dst, err
	}
	dst, err = c.appendPayload(dst)
	if err != nil {
		return 0, dst, err
	}
	c.endMessage()
	return typ, dst, nil
}

// appendPayload appends the rest of the open message to dst.
func (c *Conn) appendPayload(dst []byte) ([]byte, error) {
	if c.msgCompressed && c.frame.fin && c.msgSize == 0 && c.deflate.fr == nil {
		return c.appendInflated(dst) // a compressed message in one frame, the usual kind
	}
	start := len(dst)
	var err error
	for {
		if len(dst) == cap(dst) {
			// Grow by what has arrived: the payload read so far, or what is buffered,
			// or at least 512 bytes; for an uncompressed message, by no more than the
			// current frame still holds. A frame header's length alone never makes
			// memory.
			grow := int64(max(len(dst)-start, c.w-c.r, 512))
			if !c.msgCompressed {
				// Find the message's end, if it is here, before growing for nothing.
				if _, err = c.readData(nil); err != nil {
					break
				}
				grow = min(grow, c.frameLeft)
			}
			dst = slices.Grow(dst, int(grow))
		}
		var n int
		n, err = c.readData(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err != nil {
			break
		}
	}
	if err != io.EOF {
		return dst[:start], err
	}
	return dst, nil
}

// Reader waits for the next data message and returns its type and a reader of its
// payload, which returns io.EOF at the message's end. The reader is valid until the next
// call of Reader, Read or ReadAppend, which discards whatever of the message was not read.
// ctx governs Reader and the reads of the message's payload, until io.EOF.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, fmt.Errorf("ws: read: %w", err)
	}
	if err := c.readLock.lock(ctx, nil); err != nil {
		return 0, nil, fmt.Errorf("ws: read: %w", err)
	}
	defer c.readLock.unlock()
	if typ, msg, ok := c.popPending(); ok {
		return typ, bytes.NewReader(msg), nil
	}
	typ, err := c.beginMessage(ctx)
	if err != nil {
		return 0, nil, err
	}
	return typ, &c.reader, nil
}

// pendingMessage is a message that Close read while waiting for the peer's close frame,
// kept for the reads that follow.
type pendingMessage struct {
	typ MessageType
	msg []byte
}

// popPending returns the oldest message Close kept, if any.
func (c *Conn) popPending() (MessageType, []byte, bool) {
	if len(c.pending) == 0 {
		return 0, nil, false
	}
	m := c.pending[0]
	c.pending[0] = pendingMessage{}
	c.pending = c.pending[1:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return m.typ, m.msg, true
}

// messageReader reads the payload of the message that [Conn.Reader] returned.
type messageReader struct {
	c *Conn
}

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	// The message's context, given to Reader, governs the network reads; the lock is
	// free unless Close is reading.
	c.readLock.lock(context.Background(), nil)
	defer c.readLock.unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	if !c.msgOpen {
		return 0, io.EOF
	}
	n, err := c.readData(p)
	if err == io.EOF {
		c.endMessage()
	}
	return n, err
}

// beginMessage discards what is left of the previous message, then reads frames until the
// first frame of a data message, and returns the message's type. ctx governs the reads
// until endMessage or an error.
func (c *Conn) beginMessage(ctx context.Context) (MessageType, error) {
	c.readWatch.end() // a message abandoned by its Reader
	if c.readErr != nil {
		return 0, c.readErr
	}
	c.readWatch.start(ctx)
	for c.msgOpen {
		if err := c.discardPayload(); err != nil {
			if err != io.EOF {
				return 0, err
			}
			c.msgOpen = false
		}
	}
	if err := c.nextFrame(); err != nil {
		return 0, err
	}
	return c.msgType, nil
}

// endMessage is called once a message has been read to its end.
func (c *Conn) endMessage() {
	c.readWatch.end()
	if !c.raw.ready() {
		// On the raw TCP path the buffer goes back to its pool when the socket has
		// nothing to read (rawReader), so a busy connection keeps it from message to
		// message; elsewhere it goes back between messages.
		c.releaseReadBuffer()
	}
}

// discardPayload reads and drops the rest of the open message, validating it all the same.
func (c *Conn) discardPayload() error {
	scratch := getBuffer(4096)
	defer putBuffer(scratch)
	for {
		if _, err := c.readData(*scratch); err != nil {
			return err
		}
	}
}

// readData reads the open message's data into p: its payload, decompressed if the message
// is compressed, checked against the read limit and, for text, as UTF-8. It returns
// io.EOF, perhaps with the last bytes, at the message's end, which closes the message.
// With an empty p it only moves past empty frames, so that a caller learns of the end
// without reading.
func (c *Conn) readData(p []byte) (int, error) {
	var n int
	var err error
	if c.msgCompressed {
		if len(p) == 0 {
			return 0, nil
		}
		n, err = c.inflate(p)
	} else {
		n, err = c.readRaw(p)
	}
	if c.msgType == MessageText && n > 0 && !c.text.write(p[:n]) {
		return 0, c.fail(protocolErrorf(StatusInvalidFramePayload, "invalid UTF-8 in text message"))
	}
	if err == io.EOF {
		if c.msgType == MessageText && !c.text.complete() {
			return 0, c.fail(protocolErrorf(StatusInvalidFramePayload, "text message ends inside a UTF-8 sequence"))
		}
		c.msgOpen = false
	}
	return n, err
}

// nextPayload advances to the next frame of the open message with payload left to read. It
// returns io.EOF when the message's frames have ended.
func (c *Conn) nextPayload() error {
	for c.frameLeft == 0 {
		if c.frame.fin {
			return io.EOF
		}
		if err := c.nextFrame(); err != nil {
			return err
		}
	}
	return nil
}

// readRaw reads payload of the open message, as sent, into p, across frames. It returns
// 0, io.EOF after the message's last frame, and never returns bytes together with an
// error.
func (c *Conn) readRaw(p []byte) (int, error) {
	if err := c.nextPayload(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.frameLeft {
		p = p[:c.frameLeft]
	}
	var n int
	switch {
	case c.r < c.w:
		n = copy(p, (*c.rbuf)[c.r:c.w])
		c.r += n
	case len(p) >= c.opts.ReadBufferSize:
		// Nothing is buffered and the destination is large: read straight into it.
		if c.queued.Load() > 0 {
			c.flushForRead()
		}
		var err error
		for n == 0 {
			if n, err = c.nc.Read(p); n == 0 && err != nil && !c.lingerExpired(err) {
				return 0, c.readFailed(err)
			}
		}
		c.progress.Add(1)
	default:
		if err := c.fill(); err != nil {
			return 0, c.readFailed(err)
		}
		n = copy(p, (*c.rbuf)[c.r:c.w])
		c.r += n
	}
	c.frameLeft -= int64(n)
	c.msgSize += int64(n)
	if c.frame.masked {
		c.frame.key = mask(c.frame.key, p[:n])
	}
	return n, nil
}

// nextFrame reads frame headers, handling any control frames, until the header of a data
// frame that belongs where it stands: the first frame of a message when none is open, a
// continuation frame when one is.
func (c *Conn) nextFrame() error {
	for {
		var buffered []byte
		if c.rbuf != nil {
			buffered = (*c.rbuf)[c.r:c.w]
		}
		h, n, err := parseHeader(buffered)
		if err == nil && n > 0 {
			err = c.checkHeader(&h)
		}
		if err != nil {
			return c.fail(err.(*ProtocolError))
		}
		if n == 0 || h.opcode.isControl() && len(buffered) < n+int(h.length) {
			// A control frame is handled only once it is all buffered, so that a read
			// interrupted by its context never leaves one half read.
			if err := c.fill(); err != nil {
				return c.readFailed(err)
			}
			continue
		}
		c.r += n
		if h.opcode.isControl() {
			payload := (*c.rbuf)[c.r : c.r+int(h.length)]
			c.r += int(h.length)
			if h.masked {
				mask(h.key, payload)
			}
			if err := c.handleControl(h.opcode, payload); err != nil {
				return err
			}
			continue
		}
		if h.opcode == opContinuation {
			if !c.msgOpen {
				return c.fail(protocolErrorf(StatusProtocolError, "continuation frame with no message to continue"))
			}
		} else {
			if c.msgOpen {
				return c.fail(protocolErrorf(StatusProtocolError, "%s frame inside a fragmented message", h.opcode))
			}
			c.msgOpen = true
			c.msgType = MessageType(h.opcode)
			c.msgSize = 0
			c.msgCompressed = h.rsv&rsv1Bit != 0
			c.text.reset()
		}
		limit := c.readLimit.Load()
		if c.msgCompressed && limit >= 0 {
			// The compressed form of a message within the limit may be a little larger
			// than it (stored blocks); the limit proper applies to the decompressed bytes.
			limit += limit>>10 + 1024
		}
		// Written so that it cannot overflow: both sides are non-negative.
		if limit >= 0 && h.length > limit-c.msgSize {
			return c.fail(protocolErrorf(StatusMessageTooBig, "message exceeds the read limit of %d bytes", c.readLimit.Load()))
		}
		c.frame = h
		c.frameLeft = h.length
		if c.msgCompressed && h.opcode != opContinuation {
			c.beginInflate()
		}
		return nil
	}
}

// checkHeader applies the rules of RFC 6455 §5 that depend on the connection to a header
// that parsed.
func (c *Conn) checkHeader(h *header) error {
	if h.rsv != 0 {
		// §5.2: nonzero RSV bits without an extension that defines them. permessage-deflate
		// defines RSV1, on the first frame of a data message only (RFC 7692 §6).
		switch {
		case c.deflate == nil:
			return protocolErrorf(StatusProtocolError, "reserved bits set (0x%02x) with no extension negotiated", h.rsv)
		case h.rsv != rsv1Bit:
			return protocolErrorf(StatusProtocolError, "reserved bits set (0x%02x) that permessage-deflate does not define", h.rsv)
		case h.opcode.isControl():
			return protocolErrorf(StatusProtocolError, "RSV1 set on a %s frame", h.opcode)
		case h.opcode == opContinuation:
			return protocolErrorf(StatusProtocolError, "RSV1 set on a continuation frame")
		}
	}
	switch h.opcode {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
	default:
		// §5.2: reserved opcodes.
		return protocolErrorf(StatusProtocolError, "reserved opcode 0x%x", byte(h.opcode))
	}
	// §5.1: a client masks every frame, a server none.
	if !c.client && !h.masked {
		return protocolErrorf(StatusProtocolError, "unmasked frame from client")
	}
	if c.client && h.masked {
		return protocolErrorf(StatusProtocolError, "masked frame from server")
	}
	if h.opcode.isControl() {
		// §5.5: control frames are at most 125 bytes and never fragmented.
		if h.length > maxControlPayload {
			return protocolErrorf(StatusProtocolError, "%s frame of %d bytes exceeds 125", h.opcode, h.length)
		}
		if !h.fin {
			return protocolErrorf(StatusProtocolError, "fragmented %s frame", h.opcode)
		}
	}
	return nil
}

// handleControl acts on a control frame received (RFC 6455 §5.5).
func (c *Conn) handleControl(op opcode, payload []byte) error {
	switch op {
	case opPing:
		if c.opts.OnPing != nil {
			c.opts.OnPing(payload)
		}
		// §5.5.2: answer with a pong carrying the same payload, unless closing. The
		// read's context bounds it, as every wait of the read; a pong that cannot be
		// written leaves the connection to fail on its next write.
		ctx := c.readWatch.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		c.writeControl(ctx, opPong, payload)
	case opPong:
		if c.opts.OnPong != nil {
			c.opts.OnPong(payload)
		}
		c.pongReceived(payload)
	case opClose:
		ce, err := parseClosePayload(payload)
		if err != nil {
			return c.fail(err.(*ProtocolError))
		}
		return c.peerClosed(ce)
	}
	return nil
}

// fill reads from the network into the read buffer, at least one byte. It moves the
// unread bytes to the front first. With nothing buffered, it waits for the network without
// holding a buffer where it can (rawReader).
func (c *Conn) fill() error {
	if c.queued.Load() > 0 {
		c.flushForRead()
	}
	for {
		err := c.fillOnce()
		if err == nil || !c.lingerExpired(err) {
			return err
		}
	}
}

// lingerExpired reports whether err, from a read that waited for the network, is the
// deadline that WaitReadable left set rather than the read's own; it then clears it, for
// the read to go on. Every read that waits must ask: a busy connection's reads run under
// that deadline, which is only renewed when a WaitReadable reaches it. (It is not the
// read's when the read's context has just ended, which sets the deadline too.)
func (c *Conn) lingerExpired(err error) bool {
	if c.lingerD == 0 || !errors.Is(err, os.ErrDeadlineExceeded) || c.cause() != nil {
		return false
	}
	c.lingerD = 0
	return c.readWatch.clearDeadline()
}

// fillOnce is fill, once.
func (c *Conn) fillOnce() error {
	if c.r == c.w && c.raw.ready() {
		return c.raw.fill()
	}
	if c.rbuf == nil {
		c.rbuf = getBuffer(c.opts.ReadBufferSize)
	}
	buf := *c.rbuf
	if c.r > 0 {
		c.w = copy(buf, buf[c.r:c.w])
		c.r = 0
	}
	for {
		n, err := c.nc.Read(buf[c.w:])
		c.w += n
		if n > 0 {
			c.progress.Add(1)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// releaseReadBuffer returns the read buffer to its pool when it holds nothing unread.
func (c *Conn) releaseReadBuffer() {
	if c.rbuf != nil && c.r == c.w {
		putBuffer(c.rbuf)
		c.rbuf = nil
		c.r, c.w = 0, 0
	}
}

// readFailed handles an error from reading the network and returns what the reader sees.
// If the read's context ended it while no message was open, the connection stays usable;
// otherwise reading is over for good.
func (c *Conn) readFailed(err error) error {
	if cerr := c.readWatch.end(); cerr != nil {
		err = fmt.Errorf("ws: read: %w", cerr)
		if !c.msgOpen {
			return err
		}
		c.readErr = fmt.Errorf("ws: read interrupted inside a message: %w", cerr)
		c.closeNow(c.readErr)
		return c.readErr
	}
	if cause := c.cause(); cause != nil {
		c.readErr = cause
		return cause
	}
	// The peer went away without a close frame: an abnormal closure (RFC 6455 §7.1.5).
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	c.readErr = fmt.Errorf("%w: %w", &CloseError{Code: StatusAbnormalClosure, Reason: "connection lost without a close frame"}, err)
	c.closeNow(c.readErr)
	return c.readErr
}
