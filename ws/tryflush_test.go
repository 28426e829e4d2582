//go:build unix

package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Tests of TryFlush (queue.go, rawwrite_unix.go): it sends what Queue and QueuePrepared
// added without waiting, as much as the socket takes now, and reports whether the queue
// emptied. What it leaves stays queued, in order, and goes out first with whatever is sent
// next, so that the peer always reads whole frames (RFC 6455 §5.2) in the order sent
// (§5.4), masked by a client with a fresh key each (§5.3). It never waits: not for the
// socket, not for another call holding the frame lock, and on a connection that is not
// plain TCP it sends nothing. A write that fails fails the connection, which readers then
// see closed abnormally, 1006 (§7.1.5).
//
// The Conn under test is on one end of a loopback TCP connection, a rawPeer
// (rawpeer_test.go) on the other, with the helpers of queue_test.go. The file is for Unix
// only: elsewhere (rawwrite_other.go) TryFlush never sends, so the tests that need it to
// would fail.

// newSmallBufferPair is newPair with a small send buffer on the Conn's socket, so that,
// once the peer stops reading and its receive window closes, the socket soon takes no
// more. (The peer's receive buffer keeps its default: a small one, given loopback's 64 KiB
// segments, would leave the sender waiting for zero-window probes, in steps of hundreds of
// milliseconds, after the peer reads again.)
func newSmallBufferPair(t testing.TB, r role) (*ws.Conn, *rawPeer) {
	t.Helper()
	return newDeflatePair(t, r, readWhole, nil, ws.CompressionDisabled, 15, 15, func(nc net.Conn) net.Conn {
		if err := nc.(*net.TCPConn).SetWriteBuffer(128 << 10); err != nil {
			t.Fatal(err)
		}
		return nc // unwrapped: TryFlush must see a *net.TCPConn
	})
}

// numbered returns message i of a sequence: i in its first 4 bytes, then size-4 random
// bytes, so that a torn, lost or repeated message shows.
func numbered(i, size int) []byte {
	m := binary.BigEndian.AppendUint32(make([]byte, 0, size), uint32(i))
	return append(m, deflatePayload(size-4, true, uint64(i))...)
}

// fillSocket queues numbered binary messages of size bytes, trying to flush after each,
// until the socket takes no more: until tries leave something queued for 20 ms on end. (A
// try may also find the send buffer full of bytes in flight, which the peer's kernel
// acknowledges within microseconds; only a peer that does not read keeps it full.) It
// returns every message queued, all of which the peer must get.
func fillSocket(t testing.TB, c *ws.Conn, size int) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var msgs [][]byte
	for i := range 10000 { // at most 30 MB, far more than any socket's buffers
		m := numbered(i, size)
		if err := c.Queue(ctx, ws.MessageBinary, m); err != nil {
			t.Fatalf("Queue of message %d: %v", i, err)
		}
		msgs = append(msgs, m)
		full := time.Now().Add(100 * time.Millisecond)
		for {
			sent, err := c.TryFlush()
			if err != nil {
				t.Fatalf("TryFlush after message %d: %v", i, err)
			}
			if sent {
				break
			}
			if time.Now().After(full) {
				return msgs
			}
			time.Sleep(time.Millisecond)
		}
	}
	t.Fatalf("TryFlush sent %d messages of %d bytes to a peer that does not read; want it to stop when the socket is full", len(msgs), size)
	return nil
}

// wireLen returns the length on the wire of the frames of msgs, binary messages each
// sent as one frame by the Conn under test.
func (p *rawPeer) wireLen(msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		n += len(p.connFrame(0x2, m))
	}
	return n
}

// drain reads, without decoding, everything the Conn under test has sent so far: until
// nothing arrives for 50 ms. It then makes the peer read those bytes again before the
// rest, and returns how many there were.
func (p *rawPeer) drain() int {
	p.t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		p.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := p.br.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				p.t.Fatalf("raw peer: draining: %v", err)
			}
			break
		}
	}
	p.br = bufio.NewReader(io.MultiReader(bytes.NewReader(got.Bytes()), p.nc))
	return got.Len()
}

// cutAt describes where, in the frames of msgs, the first n bytes end.
func (p *rawPeer) cutAt(msgs [][]byte, n int) string {
	for i, m := range msgs {
		l := len(p.connFrame(0x2, m))
		if n < l {
			return fmt.Sprintf("%d bytes into frame %d of %d (%d bytes)", n, i, len(msgs), l)
		}
		n -= l
	}
	return "after the last frame"
}

// expectNumbered expects the next data frames collected to be msgs, whole, in order,
// each a final binary frame; it skips control frames.
func expectNumbered(t testing.TB, frames <-chan timedFrame, msgs [][]byte) {
	t.Helper()
	for i, m := range msgs {
		f := next1(t, frames)
		for f.opcode >= 0x8 {
			f = next1(t, frames)
		}
		if f.opcode != 0x2 || !f.fin || !bytes.Equal(f.payload, m) {
			num := -1
			if len(f.payload) >= 4 {
				num = int(binary.BigEndian.Uint32(f.payload))
			}
			t.Fatalf("message %d of %d: got opcode %#x fin %v, %d bytes numbered %d; want message %d whole (%d bytes)", i, len(msgs), f.opcode, f.fin, len(f.payload), num, i, len(m))
		}
	}
}

// expectEnd closes c and expects the peer to read nothing more: the end of the stream,
// right after the frames read so far, not a frame nor part of one.
func expectEnd(t testing.TB, c *ws.Conn, frames <-chan timedFrame) {
	t.Helper()
	c.CloseNow()
	for f := range frames {
		if f.err == nil {
			t.Fatalf("after the last message: got opcode %#x, %d bytes; want the end of the stream", f.opcode, len(f.payload))
		}
		if f.err != io.EOF {
			t.Fatalf("after the last message: %v; want the end of the stream, between frames", f.err)
		}
	}
}

// TestTryFlushSendsQueue: with a peer that reads, one TryFlush sends every frame Queue and
// QueuePrepared added and returns true: byte for byte as §5.2 encodes them, masked by a
// client (§5.3), in order (§5.4). They go out in one write: all of them are there for the
// peer's first read. A second TryFlush sends nothing and still returns true.
func TestTryFlushSendsQueue(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			msgs := smallMessages()
			queueAll(t, c, msgs)
			p.expectSilence(20 * time.Millisecond)
			sent, err := c.TryFlush()
			if !sent || err != nil {
				t.Fatalf("TryFlush = %v, %v; want true, nil", sent, err)
			}
			want := p.wireOf(msgs)
			got := make([]byte, len(want)+1)
			p.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := p.nc.Read(got) // p.br has read nothing yet
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) {
				t.Fatalf("the peer's first read got %d of %d bytes; want the queue sent in one write", n, len(want))
			}
			if !bytes.Equal(got[:n], want) {
				t.Fatalf("got % x\nwant % x", got[:min(n, 64)], want[:min(len(want), 64)])
			}
			if sent, err := c.TryFlush(); !sent || err != nil {
				t.Fatalf("second TryFlush = %v, %v; want true, nil", sent, err)
			}
			p.expectSilence(20 * time.Millisecond)
		})
	}
}

// TestTryFlushClientMaskKeys: a client's queued frames, sent by TryFlush, are each masked
// with a key of their own (§5.3: "the client MUST pick a fresh masking key" for every
// frame), and unmask to the messages queued, a prepared one included.
func TestTryFlushClientMaskKeys(t *testing.T) {
	a, b := tcpPair(t)
	c := ws.NewConnForTest(a, true, &ws.ConnOptions{CloseTimeout: time.Second}) // random keys
	t.Cleanup(func() { c.CloseNow() })
	var raw bytes.Buffer
	p := &rawPeer{t: t, nc: b, br: bufio.NewReader(io.TeeReader(b, &raw)), client: false}
	ctx := context.Background()
	var msgs [][]byte
	for i := range 40 {
		m := numbered(i, 4+i*7)
		msgs = append(msgs, m)
		if i%5 == 4 {
			pm, err := ws.NewPreparedMessage(ws.MessageBinary, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.QueuePrepared(ctx, pm); err != nil {
				t.Fatal(err)
			}
		} else if err := c.Queue(ctx, ws.MessageBinary, m); err != nil {
			t.Fatal(err)
		}
	}
	if sent, err := c.TryFlush(); !sent || err != nil {
		t.Fatalf("TryFlush = %v, %v; want true, nil", sent, err)
	}
	keys := map[[4]byte]int{}
	pos := 0
	for i, m := range msgs {
		f := p.mustReadFrame() // checks that the frame is masked (§5.1)
		if f.opcode != 0x2 || !f.fin || !bytes.Equal(f.payload, m) {
			t.Fatalf("frame %d: opcode %#x fin %v, %d bytes; want message %d unmasked whole", i, f.opcode, f.fin, len(f.payload), i)
		}
		hdr := 2 + 4 // 7-bit length and the key (§5.2)
		if len(m) >= 126 {
			hdr += 2 // 16-bit length: every message here is under 64 KiB
		}
		key := [4]byte(raw.Bytes()[pos+hdr-4 : pos+hdr])
		if j, ok := keys[key]; ok {
			t.Fatalf("frames %d and %d are masked with the same key % x", j, i, key)
		}
		keys[key] = i
		pos += hdr + len(m)
	}
}

// TestTryFlushCompressed: queued messages compressed as Write would (RSV1, RFC 7692
// §7.2.1) are sent by TryFlush like any other, and decode in order, with the window of
// the messages before under context takeover.
func TestTryFlushCompressed(t *testing.T) {
	testQueuedCompressed(t, []int{10, 200, 5000, 127, 128, 3000}, func(t *testing.T, c *ws.Conn, p *rawPeer) {
		if sent, err := c.TryFlush(); !sent || err != nil {
			t.Fatalf("TryFlush = %v, %v; want true, nil", sent, err)
		}
	})
}

// TestTryFlushFullSocket: to a peer that does not read, TryFlush sends until the socket is
// full, then returns false and keeps the rest queued. Once the peer reads, a Flush, or
// Close, sends the rest first: the peer gets every message once, whole and in order (§5.2,
// §5.4), however the last write cut the queue, and nothing more (or, after Close, the
// close frame, §5.5.1).
func TestTryFlushFullSocket(t *testing.T) {
	for _, r := range roles {
		for _, how := range []string{"Flush", "Close"} {
			t.Run(r.String()+"/"+how, func(t *testing.T) {
				c, p := newSmallBufferPair(t, r)
				msgs := fillSocket(t, c, 3000)
				// More tries change nothing while the peer does not read.
				for range 3 {
					if sent, err := c.TryFlush(); sent || err != nil {
						t.Fatalf("TryFlush with the socket full = %v, %v; want false, nil", sent, err)
					}
				}
				total := p.wireLen(msgs)
				n := p.drain()
				if n >= total {
					t.Fatalf("the peer got all %d bytes of %d messages, but TryFlush returned false", total, len(msgs))
				}
				t.Logf("%d messages, %d bytes queued; TryFlush sent %d, to %s", len(msgs), total, n, p.cutAt(msgs, n))
				frames := p.collect(time.Now(), false)
				ctx := context.Background()
				switch how {
				case "Flush":
					if err := c.Flush(ctx); err != nil {
						t.Fatal(err)
					}
					expectNumbered(t, frames, msgs)
					expectEnd(t, c, frames)
				case "Close":
					closed := make(chan error, 1)
					go func() { closed <- c.Close(ws.StatusNormalClosure, "") }()
					expectNumbered(t, frames, msgs)
					f := next1(t, frames)
					if code, _ := parseClose(t, f); code != ws.StatusNormalClosure {
						t.Fatalf("after the queue, close code %d; want 1000", code)
					}
					p.write(p.frame(true, 0, 0x8, closePayload(1000, "")))
					if !p.client {
						p.nc.(*net.TCPConn).CloseWrite() // §7.1.1: the server ends TCP first
					}
					select {
					case err := <-closed:
						if err != nil {
							t.Fatalf("Close: %v", err)
						}
					case <-time.After(5 * time.Second):
						t.Fatal("Close did not return within 5s")
					}
					expectEnd(t, c, frames)
				}
			})
		}
	}
}

// TestTryFlushPartialThenSend: after a TryFlush that left part of the queue unsent,
// whichever call sends next (a Write, a WritePrepared, a Flush after more Queues, a read
// that waits for the network) sends that part first and then its own frame: the peer gets
// every frame whole, in the order the calls made them (§5.2, §5.4).
func TestTryFlushPartialThenSend(t *testing.T) {
	after := []byte("sent after the queue")
	cases := []struct {
		name string
		// send sends after the queue; it returns the messages the peer must then get.
		send func(t *testing.T, c *ws.Conn) [][]byte
	}{
		{"Write", func(t *testing.T, c *ws.Conn) [][]byte {
			if err := c.Write(context.Background(), ws.MessageBinary, after); err != nil {
				t.Fatal(err)
			}
			return [][]byte{after}
		}},
		{"WritePrepared", func(t *testing.T, c *ws.Conn) [][]byte {
			pm, err := ws.NewPreparedMessage(ws.MessageBinary, after)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WritePrepared(context.Background(), pm); err != nil {
				t.Fatal(err)
			}
			return [][]byte{after}
		}},
		{"QueueFlush", func(t *testing.T, c *ws.Conn) [][]byte {
			more := [][]byte{after, numbered(1<<20, 5000)}
			for _, m := range more {
				if err := c.Queue(context.Background(), ws.MessageBinary, m); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			return more
		}},
		{"QueueTryFlush", func(t *testing.T, c *ws.Conn) [][]byte {
			if err := c.Queue(context.Background(), ws.MessageBinary, after); err != nil {
				t.Fatal(err)
			}
			// The peer has read: tries succeed again once its window update arrives.
			deadline := time.Now().Add(2 * time.Second)
			for {
				sent, err := c.TryFlush()
				if err != nil {
					t.Fatal(err)
				}
				if sent {
					return [][]byte{after}
				}
				if time.Now().After(deadline) {
					t.Fatal("TryFlush still left part of the queue 2s after the peer read everything")
				}
				time.Sleep(time.Millisecond)
			}
		}},
		{"Read", func(t *testing.T, c *ws.Conn) [][]byte {
			results := readAll(context.Background(), c) // flushes the queue before it waits
			t.Cleanup(func() {
				c.CloseNow()
				for range results {
				}
			})
			return nil
		}},
	}
	for _, r := range roles {
		for _, tc := range cases {
			t.Run(r.String()+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c, p := newSmallBufferPair(t, r)
				msgs := fillSocket(t, c, 3000)
				n := p.drain()
				t.Logf("TryFlush sent %d of %d bytes, to %s", n, p.wireLen(msgs), p.cutAt(msgs, n))
				frames := p.collect(time.Now(), false)
				msgs = append(msgs, tc.send(t, c)...)
				expectNumbered(t, frames, msgs)
				expectEnd(t, c, frames)
			})
		}
	}
}

// TestTryFlushPartialThenTimeout: a call whose context ends before it sends anything may
// leave the connection open (doc.go, Concurrency), but then must not lose what TryFlush
// left queued: part of a frame may be on the wire already, and a frame sent after the rest
// of it was dropped would land inside it, so that the peer reads the stream's frames
// (§5.2) wrong from there on. Either the rest is still sent first, or the connection
// fails. Here the socket is full, so a Write, a Ping and a Queue that finds the queue full
// each wait, until their context ends; then the peer reads, and the next Write must send
// the queue's rest before its own frame.
func TestTryFlushPartialThenTimeout(t *testing.T) {
	cases := []struct {
		name string
		call func(ctx context.Context, c *ws.Conn) error
	}{
		{"Write", func(ctx context.Context, c *ws.Conn) error {
			return c.Write(ctx, ws.MessageText, []byte("never sent"))
		}},
		{"Ping", func(ctx context.Context, c *ws.Conn) error {
			return c.PingPayload(ctx, []byte("never sent"))
		}},
		{"QueueFull", func(ctx context.Context, c *ws.Conn) error {
			return c.Queue(ctx, ws.MessageText, make([]byte, 63<<10)) // does not fit beside the rest
		}},
	}
	for _, r := range roles {
		for _, tc := range cases {
			t.Run(r.String()+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c, p := newSmallBufferPair(t, r)
				msgs := fillSocket(t, c, 3000)
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				err := tc.call(ctx, c)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s to a full socket = %v; want its context's deadline", tc.name, err)
				}
				n := p.drain()
				cut := p.cutAt(msgs, n)
				frames := p.collect(time.Now(), false)
				after := []byte("after the timeout")
				if err := c.Write(context.Background(), ws.MessageBinary, after); err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Fatalf("Write after the timeout = %v; want nil, or an error wrapping net.ErrClosed", err)
					}
					t.Logf("the connection failed at the timeout: %v", err)
					return // the peer sees a torn frame and then the end: an abnormal closure
				}
				c.CloseNow() // the peer reads what was sent, then the end of the stream
				want := append(msgs, after)
				for i, m := range want {
					var f timedFrame
					select {
					case f = <-frames:
					case <-time.After(5 * time.Second):
						t.Fatalf("message %d of %d: nothing within 5s", i, len(want))
					}
					if f.err != nil {
						t.Fatalf("message %d of %d: %v. TryFlush had sent %d of the queue's %d bytes, to %s; "+
							"the %s that timed out left the connection open, and the Write after it succeeded, "+
							"but the peer's stream is torn there: the rest of the queue was not sent before the Write's frame",
							i, len(want), f.err, n, p.wireLen(msgs), cut, tc.name)
					}
					if !bytes.Equal(f.payload, m) || f.opcode != 0x2 || !f.fin {
						t.Fatalf("message %d of %d: got opcode %#x fin %v, %d bytes; want the message whole (%d bytes). TryFlush had sent %d of the queue's %d bytes, to %s",
							i, len(want), f.opcode, f.fin, len(f.payload), len(m), n, p.wireLen(msgs), cut)
					}
				}
				expectEnd(t, c, frames)
			})
		}
	}
}

// TestTryFlushLockHeld: while another call holds the connection's writing side, here a
// Write stuck sending the queue to a peer that does not read, TryFlush returns false, nil
// at once, sending nothing: the peer, once it reads, gets the queue and the Write's frame
// each once, whole, in order.
func TestTryFlushLockHeld(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newSmallBufferPair(t, r)
			msgs := fillSocket(t, c, 3000)
			after := []byte("the blocked Write")
			written := make(chan error, 1)
			go func() { written <- c.Write(context.Background(), ws.MessageBinary, after) }()

			// Wait for the Write to hold the writing side: a Queue then waits for it, until
			// its own context ends. One that gets in first is sent before the Write's frame.
			probe := []byte("probe")
			deadline := time.Now().Add(5 * time.Second)
			for {
				if time.Now().After(deadline) {
					t.Fatal("the Write did not take the writing side within 5s")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
				err := c.Queue(ctx, ws.MessageBinary, probe)
				cancel()
				if err == nil {
					msgs = append(msgs, probe)
					continue
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("probing Queue: %v", err)
				}
				break
			}

			const bound = 100 * time.Millisecond
			for i := range 20 {
				start := time.Now()
				sent, err := c.TryFlush()
				if d := time.Since(start); d > bound {
					t.Fatalf("TryFlush %d took %v while a Write held the lock; want it not to wait (under %v)", i, d, bound)
				}
				if sent || err != nil {
					t.Fatalf("TryFlush %d while a Write held the lock = %v, %v; want false, nil", i, sent, err)
				}
			}
			// A Flush, or a WritePrepared, whose context ends while it waits for the
			// Write leaves the connection as it was: it sent nothing, and its frame would
			// have been whole.
			pm, err := ws.NewPreparedMessage(ws.MessageBinary, []byte("never sent"))
			if err != nil {
				t.Fatal(err)
			}
			for name, call := range map[string]func(context.Context) error{
				"Flush":         c.Flush,
				"WritePrepared": func(ctx context.Context) error { return c.WritePrepared(ctx, pm) },
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
				err := call(ctx)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s while a Write held the lock = %v; want its context's end", name, err)
				}
			}
			select {
			case err := <-written:
				t.Fatalf("the Write returned (%v) to a peer that does not read", err)
			default:
			}

			frames := p.collect(time.Now(), false)
			select {
			case err := <-written:
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the Write did not return within 5s of the peer reading")
			}
			expectNumbered(t, frames, append(msgs, after))
			expectEnd(t, c, frames)
		})
	}
}

// TestTryFlushEmpty: with nothing queued, TryFlush sends nothing and returns true, nil on
// an open connection; once the connection is closed it returns an error wrapping
// net.ErrClosed, as Flush does, whether or not something was queued (CloseNow drops it;
// Close sends it first, as TestQueueClose shows). It never panics.
func TestTryFlushEmpty(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String()+"/Open", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			for i := range 3 {
				if sent, err := c.TryFlush(); !sent || err != nil {
					t.Fatalf("TryFlush %d with nothing queued = %v, %v; want true, nil", i, sent, err)
				}
			}
			p.expectSilence(20 * time.Millisecond)
			queueAll(t, c, smallMessages()[:2])
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(p.wireOf(smallMessages()[:2]))
			if sent, err := c.TryFlush(); !sent || err != nil {
				t.Fatalf("TryFlush after Flush = %v, %v; want true, nil", sent, err)
			}
			p.expectSilence(20 * time.Millisecond)
		})
		t.Run(r.String()+"/CloseNow", func(t *testing.T) {
			c, _ := newPair(t, r, readWhole, nil)
			c.CloseNow()
			for i := range 2 {
				if _, err := c.TryFlush(); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("TryFlush %d after CloseNow = %v; want an error wrapping net.ErrClosed", i, err)
				}
			}
		})
		t.Run(r.String()+"/QueueCloseNow", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			queueAll(t, c, smallMessages())
			c.CloseNow()
			for i := range 2 {
				if _, err := c.TryFlush(); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("TryFlush %d after CloseNow with messages queued = %v; want an error wrapping net.ErrClosed", i, err)
				}
			}
			p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if b, err := io.ReadAll(p.br); len(b) != 0 {
				t.Fatalf("after CloseNow and TryFlush the peer got % x (%v); want the queue dropped", b[:min(len(b), 32)], err)
			}
		})
	}
}

// TestTryFlushCloseNowRace: CloseNow while another goroutine queues and tries, over and
// over: every call returns, nothing panics, and once CloseNow has returned, every try says
// the connection is closed (net.ErrClosed), even one made while the other goroutine holds
// the writing side. Run it with -race.
func TestTryFlushCloseNowRace(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			for round := range 50 {
				c, p := newPair(t, r, readWhole, nil)
				var wg sync.WaitGroup
				wg.Go(func() { io.Copy(io.Discard, p.nc) })
				stop := make(chan struct{})
				errs := make(chan error, 1)
				wg.Go(func() {
					ctx := context.Background()
					msg := make([]byte, 100)
					for {
						select {
						case <-stop:
							errs <- nil
							return
						default:
						}
						if err := c.Queue(ctx, ws.MessageBinary, msg); err != nil && !errors.Is(err, net.ErrClosed) {
							errs <- fmt.Errorf("Queue: %w", err)
							return
						}
						if _, err := c.TryFlush(); err != nil && !errors.Is(err, net.ErrClosed) {
							errs <- fmt.Errorf("TryFlush: %w", err)
							return
						}
					}
				})
				time.Sleep(time.Duration(round%5) * 100 * time.Microsecond) // CloseNow at varied points
				c.CloseNow()
				if sent, err := c.TryFlush(); sent || !errors.Is(err, net.ErrClosed) {
					t.Errorf("round %d: TryFlush after CloseNow = %v, %v; want false and an error wrapping net.ErrClosed", round, sent, err)
				}
				close(stop)
				if err := <-errs; err != nil {
					t.Errorf("round %d: %v", round, err)
				}
				if _, err := c.TryFlush(); !errors.Is(err, net.ErrClosed) {
					t.Errorf("round %d: TryFlush after the other goroutine stopped = %v; want an error wrapping net.ErrClosed", round, err)
				}
				p.nc.Close()
				wg.Wait()
			}
		})
	}
}

// TestTryFlushNotTCP: on a connection that is not plain TCP (TLS, a net.Pipe, a wrapped
// TCP connection) a write cannot be tried without waiting: TryFlush returns false, nil
// each time and sends nothing; Flush then sends the queue, unchanged.
func TestTryFlushNotTCP(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String()+"/TLS", func(t *testing.T) {
			srv, cli := reviewTLSPair(t)
			if srv == nil {
				t.Fatal("TLS handshake failed")
			}
			t.Cleanup(func() { srv.Close(); cli.Close() })
			local, remote := net.Conn(srv), net.Conn(cli)
			if r == asClient {
				local, remote = cli, srv
			}
			c := ws.NewConnForTest(local, r == asClient, &ws.ConnOptions{CloseTimeout: time.Second})
			t.Cleanup(func() { c.CloseNow() })
			key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
			if r == asClient {
				ws.SetMaskKeyForTest(c, key)
			}
			p := &rawPeer{t: t, nc: remote, br: bufio.NewReader(remote), client: r == asServer, key: key}
			msgs := smallMessages()
			queueAll(t, c, msgs)
			for i := range 3 {
				if sent, err := c.TryFlush(); sent || err != nil {
					t.Fatalf("TryFlush %d over TLS = %v, %v; want false, nil", i, sent, err)
				}
			}
			p.expectSilence(50 * time.Millisecond)
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(p.wireOf(msgs))
		})
		t.Run(r.String()+"/Pipe", func(t *testing.T) {
			c, p := newPipePair(t, r, nil)
			queued := []queueMsg{{typ: ws.MessageText, data: []byte("one")}, {typ: ws.MessageBinary, data: []byte("two"), prepared: true}}
			queueAll(t, c, queued)
			tried := make(chan error, 1)
			go func() {
				sent, err := c.TryFlush() // over net.Pipe, a write would wait for the peer to read
				if sent || err != nil {
					err = fmt.Errorf("TryFlush over net.Pipe = %v, %v; want false, nil", sent, err)
				}
				tried <- err
			}()
			select {
			case err := <-tried:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("TryFlush over net.Pipe did not return within 5s")
			}
			flushed := make(chan error, 1)
			go func() { flushed <- c.Flush(context.Background()) }()
			for _, m := range queued {
				if f := p.mustReadFrame(); f.opcode != byte(m.typ) || !bytes.Equal(f.payload, m.data) {
					t.Fatalf("got opcode %#x payload %q; want %q", f.opcode, f.payload, m.data)
				}
			}
			if err := <-flushed; err != nil {
				t.Fatal(err)
			}
		})
		t.Run(r.String()+"/Wrapped", func(t *testing.T) {
			c, p, wc := newCountedPair(t, r) // hides the *net.TCPConn
			msgs := smallMessages()
			queueAll(t, c, msgs)
			if sent, err := c.TryFlush(); sent || err != nil {
				t.Fatalf("TryFlush over a wrapped connection = %v, %v; want false, nil", sent, err)
			}
			if w := wc.writes(); len(w) != 0 {
				t.Fatalf("TryFlush made writes of %v bytes; want none", w)
			}
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(p.wireOf(msgs))
		})
	}
}

// TestTryFlushWriteFails: when the socket refuses a write, TryFlush fails and so does the
// connection, as after a failed Write: every later write says it is closed (net.ErrClosed),
// and a read, already waiting or coming after, reports an abnormal closure, 1006 (§7.1.5:
// the connection closed with no close frame received).
//   - Reset: the peer resets the connection (SO_LINGER 0, then close) while messages are
//     queued; nothing reads; the next TryFlush gets the socket's error.
//   - ShutWaitingRead: a read is waiting when the Conn's socket can no longer write (its
//     write side shut down, so a write fails with EPIPE and the read goes on waiting):
//     TryFlush fails first, and the waiting read then returns 1006.
//   - ResetSeenByRead: a waiting read sees the peer's reset first and closes the
//     connection; then TryFlush, and every write, says the connection is closed.
func TestTryFlushWriteFails(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String()+"/Reset", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			queueAll(t, c, smallMessages())
			resetByPeer(t, p)
			var err error
			deadline := time.Now().Add(2 * time.Second)
			for tries := 1; ; tries++ {
				var sent bool
				if sent, err = c.TryFlush(); err != nil {
					if sent {
						t.Fatalf("try %d: TryFlush = true, %v; want false with the failure", tries, err)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("TryFlush did not fail within 2s of the peer's reset (%d tries)", tries)
				}
				// Sent before the reset arrived: queue more for the next try.
				if err := c.Queue(context.Background(), ws.MessageBinary, make([]byte, 1000)); err != nil {
					t.Fatalf("Queue failed before TryFlush did, with nothing else writing or reading: %v", err)
				}
				time.Sleep(time.Millisecond)
			}
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Errorf("TryFlush failed with %v; want the socket's error (ECONNRESET or EPIPE)", err)
			}
			expectWritesClosed(t, c, "the failure")
			_, _, rerr := c.Read(context.Background())
			expectAbnormalClosure(t, rerr)
		})
		t.Run(r.String()+"/ShutWaitingRead", func(t *testing.T) {
			a, b := tcpPair(t)
			c := ws.NewConnForTest(a, r == asClient, &ws.ConnOptions{CloseTimeout: time.Second})
			t.Cleanup(func() { c.CloseNow() })
			results := readAll(context.Background(), c)
			// The read waits: a ping from the peer is answered, so it has read.
			pp := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: r == asServer, key: testMaskKey}
			pp.probe("reading")
			queueAll(t, c, smallMessages())
			if err := a.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			sent, err := c.TryFlush()
			if sent || !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("TryFlush on a socket shut for writing = %v, %v; want false and EPIPE", sent, err)
			}
			res := next(t, results)
			expectAbnormalClosure(t, res.err)
			expectWritesClosed(t, c, "the failure")
		})
		t.Run(r.String()+"/ResetSeenByRead", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			results := readAll(context.Background(), c)
			p.probe("reading")
			queueAll(t, c, smallMessages())
			resetByPeer(t, p)
			res := next(t, results)
			expectAbnormalClosure(t, res.err)
			if _, err := c.TryFlush(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("TryFlush after the read saw the reset = %v; want an error wrapping net.ErrClosed", err)
			}
			expectWritesClosed(t, c, "the failure")
		})
	}
}

// resetByPeer makes the raw peer reset the connection: SO_LINGER 0, then close.
func resetByPeer(t testing.TB, p *rawPeer) {
	t.Helper()
	tcp := p.nc.(*net.TCPConn)
	if err := tcp.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	tcp.Close()
}

// expectAbnormalClosure checks that a read's error is a *ws.CloseError with 1006.
func expectAbnormalClosure(t testing.TB, err error) {
	t.Helper()
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.StatusAbnormalClosure || ws.CloseStatus(err) != ws.StatusAbnormalClosure {
		t.Fatalf("read after the failure = %v; want a *ws.CloseError with 1006", err)
	}
}

// TestTryFlushConcurrent: one goroutine queues and tries, another writes, a third pings
// (the Conn's reader receiving the pongs, and flushing the queue when it waits), over small
// socket buffers so that tries often leave part of the queue: the peer gets every message
// once, whole, each goroutine's in its order (§5.4; §5.5: control frames may come
// between). Run it with -race.
func TestTryFlushConcurrent(t *testing.T) {
	const perGoroutine, pings = 300, 50
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newSmallBufferPair(t, r)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			results := readAll(ctx, c)
			frames := p.collect(time.Now(), true) // answers the pings

			const queued, written = 0, 1
			msgs := [2][][]byte{}
			for g := range msgs {
				for i := range perGoroutine {
					size := 10 + (g*131+i*977)%6000
					if i%100 == 50 {
						size = 70 << 10 // more than the queue holds
					}
					m := fmt.Appendf(nil, "%d %d ", g, i)
					msgs[g] = append(msgs[g], append(m, deflatePayload(size, true, uint64(g*1000+i))...))
				}
			}

			var partial atomic.Int64
			errs := make(chan error, 3)
			var wg sync.WaitGroup
			wg.Go(func() {
				for i, m := range msgs[queued] {
					if err := c.Queue(ctx, ws.MessageBinary, m); err != nil {
						errs <- fmt.Errorf("Queue of message %d: %w", i, err)
						return
					}
					sent, err := c.TryFlush()
					if err != nil {
						errs <- fmt.Errorf("TryFlush after message %d: %w", i, err)
						return
					}
					if !sent {
						partial.Add(1)
					}
				}
				if err := c.Flush(ctx); err != nil {
					errs <- fmt.Errorf("Flush: %w", err)
				}
			})
			wg.Go(func() {
				for i, m := range msgs[written] {
					if err := c.Write(ctx, ws.MessageBinary, m); err != nil {
						errs <- fmt.Errorf("Write of message %d: %w", i, err)
						return
					}
				}
			})
			wg.Go(func() {
				for i := range pings {
					if err := c.Ping(ctx); err != nil {
						errs <- fmt.Errorf("Ping %d: %w", i, err)
						return
					}
				}
			})

			// The peer: every data message, whole, each goroutine's in order.
			var got [2]int
			var perr error
			for perr == nil && got[queued]+got[written] < 2*perGoroutine {
				var f timedFrame
				select {
				case f = <-frames:
				case <-ctx.Done():
					perr = fmt.Errorf("not every message within 20s")
					continue
				}
				switch {
				case f.err != nil:
					perr = fmt.Errorf("raw peer: %w", f.err)
				case f.opcode >= 0x8:
				case f.opcode != 0x2 || !f.fin:
					perr = fmt.Errorf("frame with opcode %#x fin %v; want final binary frames only", f.opcode, f.fin)
				default:
					var g, i int
					if _, err := fmt.Sscanf(string(f.payload[:min(len(f.payload), 12)]), "%d %d ", &g, &i); err != nil || g < 0 || g > 1 {
						perr = fmt.Errorf("a message not sent: %d bytes, %.20q", len(f.payload), f.payload)
					} else if i != got[g] || !bytes.Equal(f.payload, msgs[g][i]) {
						perr = fmt.Errorf("goroutine %d: got its message %d (%d bytes); want message %d whole", g, i, len(f.payload), got[g])
					} else {
						got[g]++
					}
				}
			}
			if perr != nil {
				c.CloseNow() // ends the writers
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if perr != nil {
				t.Fatalf("after %v messages: %v", got, perr)
			}
			t.Logf("%d of %d tries left part of the queue", partial.Load(), perGoroutine)
			c.CloseNow()
			for res := range results {
				if res.err == nil {
					t.Errorf("the Conn read a message %.20q; the peer sent none", res.msg)
				}
			}
			for range frames {
			}
		})
	}
}
