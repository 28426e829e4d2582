package ws

import (
	"context"
	"fmt"
)

// Queue adds a message to c's outgoing queue without sending it: it is framed (and
// compressed, as Write would) at once, and sent together with whatever else is queued, in
// one write, by the first of Flush, a Write, WritePrepared or Close, a read that has to
// wait for the network, or a Queue that finds the queue full (64 KiB). A server that
// answers each message thus sends the answers to a burst of messages in one system call
// rather than one each:
//
//	for {
//		typ, p, err := c.ReadAppend(ctx, buf[:0]) // sends what is queued before it waits
//		if err != nil {
//			return err
//		}
//		buf = p
//		if err := c.Queue(ctx, typ, p); err != nil {
//			return err
//		}
//	}
//
// An error sending queued messages is returned by the call that sends them. Queue does not
// keep p. A message queued and not yet sent is lost if the connection fails or CloseNow is
// called; Close sends it first.
func (c *Conn) Queue(ctx context.Context, typ MessageType, p []byte) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	if err := c.checkOpen(); err != nil {
		return err
	}
	if err := c.msgLock.lock(ctx, c.closed); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	defer c.msgLock.unlock()
	if c.deflate == nil || len(p) < c.deflate.threshold {
		return c.writeFrame(ctx, true, 0, opcode(typ), p, frameQueue)
	}
	w := c.messageWriter()
	w.begin(ctx, opcode(typ), true, min(len(p)/2+maxHeaderSize, maxBufferSize))
	w.queue = true
	if _, err := w.Write(p); err != nil {
		w.finish()
		return err
	}
	return w.finish()
}

// QueuePrepared is [Conn.Queue] for a prepared message: its frame, encoded once for every
// connection, is added to the queue.
func (c *Conn) QueuePrepared(ctx context.Context, pm *PreparedMessage) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	return c.writePrepared(ctx, pm, frameEncoded|frameQueue)
}

// Flush sends the messages that Queue added and no other call has sent yet. With none, it
// returns at once: nil, or an error wrapping net.ErrClosed if the connection is closed
// (CloseNow drops what was queued).
func (c *Conn) Flush(ctx context.Context) error {
	if c.queued.Load() == 0 {
		return c.checkOpen() // CloseNow drops the queue: say so
	}
	return c.writeFrame(ctx, true, 0, 0, nil, frameFlush)
}

// TryFlush sends, without waiting, as much of what Queue added as the network takes at
// once, and reports whether all of it went out. What is left stays queued, in order, for
// the next Flush, Write or Close (or read that waits) to send.
//
// It lets one goroutine deliver a message to many connections, a broadcast, with neither a
// goroutine per connection nor a slow reader holding up the others: queue the message on
// each connection and try; hand only the connections whose queue did not empty to a
// goroutine that calls Flush. A peer that reads keeps up, and almost every try sends
// everything, in one system call.
//
// TryFlush sends nothing and returns false while another call is writing to c (that
// call may be a Queue, which does not send), and always on a connection that is not
// plain TCP on a Unix system (TLS, for one), where a write cannot be tried without
// waiting. On a closed connection it returns an error wrapping net.ErrClosed; any other
// error means that the write failed, which closes the connection, as a failed Write does.
func (c *Conn) TryFlush() (bool, error) {
	if err := c.checkOpen(); err != nil {
		return false, err
	}
	if c.queued.Load() == 0 {
		return true, nil
	}
	if !c.frameLock.tryLock() {
		return false, nil
	}
	defer c.frameLock.unlock()
	if err := c.writableLocked(); err != nil {
		return false, err
	}
	if c.wq == nil {
		return true, nil // sent by another call meanwhile
	}
	b := *c.wq
	n, err := c.tryWriteLocked(b)
	switch {
	case err != nil:
		if cause := c.closedCause(); cause != nil {
			err = cause // CloseNow, say, closed the socket under the write
		}
		return false, c.failWriteLocked(fmt.Errorf("ws: write: %w", err))
	case n == len(b):
		c.dropQueueLocked()
		return true, nil
	case n > 0:
		// Part of a frame may be on its way: the rest goes first, whatever is sent next.
		*c.wq = b[:copy(b, b[n:])]
		c.queued.Store(int64(len(*c.wq)))
	}
	return false, nil
}

// checkOpen returns an error once the connection is closed: a queued message would
// otherwise be accepted and never sent. (A broadcast calls it for every subscriber, whose
// Conn it touches anyway; the channel would be one more cache line each.)
func (c *Conn) checkOpen() error {
	if c.isClosed.Load() {
		return fmt.Errorf("ws: write: %w", errClosed)
	}
	return nil
}

// frameHow says how writeFrame treats its frame.
type frameHow uint8

const (
	frameEncoded frameHow = 1 << iota // p is a whole frame, header included, to send as it is
	frameQueue                        // add the frame to the queue instead of sending it
	frameFlush                        // no frame: send the queue
)

// maxQueue is the most a connection's queue holds before a Queue sends it.
const maxQueue = maxBufferSize

// queueFrameLocked adds a frame to the queue, sending the queue first if the frame does not
// fit in what is left of it, and sending the frame on its own, after the queue, if it does
// not fit in an empty one. It returns how many bytes went out. frameLock is held.
func (c *Conn) queueFrameLocked(fin bool, rsv byte, op opcode, p []byte, how frameHow) (int, error) {
	size := len(p)
	if how&frameEncoded == 0 {
		size += maxHeaderSize
	}
	written := 0
	if c.wq != nil && len(*c.wq)+size > maxQueue {
		n, err := c.flushLocked()
		written += n
		if err != nil {
			return written, err
		}
	}
	if size > maxQueue {
		n, err := c.sendFrameLocked(fin, rsv, op, p, how)
		return written + n, err
	}
	if c.wq == nil {
		c.wq = getBuffer(maxQueue)
		*c.wq = (*c.wq)[:0]
	}
	b := *c.wq
	if how&frameEncoded != 0 {
		b = append(b, p...)
	} else {
		var key uint32
		if c.client {
			key = c.maskKey()
		}
		b = appendHeader(b, fin, rsv, op, len(p), c.client, key)
		start := len(b)
		b = b[:start+len(p)]
		if c.client {
			maskCopy(b[start:], p, key)
		} else {
			copy(b[start:], p)
		}
	}
	*c.wq = b
	c.queued.Store(int64(len(b)))
	return written, nil
}

// flushLocked sends the queue and releases its buffer. frameLock is held.
func (c *Conn) flushLocked() (int, error) {
	if c.wq == nil {
		return 0, nil
	}
	n, err := c.send(*c.wq)
	if err != nil && n == 0 {
		// Nothing went out: the queue stays whole, for the connection that the caller may
		// keep (it may begin with the rest of a frame that TryFlush began to send).
		return 0, err
	}
	c.dropQueueLocked()
	return n, err
}

// dropQueueLocked releases the queue's buffer, sent or not. frameLock is held, or the
// connection is closed.
func (c *Conn) dropQueueLocked() {
	if c.wq != nil {
		*c.wq = (*c.wq)[:cap(*c.wq)]
		putBuffer(c.wq)
		c.wq = nil
		c.queued.Store(0)
	}
}

// flushForRead sends the queue before a read waits for the network, unless a writer is
// busy, which then sends it. It takes the frame lock as a write would, giving up only when
// the connection closes.
func (c *Conn) flushForRead() {
	ctx := c.readWatch.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	c.writeFrame(ctx, true, 0, 0, nil, frameFlush) // an error is the writers' and the read's to see
}
