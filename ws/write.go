package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// writevThreshold is the frame size above which a server's frame is sent with writev,
// header and payload side by side, instead of being copied into one buffer first.
const writevThreshold = 4096

// Write sends a message of the given type as a single frame. Any number of goroutines may
// call Write, and the other writing methods, at once: messages are sent whole, one after
// the other. Write does not keep p.
//
// If ctx ends before the frame was started, Write returns ctx's error and the connection
// stays usable; if it ends part way, the connection is closed.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	if err := c.msgLock.lock(ctx); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	defer c.msgLock.unlock()
	return c.writeFrame(ctx, true, opcode(typ), p)
}

// Writer returns a writer for a message of the given type, which is sent as a fragmented
// message: a frame each time WriteBufferSize bytes are buffered (or at once for a larger
// Write), and the last frame on Close. The message holds the connection's writing side
// until Close, which must be called; pings, pongs and close frames may still be sent
// between its frames (RFC 6455 §5.4). ctx governs every frame of the message.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if err := checkMessageType(typ); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ws: write: %w", err)
	}
	if err := c.msgLock.lock(ctx); err != nil {
		return nil, fmt.Errorf("ws: write: %w", err)
	}
	w := &c.writer
	w.ctx = ctx
	w.op = opcode(typ)
	w.open = true
	return w, nil
}

func checkMessageType(typ MessageType) error {
	if typ != MessageText && typ != MessageBinary {
		return fmt.Errorf("ws: write: invalid message type %d", int(typ))
	}
	return nil
}

// messageWriter is the writer that [Conn.Writer] returns.
type messageWriter struct {
	c    *Conn
	ctx  context.Context
	op   opcode // opcode of the next frame: the message's type, then continuation
	buf  *[]byte
	n    int // bytes buffered in buf
	open bool
}

var errWriterClosed = errors.New("ws: write to a closed message writer")

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, errWriterClosed
	}
	size := w.c.opts.WriteBufferSize
	written := 0
	for len(p) > 0 {
		if w.n == 0 && len(p) > size {
			// Nothing buffered and more than a buffer's worth: send p as a frame.
			if err := w.frame(false, p); err != nil {
				return written, err
			}
			return written + len(p), nil
		}
		if w.n == size {
			if err := w.frame(false, (*w.buf)[:w.n]); err != nil {
				return written, err
			}
			w.n = 0
		}
		if w.buf == nil {
			w.buf = getBuffer(size)
		}
		k := copy((*w.buf)[w.n:size], p)
		w.n += k
		p = p[k:]
		written += k
	}
	return written, nil
}

// Close sends the message's last frame and releases the connection's writing side.
func (w *messageWriter) Close() error {
	if !w.open {
		return errWriterClosed
	}
	var last []byte
	if w.buf != nil {
		last = (*w.buf)[:w.n]
	}
	err := w.frame(true, last)
	if w.buf != nil {
		putBuffer(w.buf)
		w.buf = nil
	}
	w.n = 0
	w.open = false
	w.ctx = nil
	w.c.msgLock.unlock()
	return err
}

func (w *messageWriter) frame(fin bool, p []byte) error {
	err := w.c.writeFrame(w.ctx, fin, w.op, p)
	w.op = opContinuation
	return err
}

// writeControl sends a control frame. It does not wait for a data message being written
// to end, so a ping, pong or close goes out between its frames.
func (c *Conn) writeControl(ctx context.Context, op opcode, payload []byte) error {
	return c.writeFrame(ctx, true, op, payload)
}

// writeFrame sends one frame, taking the frame lock.
func (c *Conn) writeFrame(ctx context.Context, fin bool, op opcode, p []byte) error {
	if err := c.frameLock.lock(ctx); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	defer c.frameLock.unlock()
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return errCloseSent
	}
	c.writeWatch.start(ctx)
	n, err := c.writeFrameLocked(fin, op, p)
	cerr := c.writeWatch.end()
	if err == nil {
		if op == opClose {
			c.closeSent = true
		}
		return nil
	}
	if cause := c.cause(); cause != nil {
		err = cause
	} else if cerr != nil {
		err = cerr
	}
	err = fmt.Errorf("ws: write: %w", err)
	if n == 0 && cerr != nil {
		// The context ended the write before any of the frame went out.
		return err
	}
	c.writeErr = err
	// Readers see the lost connection as an abnormal closure (1006), as when a read fails.
	c.closeNow(fmt.Errorf("%w: %w", &CloseError{Code: StatusAbnormalClosure, Reason: "connection lost while writing"}, err))
	return err
}

// writeFrameLocked encodes and sends one frame, in one write where it can, and returns how
// many bytes went out.
func (c *Conn) writeFrameLocked(fin bool, op opcode, p []byte) (int, error) {
	var key uint32
	if c.client {
		key = c.maskKey()
	}
	hdr := appendHeader(c.hdr[:0], fin, 0, op, len(p), c.client, key)
	total := len(hdr) + len(p)
	if !c.client && c.tcp != nil && total > writevThreshold {
		c.iov = [2][]byte{hdr, p}
		c.bufs = c.iov[:]
		n, err := c.bufs.WriteTo(c.tcp)
		c.iov = [2][]byte{}
		c.bufs = nil
		return int(n), err
	}
	// Copy header and payload into one buffer (masking the payload as it goes, for a
	// client, which must not change the caller's bytes) and write it, a buffer at a time.
	buf := getBuffer(total)
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
		n, err := c.nc.Write(b[:len(b)+k])
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
