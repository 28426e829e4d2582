package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/duplex-ws/duplex/internal/deflate"
)

// writevThreshold is the frame size above which a server's frame is sent with writev,
// header and payload side by side, instead of being copied into one buffer first.
const writevThreshold = 4096

// maxWriteChunkShift sets the most bytes of a frame that writeFrameLocked copies (a
// client's, masking them) before a write: 256 KiB, so a 64 KiB message goes out in one
// write and a 1 MiB one in four. Smaller chunks cost more than their system calls: each
// write ends in a short TCP segment (on loopback, whose segments carry a little under
// 64 KiB, a 64 KiB write is a full segment and a short one), which the receiver's stack
// handles as it does a full one. Measured with duplex bench, 4 clients echoing 1 MiB:
// 64 KiB chunks cost the client 1.7× and the server 1.3× the CPU a message of 256 KiB
// ones; 1 MiB chunks, a little more than 256 KiB ones, as they outgrow the cache.
const maxWriteChunkShift = 18

// Write sends a message of the given type as a single frame. Any number of goroutines may
// call Write, and the other writing methods, at once: messages are sent whole, one after
// the other. Write does not keep p.
//
// When permessage-deflate was negotiated, a message of at least the Threshold option's
// size is compressed, and a compressed message may take several frames.
//
// If ctx ends before the frame was started, Write returns ctx's error and the connection
// stays usable; if it ends part way, the connection is closed.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	return c.write(ctx, typ, p, c.deflate != nil && len(p) >= c.deflate.threshold)
}

// WriteCompressed is Write with the choice to compress made by the caller rather than by
// the Threshold option: with compress set, p is compressed if permessage-deflate was
// negotiated; without, it is sent as it is.
func (c *Conn) WriteCompressed(ctx context.Context, typ MessageType, p []byte, compress bool) error {
	return c.write(ctx, typ, p, compress && c.deflate != nil)
}

func (c *Conn) write(ctx context.Context, typ MessageType, p []byte, compress bool) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	if err := c.msgLock.lock(ctx, c.closed); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	defer c.msgLock.unlock()
	if !compress {
		return c.writeFrame(ctx, true, 0, opcode(typ), p, 0)
	}
	w := c.messageWriter()
	w.begin(ctx, opcode(typ), true, min(len(p)/2+maxHeaderSize, maxBufferSize))
	if _, err := w.Write(p); err != nil {
		w.finish()
		return err
	}
	return w.finish()
}

// Writer returns a writer for a message of the given type, which is sent as a fragmented
// message: a frame each time WriteBufferSize bytes are buffered (or at once for a larger
// Write), and the last frame on Close. When permessage-deflate was negotiated the message
// is compressed as it is written. The message holds the connection's writing side until
// Close, which must be called; pings, pongs and close frames may still be sent between its
// frames (RFC 6455 §5.4). ctx governs every frame of the message.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if err := checkMessageType(typ); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ws: write: %w", err)
	}
	if err := c.msgLock.lock(ctx, c.closed); err != nil {
		return nil, fmt.Errorf("ws: write: %w", err)
	}
	w := c.messageWriter()
	w.begin(ctx, opcode(typ), c.deflate != nil, c.opts.WriteBufferSize)
	w.unlockOnClose = true
	return &writerHandle{w: w, gen: w.gen}, nil
}

// messageWriter returns the connection's messageWriter, made the first time a message
// needs one (Writer, or a compressed Write or Queue), so that a connection that never
// does holds none; msgLock is held.
func (c *Conn) messageWriter() *messageWriter {
	if c.writer == nil {
		c.writer = &messageWriter{c: c}
	}
	return c.writer
}

// writerHandle is the writer Writer returns: the connection's messageWriter, for as long
// as the message it began is the one being written. Used after its Close, it returns an
// error rather than write into a later message.
type writerHandle struct {
	w   *messageWriter
	gen uint64
}

func (h *writerHandle) Write(p []byte) (int, error) {
	if h.w.gen != h.gen {
		return 0, errWriterClosed
	}
	return h.w.Write(p)
}

func (h *writerHandle) Close() error {
	if h.w.gen != h.gen {
		return errWriterClosed
	}
	return h.w.Close()
}

func checkMessageType(typ MessageType) error {
	if typ != MessageText && typ != MessageBinary {
		return fmt.Errorf("ws: write: invalid message type %d", int(typ))
	}
	return nil
}

// messageWriter writes a message in frames: the writer that [Conn.Writer] returns, and the
// way Write sends a compressed message.
type messageWriter struct {
	c    *Conn
	ctx  context.Context
	op   opcode // opcode of the next frame: the message's type, then continuation
	rsv  byte   // RSV bits of the next frame: RSV1 on a compressed message's first
	size int    // payload bytes per frame
	buf  *[]byte
	n    int // bytes buffered in buf
	open bool

	enc           *deflate.Encoder // compressing, when not nil
	queue         bool             // frames go to the connection's queue (Queue)
	unlockOnClose bool             // Close releases msgLock (Writer, not Write)
	failed        bool             // a frame of the message could not be sent
	gen           uint64           // counts messages, so that a stale writerHandle is refused
}

var errWriterClosed = errors.New("ws: write to a closed message writer")

// begin starts a message; msgLock is held.
func (w *messageWriter) begin(ctx context.Context, op opcode, compress bool, size int) {
	w.ctx = ctx
	w.op = op
	w.rsv = 0
	w.size = size
	w.open = true
	w.unlockOnClose = false
	w.queue = false
	w.failed = false
	if compress {
		w.enc = w.c.deflate.encoder()
		w.rsv = rsv1Bit
		w.size = max(size, 512) // room for the compressor to work in
	}
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, errWriterClosed
	}
	if w.enc != nil {
		return w.writeCompressed(p)
	}
	written := 0
	for len(p) > 0 {
		if w.n == 0 && len(p) > w.size {
			// Nothing buffered and more than a buffer's worth: send p as a frame.
			if err := w.frame(false, p); err != nil {
				return written, err
			}
			return written + len(p), nil
		}
		if w.n == w.size {
			if err := w.frame(false, (*w.buf)[:w.n]); err != nil {
				return written, err
			}
			w.n = 0
		}
		if w.buf == nil {
			w.buf = getBuffer(w.size)
		}
		k := copy((*w.buf)[w.n:w.size], p)
		w.n += k
		p = p[k:]
		written += k
	}
	return written, nil
}

// maxExpansion is the room kept free in a compressing writer's buffer for what Flush
// adds: the bits a block held back, an end-of-block code and an empty stored block.
const maxExpansion = 16

// writeCompressed compresses p into the buffer, in chunks small enough that the buffer
// never grows, sending a frame whenever it fills.
func (w *messageWriter) writeCompressed(p []byte) (int, error) {
	if w.buf == nil {
		w.buf = getBuffer(w.size + maxExpansion)
	}
	window := 1 << w.enc.WindowBits()
	written := 0
	for len(p) > 0 {
		room := cap(*w.buf) - w.n - maxExpansion
		// The largest chunk whose compressed form fits in room: the encoder works in
		// chunks of at most a window, each costing at worst a stored block (5 bytes more
		// than its input) and an end-of-block code, so n bytes give at most
		// n + (n/window+1)*6.
		n := min(len(p), room*window/(window+6)-6)
		if n < 64 && n < len(p) {
			if err := w.frame(false, (*w.buf)[:w.n]); err != nil {
				return written, err
			}
			w.n = 0
			continue
		}
		chunk := p[:n]
		w.adopt(w.enc.Write((*w.buf)[:w.n], chunk))
		p = p[len(chunk):]
		written += len(chunk)
	}
	return written, nil
}

// adopt makes out, the buffer extended by the encoder, the writer's buffer. The room kept
// free means the encoder never has to reallocate; if it did, the larger buffer is used and
// simply not returned to the pool.
func (w *messageWriter) adopt(out []byte) {
	*w.buf = out[:cap(out)]
	w.n = len(out)
}

// Close sends the message's last frame and, for a Writer, releases the connection's
// writing side.
func (w *messageWriter) Close() error {
	if !w.open {
		return errWriterClosed
	}
	unlock := w.unlockOnClose
	err := w.finish()
	if unlock {
		w.c.msgLock.unlock()
	}
	return err
}

// finish sends the message's last frame and releases the writer's buffer and encoder.
func (w *messageWriter) finish() error {
	var last []byte
	if w.enc != nil {
		if w.buf == nil {
			w.buf = getBuffer(w.size + maxExpansion)
		}
		w.adopt(w.enc.Flush((*w.buf)[:w.n]))
		last = (*w.buf)[:w.n]
	} else if w.buf != nil {
		last = (*w.buf)[:w.n]
	}
	err := w.frame(true, last)
	if w.enc != nil {
		if w.failed {
			// The peer did not get the whole message, so its window lacks what the
			// encoder's now holds: start afresh, which is always decodable.
			w.enc.Reset()
		}
		w.c.deflate.releaseEncoder(w.enc)
		w.enc = nil
	}
	if w.buf != nil {
		putBuffer(w.buf)
		w.buf = nil
	}
	w.n = 0
	w.open = false
	w.ctx = nil
	w.gen++
	return err
}

func (w *messageWriter) frame(fin bool, p []byte) error {
	var how frameHow
	if w.queue {
		how = frameQueue
	}
	err := w.c.writeFrame(w.ctx, fin, w.rsv, w.op, p, how)
	w.op = opContinuation
	w.rsv = 0
	if err != nil {
		w.failed = true
	}
	return err
}

// writeControl sends a control frame. It does not wait for a data message being written
// to end, so a ping, pong or close goes out between its frames.
func (c *Conn) writeControl(ctx context.Context, op opcode, payload []byte) error {
	return c.writeFrame(ctx, true, 0, op, payload, 0)
}

// writeFrame sends one frame, taking the frame lock, after whatever Queue added: how says
// whether p is already encoded, whether it is to be queued rather than sent, or whether
// there is no frame and only the queue is to be sent.
func (c *Conn) writeFrame(ctx context.Context, fin bool, rsv byte, op opcode, p []byte, how frameHow) error {
	// A continuation frame that cannot be sent leaves its message unfinished, which
	// nothing can follow: the connection is then closed. (A Flush, and an encoded frame,
	// pass opcode 0 too, with no message open.)
	midMessage := op == opContinuation && how&(frameFlush|frameEncoded) == 0
	if err := c.frameLock.lock(ctx, c.closed); err != nil {
		err = fmt.Errorf("ws: write: %w", err)
		if midMessage {
			c.closeNow(fmt.Errorf("%w: %w", &CloseError{Code: StatusAbnormalClosure, Reason: "write interrupted inside a message"}, err))
		}
		return err
	}
	defer c.frameLock.unlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	if how&frameFlush != 0 && c.wq == nil {
		return nil // sent by another call meanwhile
	}
	c.writeWatch.start(ctx)
	var n int
	var err error
	switch {
	case how&frameQueue != 0:
		n, err = c.queueFrameLocked(fin, rsv, op, p, how)
	case c.wq != nil:
		n, err = c.flushLocked()
		if err == nil && how&frameFlush == 0 {
			var k int
			k, err = c.sendFrameLocked(fin, rsv, op, p, how)
			n += k
		}
	default:
		n, err = c.sendFrameLocked(fin, rsv, op, p, how)
	}
	cerr := c.writeWatch.end()
	if err == nil {
		if op == opClose {
			c.closeSent = true
			c.closeStarted.Store(true)
		}
		return nil
	}
	if cause := c.closedCause(); cause != nil {
		err = cause
	} else if cerr != nil {
		err = cerr
	}
	err = fmt.Errorf("ws: write: %w", err)
	if n == 0 && cerr != nil && !midMessage && c.tcp != nil {
		// The context ended the write before any of the frame went out, on a plain TCP
		// connection, which a deadline leaves intact. (After a timed-out write,
		// crypto/tls refuses every later write, and other wrappers promise nothing.)
		return err
	}
	return c.failWriteLocked(err)
}

// writableLocked returns the error a write must return, if any: that of a failed write, or
// that the close frame has gone. frameLock is held.
func (c *Conn) writableLocked() error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		c.closeMu.Lock()
		pc := c.peerClose
		c.closeMu.Unlock()
		if pc != nil {
			// The peer closed: say so, so that CloseStatus gives its code.
			return fmt.Errorf("ws: write after the peer closed: %w: %w", pc, net.ErrClosed)
		}
		return errCloseSent
	}
	return nil
}

// failWriteLocked ends the connection after a write failed with err, which it returns:
// part of a frame may have gone out, after which nothing can follow. frameLock is held.
func (c *Conn) failWriteLocked(err error) error {
	c.dropQueueLocked()
	// Later writes say the connection is closed (not, say, that their own context ended).
	c.writeErr = fmt.Errorf("ws: write: connection closed after a failed write (%v): %w", err, net.ErrClosed)
	// Readers see the lost connection as an abnormal closure (1006), as when a read fails.
	c.closeNow(fmt.Errorf("%w: %w", &CloseError{Code: StatusAbnormalClosure, Reason: "connection lost while writing"}, err))
	return err
}

// frameScratch is where writeFrameLocked encodes a frame's header and gathers it with the
// payload for one writev, which would otherwise allocate at every frame. A connection
// makes it with its first frame, so that one that never writes holds none.
type frameScratch struct {
	hdr  [maxHeaderSize]byte
	iov  [2][]byte
	bufs net.Buffers
}

// sendBuffers writes a frame's header and payload to a plain TCP connection with one
// writev, through net.Buffers: sendv, where sockWriter cannot. frameLock is held.
func (c *Conn) sendBuffers(hdr, p []byte) (int, error) {
	f := c.frames
	f.iov = [2][]byte{hdr, p}
	f.bufs = f.iov[:]
	n, err := f.bufs.WriteTo(c.tcp)
	f.iov = [2][]byte{}
	f.bufs = nil
	return int(n), err
}

// sendFrameLocked sends one frame, encoding it unless how says it is encoded, and returns
// how many bytes went out. frameLock is held.
func (c *Conn) sendFrameLocked(fin bool, rsv byte, op opcode, p []byte, how frameHow) (int, error) {
	if how&frameEncoded != 0 {
		return c.send(p)
	}
	return c.writeFrameLocked(fin, rsv, op, p)
}

// writeFrameLocked encodes and sends one frame, in one write where it can, and returns how
// many bytes went out.
func (c *Conn) writeFrameLocked(fin bool, rsv byte, op opcode, p []byte) (int, error) {
	var key uint32
	if c.client {
		key = c.maskKey()
	}
	if c.frames == nil {
		c.frames = new(frameScratch)
	}
	f := c.frames
	hdr := appendHeader(f.hdr[:0], fin, rsv, op, len(p), c.client, key)
	total := len(hdr) + len(p)
	if !c.client && c.tcp != nil && total > writevThreshold {
		return c.sendv(hdr, p)
	}
	// Copy header and payload into one buffer (masking the payload as it goes, for a
	// client, which must not change the caller's bytes) and write it, a buffer at a time.
	buf := getClass(bufferClass(total, maxWriteChunkShift))
	defer putBuffer(buf)
	b := append((*buf)[:0], hdr...)
	written := 0
	for {
		k := min(len(p), cap(b)-len(b))
		chunk := b[len(b) : len(b)+k]
		if c.client {
			_, key = maskCopy(chunk, p[:k], key)
		} else {
			copy(chunk, p[:k])
		}
		n, err := c.send(b[:len(b)+k])
		written += n
		if err != nil {
			return written, err
		}
		p = p[k:]
		if len(p) == 0 {
			return written, nil
		}
		b = b[:0]
	}
}
