package ws

import (
	"compress/flate"
	"errors"
	"io"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/duplex-ws/duplex/internal/deflate"
)

// This file is the data path of permessage-deflate (RFC 7692 §7.2): compressing messages as
// they are written and decompressing them as they are read. Negotiation is in
// extension.go.

// defaultThreshold is the size under which Write sends messages uncompressed.
const defaultThreshold = 128

// deflateState is a connection's permessage-deflate state.
type deflateState struct {
	params    deflateParams
	threshold int
	level     int

	// Writing. With context takeover the connection owns enc; without, an encoder is
	// taken from a pool for each message and put back clean.
	enc *deflate.Encoder

	// Reading. fr is taken from a pool for each compressed message; with context
	// takeover, dict holds the last window of decompressed bytes, which the next message
	// may refer to (§7.2.2).
	fr     io.ReadCloser
	dict   []byte
	src    compressedSource
	msgOut int64 // decompressed bytes of the message being read
}

func newDeflateState(p deflateParams, threshold, level int) *deflateState {
	d := &deflateState{params: p, threshold: threshold, level: max(level, 1)}
	switch {
	case threshold == 0:
		d.threshold = defaultThreshold
	case threshold < 0:
		d.threshold = 0
	}
	if p.writeTakeover {
		d.enc = deflate.NewEncoderLevel(p.writeWindowBits, d.level)
	}
	return d
}

// encoderPools hold encoders without history, one pool per window size and strategy
// (fast, thorough).
var encoderPools [deflate.MaxWindowBits + 1][2]sync.Pool

// encoder returns the encoder for a message.
func (d *deflateState) encoder() *deflate.Encoder {
	if d.enc != nil {
		return d.enc
	}
	return pooledEncoder(d.params.writeWindowBits, d.level)
}

// releaseEncoder is called once a message has been compressed.
func (d *deflateState) releaseEncoder(e *deflate.Encoder) {
	if e == d.enc {
		return // context takeover: the window carries over to the next message
	}
	releasePooledEncoder(e)
}

// pooledEncoder returns an encoder without history for a window of 1<<bits bytes, at the
// given level.
func pooledEncoder(bits, level int) *deflate.Encoder {
	if e, ok := encoderPools[bits][strategy(level)].Get().(*deflate.Encoder); ok {
		return e
	}
	return deflate.NewEncoderLevel(bits, level)
}

// releasePooledEncoder forgets e's history and returns it to its pool.
func releasePooledEncoder(e *deflate.Encoder) {
	e.Reset()
	encoderPools[e.WindowBits()][strategy(e.Level())].Put(e)
}

// strategy is the index of a level's pool: 0 for the fast levels, 1 for the thorough.
func strategy(level int) int {
	if level >= 4 {
		return 1
	}
	return 0
}

// inflaterPool holds compress/flate decompressors, which read any window size.
var inflaterPool sync.Pool

// syncTail is what the sender removed from the end of each message (§7.2.2), followed by
// an empty final block, so that the decompressor ends exactly at the message's end.
var syncTail = [...]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// beginInflate prepares to decompress the message that has just begun: a whole message
// read at once goes to appendInflated, anything else to inflate.
func (c *Conn) beginInflate() {
	d := c.deflate
	d.msgOut = 0
	d.src = compressedSource{c: c}
}

// startInflate gives the message a streaming decompressor.
func (c *Conn) startInflate() error {
	d := c.deflate
	var dict []byte
	if d.params.readTakeover {
		dict = d.dict
	}
	if fr, ok := inflaterPool.Get().(io.ReadCloser); ok {
		if err := fr.(flate.Resetter).Reset(&d.src, dict); err != nil {
			return err
		}
		d.fr = fr
	} else {
		d.fr = flate.NewReaderDict(&d.src, dict)
	}
	return nil
}

// inflate reads decompressed bytes of the open message into p, streaming: for a message
// read with a Reader, or in several frames.
func (c *Conn) inflate(p []byte) (int, error) {
	d := c.deflate
	if d.fr == nil {
		if err := c.startInflate(); err != nil {
			return 0, c.fail(protocolErrorf(StatusInternalError, "starting to decompress: %v", err))
		}
	}
	n, err := d.fr.Read(p)
	d.msgOut += int64(n)
	if d.params.readTakeover && n > 0 {
		d.remember(p[:n])
	}
	if limit := c.readLimit.Load(); limit >= 0 && d.msgOut > limit {
		return 0, c.fail(protocolErrorf(StatusMessageTooBig, "message exceeds the read limit of %d bytes once decompressed", limit))
	}
	switch {
	case err == io.EOF:
		// The decompressor reached the final block: whatever the peer sent after its
		// own final block (RFC 7692 §7.2.3.5) is dropped, and the frames read to the end.
		if err := d.src.drain(); err != nil {
			return n, err
		}
		c.endInflate()
		return n, io.EOF
	case err == nil:
		return n, nil
	}
	var readErr *compressedReadError
	if errors.As(err, &readErr) {
		return n, readErr.err // already handled: the connection has failed
	}
	return n, c.fail(protocolErrorf(StatusInvalidFramePayload, "invalid compressed data: %v", err))
}

// inflaters hold the decompressors of whole messages, which keep their code tables from one
// message to the next.
var inflaters = sync.Pool{New: func() any { return new(deflate.Inflater) }}

// appendInflated appends the open message to dst, decompressed: a message of one frame,
// not yet read. Its compressed payload is read whole first (into a buffer that grows as
// bytes arrive, up to what the frame holds), then decoded in one pass, about twice as fast
// as streaming it through compress/flate. The read limit applies to the decompressed size,
// which the decoder stops at.
func (c *Conn) appendInflated(dst []byte) ([]byte, error) {
	d := c.deflate
	buf := getBuffer(int(min(c.frameLeft, maxBufferSize)) + len(syncTail))
	defer putBuffer(buf)
	src := (*buf)[:0]
	for {
		if len(src) == cap(src) {
			grow := int64(max(len(src), c.w-c.r, 512))
			src = slices.Grow(src, int(min(grow, c.frameLeft+int64(len(syncTail)))))
		}
		n, err := c.readRaw(src[len(src):cap(src)])
		src = src[:len(src)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, err
		}
	}
	src = append(src, syncTail[:]...)

	var dict []byte
	if d.params.readTakeover {
		dict = d.dict
	}
	limit := c.readLimit.Load()
	if limit < 0 || limit > math.MaxInt {
		limit = -1
	}
	inf := inflaters.Get().(*deflate.Inflater)
	start := len(dst)
	dst, err := inf.Inflate(dst, src, dict, int(limit))
	inflaters.Put(inf)
	switch {
	case err == deflate.ErrTooLarge:
		return dst[:start], c.fail(protocolErrorf(StatusMessageTooBig, "message exceeds the read limit of %d bytes once decompressed", limit))
	case err != nil:
		return dst[:start], c.fail(protocolErrorf(StatusInvalidFramePayload, "invalid compressed data: %v", err))
	}
	msg := dst[start:]
	if c.msgType == MessageText {
		if !c.text.write(msg) {
			return dst[:start], c.fail(protocolErrorf(StatusInvalidFramePayload, "invalid UTF-8 in text message"))
		}
		if !c.text.complete() {
			return dst[:start], c.fail(protocolErrorf(StatusInvalidFramePayload, "text message ends inside a UTF-8 sequence"))
		}
	}
	if d.params.readTakeover {
		d.remember(msg)
	}
	c.msgOpen = false
	return dst, nil
}

// endInflate returns the decompressor to its pool.
func (c *Conn) endInflate() {
	d := c.deflate
	if d.fr != nil {
		inflaterPool.Put(d.fr)
		d.fr = nil
	}
}

// remember appends decompressed bytes to the dictionary, keeping the last window of them.
// The window kept is at least 512 bytes: zlib, which most peers compress with, cannot use
// a 256-byte window and silently uses 512 bytes when 8 window bits are agreed, so its
// messages may refer that far back into the ones before.
func (d *deflateState) remember(p []byte) {
	window := 1 << max(d.params.readWindowBits, 9)
	if len(p) >= window {
		d.dict = append(d.dict[:0], p[len(p)-window:]...)
		return
	}
	if over := len(d.dict) + len(p) - window; over > 0 {
		d.dict = append(d.dict[:0], d.dict[over:]...)
	}
	d.dict = append(d.dict, p...)
}

// compressedSource feeds a decompressor the raw payload of the open message, then
// syncTail. It is an io.ByteReader, so the decompressor reads it without a bufio.Reader of
// its own, and byte reads take bytes straight from the connection's read buffer.
type compressedSource struct {
	c    *Conn
	tail int // bytes of syncTail already given
	done bool
	one  [1]byte // ReadByte's slow path reads into it, so that nothing escapes per call
}

// compressedReadError carries an error the connection has already acted on through the
// decompressor, which would otherwise report it as corrupt input.
type compressedReadError struct{ err error }

func (e *compressedReadError) Error() string { return e.err.Error() }

func (s *compressedSource) Read(p []byte) (int, error) {
	if !s.done {
		n, err := s.c.readRaw(p)
		if err == nil {
			return n, nil
		}
		if err != io.EOF {
			return 0, &compressedReadError{err}
		}
		s.done = true
	}
	if s.tail == len(syncTail) {
		return 0, io.EOF
	}
	n := copy(p, syncTail[s.tail:])
	s.tail += n
	return n, nil
}

func (s *compressedSource) ReadByte() (byte, error) {
	c := s.c
	if !s.done && c.frameLeft > 0 && c.r < c.w {
		b := (*c.rbuf)[c.r]
		if c.frame.masked {
			b ^= byte(c.frame.key)
			c.frame.key = bits.RotateLeft32(c.frame.key, -8)
		}
		c.r++
		c.frameLeft--
		c.msgSize++
		return b, nil
	}
	for {
		n, err := s.Read(s.one[:])
		if n == 1 {
			return s.one[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// drain reads the rest of the message's raw payload, if the decompressor stopped early.
func (s *compressedSource) drain() error {
	if s.done {
		return nil
	}
	scratch := getBuffer(512)
	defer putBuffer(scratch)
	for !s.done {
		if _, err := s.c.readRaw(*scratch); err != nil {
			if err == io.EOF {
				s.done = true
				return nil
			}
			return err
		}
	}
	return nil
}
