package ws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// serveWhenReadable echoes every message c receives, reading only when WhenReadable says
// a read is due, and closes done when a read fails, with its error.
func serveWhenReadable(c *ws.Conn, reads *atomic.Int64) (done <-chan error) {
	errc := make(chan error, 1)
	ctx := context.Background()
	var serve func()
	serve = func() {
		for {
			typ, p, err := c.Read(ctx)
			if reads != nil {
				reads.Add(1)
			}
			if err != nil {
				errc <- err
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				errc <- err
				return
			}
			if c.Buffered() == 0 {
				break
			}
		}
		c.WhenReadable(serve)
	}
	c.WhenReadable(serve)
	return errc
}

// RFC 6455 §5.6 and §6.2: messages are read as they arrive, whether the reader waits in
// Read or in WhenReadable; every mode of reading gets every message, in order.
func TestWhenReadableEcho(t *testing.T) {
	for _, r := range roles {
		for _, mode := range readModes {
			t.Run(fmt.Sprintf("%v/%v", r, mode), func(t *testing.T) {
				c, p := newPair(t, r, mode, nil)
				done := serveWhenReadable(c, nil)
				for i := range 50 {
					msg := []byte(fmt.Sprintf("message %d", i))
					if i%10 == 9 {
						// Several messages in one write: the later ones are buffered
						// when the first has been read.
						p.write(append(append(p.frame(true, 0, 0x1, msg), p.frame(true, 0, 0x1, msg)...), p.frame(true, 0, 0x1, msg)...))
						for range 3 {
							p.expectEcho(msg)
						}
						continue
					}
					p.send(true, 0x1, msg)
					p.expectEcho(msg)
				}
				p.closeNormally(done)
			})
		}
	}
}

// A connection closed while its WhenReadable waits calls the function, whose read returns
// the closing's error; CloseNow from another goroutine, a graceful Close whose closing
// handshake the waiting connection's Close reads itself (§7.1.2), and the peer's
// disconnection (§7.1.5, 1006) each end the wait.
func TestWhenReadableEnds(t *testing.T) {
	cases := []struct {
		name string
		end  func(c *ws.Conn, p *rawPeer)
		want func(error) bool
	}{
		{"CloseNow", func(c *ws.Conn, p *rawPeer) { c.CloseNow() },
			func(err error) bool { return errors.Is(err, net.ErrClosed) }},
		{"Close", func(c *ws.Conn, p *rawPeer) {
			go func() {
				p.readFrame() // the close frame
				p.write(p.frame(true, 0, 0x8, []byte{0x03, 0xe9}))
			}()
			c.Close(ws.StatusGoingAway, "bye")
		}, func(err error) bool { return err != nil }},
		{"peer gone", func(c *ws.Conn, p *rawPeer) { p.nc.Close() },
			func(err error) bool { return ws.CloseStatus(err) == ws.StatusAbnormalClosure }},
		{"peer close frame", func(c *ws.Conn, p *rawPeer) { p.send(true, 0x8, []byte{0x03, 0xe8}) },
			func(err error) bool { return ws.CloseStatus(err) == ws.StatusNormalClosure }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, p := newPair(t, asServer, readWhole, nil)
			var reads atomic.Int64
			done := serveWhenReadable(c, &reads)
			p.send(true, 0x1, []byte("one"))
			p.expectEcho([]byte("one"))
			waitFor(t, func() bool { return ws.WaitingForTest(c) })
			tc.end(c, p)
			select {
			case err := <-done:
				if !tc.want(err) {
					t.Fatalf("the read after the wait returned %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the waiting function was not called")
			}
			if ws.WaitingForTest(c) {
				t.Error("a wait is still registered")
			}
		})
	}
}

// WhenReadable's function runs once per call, never twice, even when waits and closes
// race: many connections register, some are closed at once, others get a message, and
// every function runs exactly once. Tokens, not descriptors, key the registrations, so
// a descriptor number reused after a close does not fire a stale wait.
func TestWhenReadableOncePerCall(t *testing.T) {
	const n = 200
	var calls atomic.Int64
	for i := range n {
		c, p := newPair(t, asServer, readWhole, nil)
		fired := make(chan struct{}, 2)
		c.WhenReadable(func() {
			calls.Add(1)
			fired <- struct{}{}
		})
		switch i % 3 {
		case 0:
			c.CloseNow()
		case 1:
			p.send(true, 0x1, []byte("x"))
		case 2:
			p.nc.Close()
		}
		select {
		case <-fired:
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d: function not called", i)
		}
		c.CloseNow()
	}
	time.Sleep(50 * time.Millisecond) // room for a wrong second call
	if got := calls.Load(); got != n {
		t.Fatalf("%d calls for %d waits", got, n)
	}
}

// A second WhenReadable while one is pending, or one while a read is in progress, runs its
// function at once rather than being lost.
func TestWhenReadableBusy(t *testing.T) {
	c, p := newPair(t, asServer, readWhole, nil)
	first := make(chan struct{}, 1)
	c.WhenReadable(func() { first <- struct{}{} })
	second := make(chan struct{})
	c.WhenReadable(func() { close(second) })
	select {
	case <-second:
	case <-time.After(5 * time.Second):
		t.Fatal("second function not called while the first waits")
	}
	select {
	case <-first:
		t.Fatal("first function called with nothing to read")
	case <-time.After(50 * time.Millisecond):
	}
	p.send(true, 0x1, []byte("x"))
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("first function not called when a message arrived")
	}
}

// Keepalive (§5.5.2, §5.5.3) works while the connection waits in WhenReadable: each pong
// makes it readable, the function's read takes the pong, and the connection stays open.
func TestWhenReadableKeepalive(t *testing.T) {
	c, p := newPair(t, asServer, readWhole, &ws.ConnOptions{PingInterval: 20 * time.Millisecond, PongTimeout: time.Second})
	done := serveWhenReadable(c, nil)
	for range 5 {
		f := p.mustReadFrame()
		if f.opcode != 0x9 {
			t.Fatalf("got opcode %#x, want a ping", f.opcode)
		}
		p.send(true, 0xA, f.payload)
	}
	select {
	case err := <-done:
		t.Fatalf("connection ended while pongs came: %v", err)
	default:
	}
	p.send(true, 0x1, []byte("still here"))
	for {
		f := p.mustReadFrame()
		if f.opcode == 0x1 {
			if string(f.payload) != "still here" {
				t.Fatalf("echo %q", f.payload)
			}
			break
		}
		p.send(true, 0xA, f.payload)
	}
	c.CloseNow()
	<-done
}

// Idle connections waiting in WhenReadable hold no goroutine and no buffer: a thousand of
// them add a few goroutines at most (the package's one poller), and a small part of a read
// buffer each to the heap.
func TestWhenReadableIdleHoldsNoGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2000 sockets")
	}
	const n = 1000
	type pair struct {
		c    *ws.Conn
		p    *rawPeer
		done <-chan error
	}
	// Start the poller first, so that its goroutine is in the baseline.
	warm, _ := newPair(t, asServer, readWhole, nil)
	warm.WhenReadable(func() {})
	pairs := make([]pair, 0, n)
	for range n {
		c, p := newPair(t, asServer, readWhole, &ws.ConnOptions{ReadBufferSize: 64 << 10})
		pairs = append(pairs, pair{c: c, p: p})
	}
	before := runtime.NumGoroutine()
	for i := range pairs {
		pr := &pairs[i]
		pr.done = serveWhenReadable(pr.c, nil)
		pr.p.send(true, 0x1, []byte("hello"))
	}
	for i := range pairs {
		pairs[i].p.expectEcho([]byte("hello"))
	}
	waitFor(t, func() bool { return runtime.NumGoroutine()-before < 10 })
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d idle connections: %d goroutines more than before; heap in use %d KiB", n, runtime.NumGoroutine()-before, ms.HeapInuse>>10)
	if ms.HeapInuse > n*(16<<10) {
		t.Errorf("heap in use %d KiB for %d idle connections: read buffers (64 KiB) held while waiting", ms.HeapInuse>>10, n)
	}
	for _, pr := range pairs {
		pr.c.CloseNow()
		<-pr.done
	}
}

// waitFor polls cond until it holds, or fails the test after five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
	}
}

// WaitReadable waits on the calling goroutine: false after d with nothing received, the
// connection still usable; true as soon as a frame arrives, which the read then gets; and
// it sends what Queue added before it waits. A lost connection counts as readable, and
// the read reports it as 1006 (§7.1.5).
func TestWaitReadable(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			ctx := context.Background()
			c, p := newPair(t, r, readWhole, nil)
			if err := c.Queue(ctx, ws.MessageText, []byte("queued")); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if c.WaitReadable(30 * time.Millisecond) {
				t.Fatal("WaitReadable = true with nothing sent")
			}
			if d := time.Since(start); d < 30*time.Millisecond {
				t.Fatalf("WaitReadable returned after %v, before its 30ms", d)
			}
			p.expectEcho([]byte("queued")) // sent before the wait
			if c.WaitReadable(0) {
				t.Fatal("WaitReadable(0) = true with nothing sent")
			}
			go func() {
				time.Sleep(10 * time.Millisecond)
				p.send(true, 0x1, []byte("late"))
			}()
			if !c.WaitReadable(5 * time.Second) {
				t.Fatal("WaitReadable = false though a message came")
			}
			if c.Buffered() == 0 {
				t.Fatal("the message WaitReadable saw is not buffered")
			}
			_, msg, err := c.Read(ctx)
			if err != nil || string(msg) != "late" {
				t.Fatalf("Read = %q, %v", msg, err)
			}
			p.nc.Close()
			if !c.WaitReadable(5 * time.Second) {
				t.Fatal("WaitReadable = false on a lost connection")
			}
			if _, _, err := c.Read(ctx); ws.CloseStatus(err) != ws.StatusAbnormalClosure {
				t.Fatalf("Read after the loss = %v, want 1006", err)
			}
		})
	}
}

// TestWaitReadableLingers checks the deadline WaitReadable keeps from one call to the next:
// a connection whose messages keep coming never gives up, however many waits share the
// deadline; one that goes quiet gives up after d to 2d; and each is the same on the next
// round.
func TestWaitReadableLingers(t *testing.T) {
	const d = 100 * time.Millisecond
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			ctx := context.Background()
			c, p := newPair(t, r, readWhole, nil)
			for round := range 2 {
				// Messages every d/4 for 3d: the deadline set by the first wait passes
				// with messages since, and is set again.
				done := make(chan struct{})
				go func() {
					defer close(done)
					for range 12 {
						p.send(true, 0x1, []byte("tick"))
						time.Sleep(d / 4)
					}
				}()
				for i := range 12 {
					if !c.WaitReadable(d) {
						t.Fatalf("round %d: WaitReadable = false before message %d, which came within d/4", round, i)
					}
					if _, msg, err := c.Read(ctx); err != nil || string(msg) != "tick" {
						t.Fatalf("Read = %q, %v", msg, err)
					}
				}
				<-done
				start := time.Now()
				if c.WaitReadable(d) {
					t.Fatal("WaitReadable = true with nothing sent")
				}
				if waited := time.Since(start); waited < d || waited > 2*d+time.Second {
					t.Fatalf("round %d: WaitReadable gave up after %v, want d to 2d (d = %v)", round, waited, d)
				}
			}
		})
	}
}

// TestReadOutlastsWaitReadable checks that the deadline WaitReadable leaves set does not end
// a read that waits longer: the rest of a message that comes after it is read, and so is a
// message after a long silence.
func TestReadOutlastsWaitReadable(t *testing.T) {
	const d = 50 * time.Millisecond
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			ctx := context.Background()
			c, p := newPair(t, r, readWhole, nil)
			frame := p.frame(true, 0, 0x2, []byte("the two halves of one message"))
			p.write(frame[:8])
			if !c.WaitReadable(d) {
				t.Fatal("WaitReadable = false with half a frame sent")
			}
			go func() {
				time.Sleep(4 * d)
				p.write(frame[8:])
			}()
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "the two halves of one message" {
				t.Fatalf("Read across the deadline = %q, %v", msg, err)
			}
			go func() {
				time.Sleep(4 * d)
				p.send(true, 0x1, []byte("after a silence"))
			}()
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "after a silence" {
				t.Fatalf("Read after a silence = %q, %v", msg, err)
			}
			// A message larger than the read buffer, whose payload is read straight
			// into the destination rather than through the buffer.
			big := bytes.Repeat([]byte("large "), 40<<10)
			frame = p.frame(true, 0, 0x2, big)
			p.write(frame[:1000])
			if !c.WaitReadable(d) {
				t.Fatal("WaitReadable = false with part of a frame sent")
			}
			go func() {
				time.Sleep(4 * d)
				p.write(frame[1000:])
			}()
			if _, msg, err := c.ReadAppend(ctx, make([]byte, 0, len(big))); err != nil || !bytes.Equal(msg, big) {
				t.Fatalf("Read of %d bytes across the deadline = %d bytes, %v", len(big), len(msg), err)
			}
		})
	}
}

// TestReadContextWithLingeringDeadline checks that a read's context still ends the read
// while WaitReadable's deadline is set, that the connection stays usable (no message was
// open), and that WaitReadable then still gives up on a quiet connection: the context's
// end cleared every deadline, which WaitReadable must set again.
func TestReadContextWithLingeringDeadline(t *testing.T) {
	const d = 200 * time.Millisecond
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			p.send(true, 0x1, []byte("first"))
			if !c.WaitReadable(d) {
				t.Fatal("WaitReadable = false with a message sent")
			}
			if _, _, err := c.Read(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), d/4)
			defer cancel()
			start := time.Now()
			if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Read with a context ending after d/4 = %v, want its deadline", err)
			}
			if waited := time.Since(start); waited > d/2+time.Second {
				t.Fatalf("the context ended the read after %v, not d/4", waited)
			}
			start = time.Now()
			if c.WaitReadable(d) {
				t.Fatal("WaitReadable = true with nothing sent")
			}
			if waited := time.Since(start); waited < d || waited > 2*d+time.Second {
				t.Fatalf("WaitReadable gave up after %v, want d to 2d (d = %v)", waited, d)
			}
			p.send(true, 0x1, []byte("still open"))
			if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "still open" {
				t.Fatalf("Read = %q, %v", msg, err)
			}
		})
	}
}
