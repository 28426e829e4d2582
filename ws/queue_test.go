package ws_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Tests of Queue, QueuePrepared and Flush (queue.go): queued frames go out only when
// flushed, by Flush or by the next frame that is sent, a read that waits for the network,
// Close or a full queue; in one write; in order (RFC 6455 §5.4: the frames of a message,
// and messages, are delivered in the order sent); masked by a client (§5.3) and compressed
// as Write would (RFC 7692 §7.2.1). The Conn under test is on one end of a loopback TCP
// connection, a rawPeer (rawpeer_test.go) on the other.

// writeCounter counts the writes the Conn under test makes, and remembers their sizes.
type writeCounter struct {
	net.Conn
	mu    sync.Mutex
	sizes []int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.sizes = append(w.sizes, len(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// writes returns the sizes of the writes made so far.
func (w *writeCounter) writes() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.sizes...)
}

// newCountedPair is newPair (reading whole) with the Conn's writes counted. The wrapper
// hides the *net.TCPConn, so a server's large frame goes out in buffer-sized writes
// rather than with writev.
func newCountedPair(t testing.TB, r role) (*ws.Conn, *rawPeer, *writeCounter) {
	t.Helper()
	var wc *writeCounter
	c, p := newDeflatePair(t, r, readWhole, nil, ws.CompressionDisabled, 15, 15, func(nc net.Conn) net.Conn {
		wc = &writeCounter{Conn: nc}
		return wc
	})
	return c, p, wc
}

// connFrame encodes a final frame as the Conn under test sends it: masked with the key of
// SetMaskKeyForTest when it is the client (§5.3), unmasked when it is the server (§5.1).
func (p *rawPeer) connFrame(opcode byte, payload []byte) []byte {
	return encodeFrame(true, 0, opcode, payload, !p.client, p.key)
}

// expectBytes reads exactly len(want) bytes and compares them with want.
func (p *rawPeer) expectBytes(want []byte) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if n, err := io.ReadFull(p.br, got); err != nil {
		p.t.Fatalf("raw peer: read %d of %d bytes: %v (got % x)", n, len(want), err, got[:min(n, 64)])
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		p.t.Fatalf("raw peer: bytes differ at offset %d of %d:\n got % x\nwant % x", i, len(want), got[i:min(i+32, len(got))], want[i:min(i+32, len(want))])
	}
}

// expectSilence checks that the Conn under test sends nothing for d.
func (p *rawPeer) expectSilence(d time.Duration) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := p.br.Read(b[:])
	if n > 0 {
		p.t.Fatalf("raw peer: want nothing sent yet, got byte %#x", b[0])
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		p.t.Fatalf("raw peer: want nothing sent yet, got %v", err)
	}
}

// queueMsg is a message for Queue, or for QueuePrepared when prepared is set.
type queueMsg struct {
	typ      ws.MessageType
	data     []byte
	prepared bool
}

// queueAll queues each message, failing the test on error.
func queueAll(t testing.TB, c *ws.Conn, msgs []queueMsg) {
	t.Helper()
	ctx := context.Background()
	for i, m := range msgs {
		var err error
		if m.prepared {
			pm, perr := ws.NewPreparedMessage(m.typ, m.data)
			if perr != nil {
				t.Fatal(perr)
			}
			err = c.QueuePrepared(ctx, pm)
		} else {
			err = c.Queue(ctx, m.typ, m.data)
		}
		if err != nil {
			t.Fatalf("queueing message %d: %v", i, err)
		}
	}
}

// wireOf returns the frames of msgs as the Conn under test sends them, uncompressed.
func (p *rawPeer) wireOf(msgs []queueMsg) []byte {
	var out []byte
	for _, m := range msgs {
		out = append(out, p.connFrame(byte(m.typ), m.data)...)
	}
	return out
}

// smallMessages are messages whose frames use each length encoding that fits a queue
// (§5.2: 7-bit, and 16-bit from 126 bytes), the empty message, and a prepared one.
func smallMessages() []queueMsg {
	return []queueMsg{
		{typ: ws.MessageText, data: []byte("Hello")},
		{typ: ws.MessageBinary, data: bytes.Repeat([]byte{0xa5}, 125)},
		{typ: ws.MessageBinary, data: bytes.Repeat([]byte{0x5a}, 126)},
		{typ: ws.MessageText, data: nil},
		{typ: ws.MessageText, data: []byte("prepared"), prepared: true},
		{typ: ws.MessageBinary, data: deflatePayload(1000, true, 7)},
		{typ: ws.MessageText, data: []byte("last")},
	}
}

// TestQueueSendsNothingUntilFlush: Queue and QueuePrepared send nothing by themselves;
// Flush then sends every queued frame, in order, byte for byte as §5.2 encodes them (and
// masked by a client, §5.3); a second Flush sends nothing.
func TestQueueSendsNothingUntilFlush(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			msgs := smallMessages()
			queueAll(t, c, msgs)
			p.expectSilence(50 * time.Millisecond)
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(p.wireOf(msgs))
			if err := c.Flush(context.Background()); err != nil {
				t.Fatalf("second Flush: %v", err)
			}
			p.expectSilence(20 * time.Millisecond)
		})
	}
}

// TestQueueFlushOneWrite: what Flush sends goes out in one write.
func TestQueueFlushOneWrite(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p, wc := newCountedPair(t, r)
			msgs := smallMessages()
			queueAll(t, c, msgs)
			if w := wc.writes(); len(w) != 0 {
				t.Fatalf("Queue wrote %v before Flush", w)
			}
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := p.wireOf(msgs)
			if w := wc.writes(); len(w) != 1 || w[0] != len(want) {
				t.Fatalf("Flush of %d messages made writes of %v bytes; want one of %d", len(msgs), w, len(want))
			}
			p.expectBytes(want)
		})
	}
}

// TestQueueFull: a burst of queued messages larger than the queue (64 KiB) goes out as
// the queue fills, each write a full queue, and in order.
func TestQueueFull(t *testing.T) {
	const n, size = 200, 1000
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p, wc := newCountedPair(t, r)
			frames := p.collect(time.Now(), false)
			ctx := context.Background()
			for i := range n {
				msg := binary.BigEndian.AppendUint32(make([]byte, 0, size), uint32(i))
				msg = append(msg, deflatePayload(size-4, true, uint64(i))...)
				if err := c.Queue(ctx, ws.MessageBinary, msg); err != nil {
					t.Fatal(err)
				}
			}
			before := wc.writes()
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			frameSize := len(p.connFrame(0x2, make([]byte, size)))
			if len(before) < n*frameSize/(64<<10) {
				t.Fatalf("%d bytes queued in writes of %v bytes before Flush; want the full queue sent each time it fills (64 KiB)", n*frameSize, before)
			}
			for _, s := range before {
				if s > 64<<10 || s < 64<<10-2*frameSize {
					t.Fatalf("writes of %v bytes before Flush; want each a full queue: at most 64 KiB, less than two frames short of it", before)
				}
			}
			if after := wc.writes(); len(after) != len(before)+1 {
				t.Fatalf("Flush made %d writes; want 1", len(after)-len(before))
			}
			for i := range n {
				f := next1(t, frames)
				if f.opcode != 0x2 || !f.fin || len(f.payload) != size || binary.BigEndian.Uint32(f.payload) != uint32(i) {
					t.Fatalf("frame %d: opcode %#x fin %v, %d bytes, number %d", i, f.opcode, f.fin, len(f.payload), binary.BigEndian.Uint32(f.payload))
				}
			}
		})
	}
}

// next1 returns the next frame collected, within ten seconds.
func next1(t testing.TB, frames <-chan timedFrame) wireFrame {
	t.Helper()
	select {
	case f, ok := <-frames:
		if !ok {
			t.Fatal("raw peer stopped reading")
		}
		if f.err != nil {
			t.Fatalf("raw peer: %v", f.err)
		}
		return f.wireFrame
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	panic("unreachable")
}

// TestQueueLargeMessage: a message too large for the queue is sent at once, after the
// queue, whole; what is queued after it waits for Flush.
func TestQueueLargeMessage(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			frames := p.collect(time.Now(), false)
			ctx := context.Background()
			large := deflatePayload(100<<10, true, 1)
			for _, s := range []string{"a", "b", "c"} {
				if err := c.Queue(ctx, ws.MessageText, []byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Queue(ctx, ws.MessageBinary, large); err != nil {
				t.Fatal(err)
			}
			if err := c.Queue(ctx, ws.MessageText, []byte("d")); err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"a", "b", "c"} {
				if f := next1(t, frames); f.opcode != 0x1 || !f.fin || string(f.payload) != s {
					t.Fatalf("want %q first, got opcode %#x payload %.20q", s, f.opcode, f.payload)
				}
			}
			if f := next1(t, frames); f.opcode != 0x2 || !f.fin || !bytes.Equal(f.payload, large) {
				t.Fatalf("want the 100 KiB message whole, got opcode %#x fin %v, %d bytes", f.opcode, f.fin, len(f.payload))
			}
			select {
			case f := <-frames:
				t.Fatalf("before Flush, got frame %+v (error %v)", f.wireFrame, f.err)
			case <-time.After(50 * time.Millisecond):
			}
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if f := next1(t, frames); f.opcode != 0x1 || string(f.payload) != "d" {
				t.Fatalf("want \"d\" after Flush, got opcode %#x payload %.20q", f.opcode, f.payload)
			}
		})
	}
}

// TestQueueThenWrite: a frame sent by any other call goes out after what is queued.
func TestQueueThenWrite(t *testing.T) {
	queued := []queueMsg{{typ: ws.MessageText, data: []byte("one")}, {typ: ws.MessageBinary, data: []byte("two")}}
	for _, r := range roles {
		t.Run(r.String()+"/Write", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			queueAll(t, c, queued)
			if err := c.Write(context.Background(), ws.MessageText, []byte("write")); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(append(p.wireOf(queued), p.connFrame(0x1, []byte("write"))...))
		})
		t.Run(r.String()+"/WriteLarge", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			frames := p.collect(time.Now(), false)
			queueAll(t, c, queued)
			large := deflatePayload(70<<10, true, 2) // writev for a server
			if err := c.Write(context.Background(), ws.MessageBinary, large); err != nil {
				t.Fatal(err)
			}
			for _, m := range queued {
				if f := next1(t, frames); !bytes.Equal(f.payload, m.data) {
					t.Fatalf("want %q, got %.20q", m.data, f.payload)
				}
			}
			if f := next1(t, frames); !bytes.Equal(f.payload, large) {
				t.Fatalf("want the large message, got %d bytes", len(f.payload))
			}
		})
		t.Run(r.String()+"/WritePrepared", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			queueAll(t, c, queued)
			pm, err := ws.NewPreparedMessage(ws.MessageBinary, []byte("prepared"))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WritePrepared(context.Background(), pm); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(append(p.wireOf(queued), p.connFrame(0x2, []byte("prepared"))...))
		})
		t.Run(r.String()+"/Ping", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			results := readAll(context.Background(), c) // to receive the pong
			queueAll(t, c, queued)
			pinged := make(chan error, 1)
			go func() { pinged <- c.PingPayload(context.Background(), []byte("ping")) }()
			p.expectBytes(append(p.wireOf(queued), p.connFrame(0x9, []byte("ping"))...))
			p.send(true, 0xA, []byte("ping"))
			select {
			case err := <-pinged:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("PingPayload did not return within 10s")
			}
			c.CloseNow()
			next(t, results)
		})
		t.Run(r.String()+"/Writer", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			queueAll(t, c, queued)
			if err := writeInChunks(context.Background(), c, ws.MessageText, []byte("written in parts"), 5); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(p.wireOf(queued))
			if op, rsv1, payload, _ := p.readMessageFrames(); op != 0x1 || rsv1 || string(payload) != "written in parts" {
				t.Fatalf("got opcode %#x rsv1 %v payload %q", op, rsv1, payload)
			}
		})
		t.Run(r.String()+"/QueueAfterWrite", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			ctx := context.Background()
			queueAll(t, c, queued[:1])
			if err := c.Write(ctx, ws.MessageText, []byte("write")); err != nil {
				t.Fatal(err)
			}
			queueAll(t, c, queued[1:])
			p.expectBytes(append(p.wireOf(queued[:1]), p.connFrame(0x1, []byte("write"))...))
			p.expectSilence(30 * time.Millisecond)
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(p.wireOf(queued[1:]))
		})
	}
}

// queueEcho echoes what c reads with Queue and never Flush: each queued echo must go out
// when the next read waits for the network. The channel yields the error that ended it.
func queueEcho(c *ws.Conn) <-chan error {
	errc := make(chan error, 1)
	go func() {
		ctx := context.Background()
		var buf []byte
		for {
			typ, p, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				errc <- err
				return
			}
			buf = p
			if err := c.Queue(ctx, typ, p); err != nil {
				errc <- err
				return
			}
		}
	}()
	return errc
}

// TestQueueEchoReadFlushes: a peer that waits for each echo before sending the next
// message gets every echo, though the echoing Conn only queues them: its read, finding
// nothing to read, sends the queue before it waits.
func TestQueueEchoReadFlushes(t *testing.T) {
	for _, r := range roles {
		for _, m := range readModes {
			t.Run(r.String()+"/"+m.String(), func(t *testing.T) {
				c, p := newPair(t, r, m, nil)
				errc := queueEcho(c)
				for i := range 100 {
					msg := fmt.Appendf(nil, "message %d", i)
					p.send(true, 0x1, msg)
					f, err := p.readFrameWithin(2 * time.Second)
					if err != nil {
						t.Fatalf("message %d: no echo: %v", i, err)
					}
					if f.opcode != 0x1 || !f.fin || !bytes.Equal(f.payload, msg) {
						t.Fatalf("message %d: got opcode %#x payload %q", i, f.opcode, f.payload)
					}
				}
				p.closeNormally(errc)
			})
		}
	}
}

// TestQueueEchoPipelined: sixteen messages sent in one write are echoed in one write, or
// two if they arrive in two reads.
func TestQueueEchoPipelined(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p, wc := newCountedPair(t, r)
			errc := queueEcho(c)
			var burst []byte
			for i := range 16 {
				burst = append(burst, p.frame(true, 0, 0x1, fmt.Appendf(nil, "message %d", i))...)
			}
			p.write(burst)
			for i := range 16 {
				p.expectEcho(fmt.Appendf(nil, "message %d", i))
			}
			if w := wc.writes(); len(w) < 1 || len(w) > 2 {
				t.Fatalf("16 echoes sent in writes of %v bytes; want 1 or 2 writes", w)
			}
			p.closeNormally(errc)
		})
	}
}

// TestQueueReaderReadFlushes: a read of a message's payload that has to wait for the
// network sends the queue first, also when it reads straight into a large destination
// (Reader.Read with a buffer of at least ReadBufferSize): here the peer sends half a
// message and waits for an answer to it before sending the rest.
func TestQueueReaderReadFlushes(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			ctx := context.Background()
			msg := deflatePayload(100<<10, true, 3)
			whole := p.frame(true, 0, 0x2, msg)
			head := len(whole) - len(msg) + 100 // the header and 100 bytes of payload
			p.write(whole[:head])
			_, rd, err := c.Reader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(rd, got[:100]); err != nil {
				t.Fatal(err)
			}
			if err := c.Queue(ctx, ws.MessageText, []byte("ack")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := io.ReadFull(rd, got[100:])
				done <- err
			}()
			f, err := p.readFrameWithin(time.Second)
			if err != nil {
				t.Errorf("the queued \"ack\" was not sent while Reader.Read waited for the network: %v", err)
			} else if f.opcode != 0x1 || string(f.payload) != "ack" {
				t.Errorf("got opcode %#x payload %q; want \"ack\"", f.opcode, f.payload)
			}
			p.write(whole[head:])
			select {
			case err := <-done:
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("read the message: %v (equal %v)", err, bytes.Equal(got, msg))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Reader.Read did not return within 10s")
			}
		})
	}
}

// TestQueueClose: Close sends what is queued before its close frame (§7.1.2: no data frame
// may follow the close frame, so queued data must precede it).
func TestQueueClose(t *testing.T) {
	queued := []queueMsg{{typ: ws.MessageText, data: []byte("one")}, {typ: ws.MessageBinary, data: []byte("two")}, {typ: ws.MessageText, data: []byte("prepared"), prepared: true}}
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			queueAll(t, c, queued)
			closed := make(chan error, 1)
			go func() { closed <- c.Close(ws.StatusNormalClosure, "bye") }()
			p.expectBytes(append(p.wireOf(queued), p.connFrame(0x8, closePayload(1000, "bye"))...))
			p.answerClose(closePayload(1000, ""))
			select {
			case err := <-closed:
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return within 10s")
			}
			if err := c.Queue(context.Background(), ws.MessageText, []byte("late")); err == nil {
				t.Error("Queue after Close returned nil")
			}
			if _, err := c.TryFlush(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("TryFlush after Close = %v; want an error wrapping net.ErrClosed", err)
			}
		})
	}
}

// TestQueueCloseNow: CloseNow drops what is queued, and later calls say the connection is
// closed (net.ErrClosed), as Write does.
func TestQueueCloseNow(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String()+"/Queue", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			queueAll(t, c, smallMessages())
			c.CloseNow()
			p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if b, err := io.ReadAll(p.br); len(b) != 0 {
				t.Fatalf("after CloseNow the peer got % x (%v); want the queue dropped", b[:min(len(b), 32)], err)
			}
			expectWritesClosed(t, c, "CloseNow")
		})
		t.Run(r.String()+"/Flush", func(t *testing.T) {
			c, _ := newPair(t, r, readWhole, nil)
			queueAll(t, c, smallMessages())
			c.CloseNow()
			if err := c.Flush(context.Background()); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Flush after CloseNow dropped the queue = %v; want an error wrapping net.ErrClosed", err)
			}
		})
	}
}

// TestQueueMisuse: Flush with nothing queued does nothing; Queue refuses a type other than
// text or binary, and a context already ended, queueing nothing.
func TestQueueMisuse(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p, wc := newCountedPair(t, r)
			ctx := context.Background()
			if err := c.Flush(ctx); err != nil {
				t.Fatalf("Flush with nothing queued: %v", err)
			}
			for _, typ := range []ws.MessageType{0, 3, 8, 9} {
				if err := c.Queue(ctx, typ, []byte("x")); err == nil {
					t.Errorf("Queue of type %d returned nil", typ)
				}
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if err := c.Queue(cancelled, ws.MessageText, []byte("x")); !errors.Is(err, context.Canceled) {
				t.Errorf("Queue with a cancelled context = %v; want context.Canceled", err)
			}
			pm, _ := ws.NewPreparedMessage(ws.MessageText, []byte("x"))
			if err := c.QueuePrepared(cancelled, pm); !errors.Is(err, context.Canceled) {
				t.Errorf("QueuePrepared with a cancelled context = %v; want context.Canceled", err)
			}
			expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
			defer cancel2()
			if err := c.Queue(expired, ws.MessageText, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Queue with an expired context = %v; want context.DeadlineExceeded", err)
			}
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if w := wc.writes(); len(w) != 0 {
				t.Fatalf("writes of %v bytes; want nothing queued, nothing sent", w)
			}
			p.expectSilence(20 * time.Millisecond)
			if err := c.Write(ctx, ws.MessageText, []byte("after")); err != nil {
				t.Fatal(err)
			}
			p.expectBytes(p.connFrame(0x1, []byte("after")))
		})
	}
}

// decodedMessage reads one message from the Conn under test and decompresses it if it has
// RSV1 (RFC 7692 §7.2.2), with window as the messages before under context takeover; it
// returns the payload and the window to use next.
func (p *rawPeer) decodedMessage(takeover bool, window []byte) (op byte, compressed bool, msg, nextWindow []byte) {
	p.t.Helper()
	op, rsv1, payload, _ := p.readMessageFrames()
	if !rsv1 {
		return op, false, payload, window
	}
	if !takeover {
		window = nil
	}
	msg, err := inflateMessage(payload, window)
	if err != nil {
		p.t.Fatalf("decompressing a message of %d bytes: %v", len(payload), err)
	}
	if takeover {
		window = append(window, msg...)
		window = window[max(0, len(window)-32<<10):]
	}
	return op, true, msg, window
}

// TestQueueCompressed: with permessage-deflate, queued messages from the Threshold (128
// bytes) up are compressed (RSV1, RFC 7692 §7.2.1) as Write would, and decode in order,
// with the window of the messages before under context takeover.
func TestQueueCompressed(t *testing.T) {
	sizes := []int{10, 200, 1000, 5000, 70000, 127, 128}
	testQueuedCompressed(t, sizes, func(t *testing.T, c *ws.Conn, p *rawPeer) {
		p.expectSilence(50 * time.Millisecond)
		if err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// testQueuedCompressed queues messages of the given sizes on a compressing Conn, in every
// mode and role, sends them with send, and checks that the peer decodes each in order:
// compressed from the Threshold (128 bytes) up, with the window of the messages before
// under context takeover.
func testQueuedCompressed(t *testing.T, sizes []int, send func(t *testing.T, c *ws.Conn, p *rawPeer)) {
	for _, mode := range deflateModes {
		takeover := mode == ws.CompressionContextTakeover
		for _, r := range roles {
			t.Run(fmt.Sprint(mode, "/", r), func(t *testing.T) {
				c, p := newDeflatePair(t, r, readWhole, nil, mode, 15, 15, nil)
				ctx := context.Background()
				var msgs [][]byte
				for i, n := range sizes {
					m := deflatePayload(n, false, uint64(i))
					msgs = append(msgs, m)
					if err := c.Queue(ctx, ws.MessageText, m); err != nil {
						t.Fatal(err)
					}
				}
				send(t, c, p)
				var window []byte
				for i, m := range msgs {
					var op byte
					var compressed bool
					var got []byte
					op, compressed, got, window = p.decodedMessage(takeover, window)
					if compressed != (len(m) >= 128) {
						t.Errorf("message %d of %d bytes: compressed %v", i, len(m), compressed)
					}
					if op != 0x1 || !bytes.Equal(got, m) {
						t.Fatalf("message %d of %d bytes: opcode %#x, decoded %d bytes, not the message", i, len(m), op, len(got))
					}
				}
			})
		}
	}
}

// TestQueueCompressedMixed: Queue, Write, QueuePrepared and WritePrepared of compressed
// messages, one after the other, decode in order: the window the peer decompresses with
// stays that of the Conn's compressor (RFC 7692 §7.2.3.2) however each was sent.
func TestQueueCompressedMixed(t *testing.T) {
	for _, mode := range deflateModes {
		takeover := mode == ws.CompressionContextTakeover
		for _, r := range roles {
			t.Run(fmt.Sprint(mode, "/", r), func(t *testing.T) {
				c, p := newDeflatePair(t, r, readWhole, nil, mode, 15, 15, nil)
				ctx := context.Background()
				m1 := deflatePayload(3000, false, 1)
				m2 := deflatePayload(2000, false, 2)
				m3 := deflatePayload(4000, false, 3)
				pm, err := ws.NewPreparedMessage(ws.MessageText, m3)
				if err != nil {
					t.Fatal(err)
				}
				steps := []struct {
					name string
					do   func() error
					msg  []byte
				}{
					{"Queue", func() error { return c.Queue(ctx, ws.MessageText, m1) }, m1},
					{"Write", func() error { return c.Write(ctx, ws.MessageText, m2) }, m2},
					{"QueuePrepared", func() error { return c.QueuePrepared(ctx, pm) }, m3},
					{"Queue of a copy", func() error { return c.Queue(ctx, ws.MessageText, m3) }, m3},
					{"WritePrepared", func() error { return c.WritePrepared(ctx, pm) }, m3},
					{"Queue after", func() error { return c.Queue(ctx, ws.MessageText, m1) }, m1},
				}
				for _, s := range steps {
					if err := s.do(); err != nil {
						t.Fatalf("%s: %v", s.name, err)
					}
				}
				if err := c.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				var window []byte
				for _, s := range steps {
					var compressed bool
					var got []byte
					_, compressed, got, window = p.decodedMessage(takeover, window)
					if !compressed || !bytes.Equal(got, s.msg) {
						t.Fatalf("%s: compressed %v, decoded %d bytes, not the message", s.name, compressed, len(got))
					}
				}
			})
		}
	}
}

// TestQueueConcurrent: goroutines that Queue, QueuePrepared, Flush, Write and stream with
// Writer at once on one Conn, while it reads and answers the peer's pings, send every
// message whole, each goroutine's in its order (§5.4; §5.5: control frames may come
// between). Run it with -race.
func TestQueueConcurrent(t *testing.T) {
	const goroutines, perGoroutine = 4, 60
	for _, mode := range []ws.CompressionMode{ws.CompressionDisabled, ws.CompressionContextTakeover} {
		takeover := mode == ws.CompressionContextTakeover
		for _, r := range roles {
			t.Run(fmt.Sprint(mode, "/", r), func(t *testing.T) {
				c, p := newDeflatePair(t, r, readWhole, nil, mode, 15, 15, nil)
				ctx := context.Background()
				results := readAll(ctx, c) // answers pings, and flushes the queue when it waits
				msgs := make([][][]byte, goroutines)
				for g := range msgs {
					for i := range perGoroutine {
						size := 10 + (g*131+i*977)%3000
						if i == perGoroutine/2 {
							size = 70 << 10 // larger than the queue
						}
						m := fmt.Appendf(nil, "%d %d ", g, i)
						m = append(m, deflatePayload(size, false, uint64(g*1000+i))...)
						msgs[g] = append(msgs[g], m)
					}
				}

				// The peer reads every message and pings now and then.
				type received struct {
					msgs int
					err  error
				}
				done := make(chan received, 1)
				stopPings := make(chan struct{})
				var pinger sync.WaitGroup
				pinger.Go(func() {
					for {
						select {
						case <-stopPings:
							return
						case <-time.After(time.Millisecond):
						}
						p.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
						if _, err := p.nc.Write(p.frame(true, 0, 0x9, []byte("p"))); err != nil {
							return
						}
					}
				})
				go func() {
					nextSeq := make([]int, goroutines)
					var window []byte
					total := 0
					for total < goroutines*perGoroutine {
						op, compressed, payload, err := readMessageRaw(p)
						if err != nil {
							done <- received{total, err}
							return
						}
						if compressed {
							if !takeover {
								window = nil
							}
							if payload, err = inflateMessage(payload, window); err != nil {
								done <- received{total, fmt.Errorf("message %d: %v", total, err)}
								return
							}
							if takeover {
								window = append(window, payload...)
								window = window[max(0, len(window)-32<<10):]
							}
						}
						var g, i int
						if _, err := fmt.Sscanf(string(payload[:min(len(payload), 16)]), "%d %d ", &g, &i); err != nil || g < 0 || g >= goroutines || i < 0 || i >= perGoroutine {
							done <- received{total, fmt.Errorf("message %d: opcode %#x, payload %.30q", total, op, payload)}
							return
						}
						if i != nextSeq[g] || !bytes.Equal(payload, msgs[g][i]) {
							done <- received{total, fmt.Errorf("goroutine %d: got its message %d (%d bytes, whole %v), want message %d", g, i, len(payload), i >= 0 && i < perGoroutine && bytes.Equal(payload, msgs[g][i]), nextSeq[g])}
							return
						}
						nextSeq[g]++
						total++
					}
					done <- received{total, nil}
				}()

				var wg sync.WaitGroup
				errs := make(chan error, goroutines)
				for g := range goroutines {
					wg.Go(func() {
						for i, m := range msgs[g] {
							var err error
							switch i % 6 {
							case 0, 5:
								err = c.Queue(ctx, ws.MessageBinary, m)
							case 1:
								if err = c.Queue(ctx, ws.MessageBinary, m); err == nil {
									err = c.Flush(ctx)
								}
							case 2:
								err = c.Write(ctx, ws.MessageBinary, m)
							case 3:
								var pm *ws.PreparedMessage
								if pm, err = ws.NewPreparedMessage(ws.MessageBinary, m); err == nil {
									err = c.QueuePrepared(ctx, pm)
								}
							case 4:
								err = writeInChunks(ctx, c, ws.MessageBinary, m, 1000)
							}
							if err != nil {
								errs <- fmt.Errorf("goroutine %d, message %d: %w", g, i, err)
								return
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				if err := c.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				select {
				case got := <-done:
					if got.err != nil {
						t.Errorf("after %d messages: %v", got.msgs, got.err)
					}
				case <-time.After(30 * time.Second):
					t.Error("the peer did not get every message within 30s")
				}
				close(stopPings)
				pinger.Wait()
				c.CloseNow()
				for res := range results {
					if res.err == nil {
						t.Errorf("the Conn read a message %.20q; the peer sent none", res.msg)
					}
				}
			})
		}
	}
}

// readMessageRaw is rawPeer.readMessageFrames for a goroutine other than the test's: it
// returns an error rather than failing the test, and skips control frames.
func readMessageRaw(p *rawPeer) (op byte, compressed bool, payload []byte, err error) {
	frames := 0
	for {
		f, err := p.readFrame()
		if err != nil {
			return 0, false, nil, err
		}
		if f.opcode >= 0x8 {
			continue
		}
		if frames == 0 {
			if f.opcode == 0 {
				return 0, false, nil, errors.New("a message starts with a continuation frame")
			}
			op, compressed = f.opcode, f.rsv == 0x40
		} else if f.opcode != 0 || f.rsv != 0 {
			return 0, false, nil, fmt.Errorf("frame %d of a message: opcode %#x, RSV %#x", frames, f.opcode, f.rsv)
		}
		frames++
		payload = append(payload, f.payload...)
		if f.fin {
			return op, compressed, payload, nil
		}
	}
}

// TestQueueAllocs pins Queue and Flush (and over TCP TryFlush, queued or not) at zero
// allocations once warmed up, as a server and as a client, over net.Pipe and loopback
// TCP (as TestAllocsPerMessage does Write).
func TestQueueAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector (sync.Pool drops items)")
	}
	for _, tr := range allocTransports {
		for _, client := range []bool{false, true} {
			role := "server"
			if client {
				role = "client"
			}
			for _, size := range []int{16, 1 << 10} {
				t.Run(fmt.Sprintf("%s/%s/%d", tr.name, role, size), func(t *testing.T) {
					c := discardingConn(t, tr.pair, client)
					ctx := context.Background()
					msg := make([]byte, size)
					flushes := []struct {
						name  string
						flush func() error
					}{{"Flush", func() error { return c.Flush(ctx) }}}
					if tr.name == "tcp" { // over a pipe, TryFlush sends nothing
						// Once the first has made the connection's try writer; a peer
						// that is behind is waited for, without allocating either.
						flushes = append(flushes, struct {
							name  string
							flush func() error
						}{"TryFlush", func() error {
							sent, err := c.TryFlush()
							if err == nil && !sent {
								err = c.Flush(ctx)
							}
							return err
						}})
					}
					const perFlush = 8
					for _, f := range flushes {
						queue := func() {
							for range perFlush {
								if err := c.Queue(ctx, ws.MessageBinary, msg); err != nil {
									t.Fatal(err)
								}
							}
							if err := f.flush(); err != nil {
								t.Fatal(err)
							}
						}
						for range allocRuns {
							queue()
						}
						if n := testing.AllocsPerRun(allocRuns, queue); n != 0 {
							t.Errorf("%d Queues of %d bytes and a %s allocate %v times; want 0", perFlush, size, f.name, n)
						}
					}
					if tr.name == "tcp" {
						empty := func() {
							if sent, err := c.TryFlush(); !sent || err != nil {
								t.Fatalf("TryFlush with nothing queued = %v, %v", sent, err)
							}
						}
						if n := testing.AllocsPerRun(allocRuns, empty); n != 0 {
							t.Errorf("TryFlush with nothing queued allocates %v times; want 0", n)
						}
					}
				})
			}
		}
	}
}

// expectWritesClosed checks that every way to write on c, the connection having ended
// (after says how), returns an error wrapping net.ErrClosed.
func expectWritesClosed(t testing.TB, c *ws.Conn, after string) {
	t.Helper()
	ctx := context.Background()
	if err := c.Write(ctx, ws.MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after %s = %v; want an error wrapping net.ErrClosed", after, err)
	}
	if err := c.Queue(ctx, ws.MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Queue after %s = %v; want an error wrapping net.ErrClosed", after, err)
	}
	pm, _ := ws.NewPreparedMessage(ws.MessageText, []byte("late"))
	if err := c.QueuePrepared(ctx, pm); !errors.Is(err, net.ErrClosed) {
		t.Errorf("QueuePrepared after %s = %v; want an error wrapping net.ErrClosed", after, err)
	}
	if err := c.Flush(ctx); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Flush after %s = %v; want an error wrapping net.ErrClosed", after, err)
	}
	if _, err := c.TryFlush(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("TryFlush after %s = %v; want an error wrapping net.ErrClosed", after, err)
	}
	if err := c.Write(ctx, ws.MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Write after %s = %v; want an error wrapping net.ErrClosed", after, err)
	}
}
