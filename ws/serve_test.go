package ws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Conn.Serve's own tests. The conformance tests run Serve too, as the echoing Conn of
// their Serve modes (readServe, readServeHalf in rawpeer_test.go): framing, pings, reserved
// bits, opcodes, fragmentation, UTF-8 and limits.

// serveModes are the two ways Serve reads: its own read path (plain TCP on Unix) and the
// fallback (any other net.Conn).
var serveModes = []readMode{readServe, readServeHalf}

// serveAsync runs Serve with handle on a goroutine and returns the channel of its result.
func serveAsync(c *ws.Conn, ctx context.Context, idle time.Duration, handle func(ws.MessageType, []byte) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, idle, handle) }()
	return done
}

// TestServeEchoBursts sends messages of sizes on both sides of the read buffer's (4 KiB),
// whole and in pieces, alone and many in one write, with pings between: every message
// reaches handle once, in order, intact, and every reply queued in handle goes out
// (RFC 6455 §5.2, §5.4, §5.5.2).
func TestServeEchoBursts(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 1000, 4000, 4096, 5000, 65536, 300 << 10}
	eachServeEcho(t, (*ws.Conn).Queue, func(t *testing.T, r role, p *rawPeer, done <-chan error) {
		// One message a write.
		for _, n := range sizes {
			msg := binaryOf(n)
			p.send(true, 0x2, msg)
			expectFrame(t, p, r, true, 0x2, msg)
		}
		// A burst in one write, pings between, the last message cut in two.
		var burst []byte
		var want [][]byte
		for i, n := range sizes {
			msg := textOf(n)
			burst = append(burst, p.frame(true, 0, 0x1, msg)...)
			burst = append(burst, p.frame(true, 0, 0x9, fmt.Appendf(nil, "ping %d", i))...)
			want = append(want, msg)
		}
		last := textOf(3000)
		lastFrame := p.frame(true, 0, 0x1, last)
		p.write(append(burst, lastFrame[:1500]...))
		time.Sleep(10 * time.Millisecond)
		p.write(lastFrame[1500:])
		want = append(want, last)
		got := 0
		for got < len(want) {
			f := p.mustReadFrame()
			switch f.opcode {
			case 0xA:
			case 0x1:
				if !bytes.Equal(f.payload, want[got]) {
					t.Fatalf("echo %d: %d bytes, want %d", got, len(f.payload), len(want[got]))
				}
				got++
			default:
				t.Fatalf("unexpected frame, opcode %#x", f.opcode)
			}
		}
		p.closeNormally(done)
	})
}

// eachServeEcho runs test for each role and Serve mode with a Conn that Serves, sending
// each message back with send ((*ws.Conn).Write or Queue), and the raw peer that talks to it.
func eachServeEcho(t *testing.T, send func(*ws.Conn, context.Context, ws.MessageType, []byte) error, test func(t *testing.T, r role, p *rawPeer, done <-chan error)) {
	for _, r := range roles {
		for _, m := range serveModes {
			t.Run(r.String()+"/"+m.String(), func(t *testing.T) {
				c, p := newPair(t, r, m, nil)
				ctx := context.Background()
				done := serveAsync(c, ctx, 0, func(typ ws.MessageType, b []byte) error {
					return send(c, ctx, typ, b)
				})
				test(t, r, p, done)
			})
		}
	}
}

// TestServeLargeFrames sends frames larger than the read buffer, up to the largest that
// Serve reads whole into one buffer (2 MiB with its header) and past it, arriving at once
// and in pieces, each followed by a small message after a pause: every message reaches
// handle intact and in order, and a small one is not held back by the receive low-water
// mark that Serve sets while a large frame arrives (RFC 6455 §5.2).
func TestServeLargeFrames(t *testing.T) {
	eachServeEcho(t, (*ws.Conn).Write, func(t *testing.T, r role, p *rawPeer, done <-chan error) {
		header := 10 // 8-byte length
		if r == asServer {
			header += 4 // and the masking key
		}
		largest := 2<<20 - header
		for _, n := range []int{4097, 20000, 65536, 100_000, 1 << 20, largest, largest + 1} {
			for _, piece := range []int{0, 48 << 10} {
				msg := binaryOf(n)
				frame := p.frame(true, 0, 0x2, msg)
				if piece == 0 {
					p.write(frame)
				} else {
					for len(frame) > 0 {
						k := min(piece, len(frame))
						p.write(frame[:k])
						frame = frame[k:]
						time.Sleep(time.Millisecond)
					}
				}
				expectFrame(t, p, r, true, 0x2, msg)
				time.Sleep(5 * time.Millisecond)
				small := fmt.Appendf(nil, "after %d in pieces of %d", n, piece)
				p.send(true, 0x1, small)
				expectFrame(t, p, r, true, 0x1, small)
			}
		}
		p.closeNormally(done)
	})
}

// TestServeLargeFrameMemory: a frame's header alone does not make Serve take memory: its
// read buffer grows with what has arrived of a frame, to at most about four times that.
// A Serve whose context ends inside a frame leaves it buffered, the connection usable, and
// a Read then waits for the rest as for any message, however little follows it.
func TestServeLargeFrameMemory(t *testing.T) {
	c, p := newPair(t, asServer, readServe, nil)
	msg := binaryOf(1536 << 10)
	frame := p.frame(true, 0, 0x2, msg)
	sent := 0
	for _, upTo := range []int{1000, 30 << 10, 200 << 10} {
		p.write(frame[sent:upTo])
		sent = upTo
		ctx, cancel := context.WithCancel(context.Background())
		done := serveAsync(c, ctx, 0, func(ws.MessageType, []byte) error {
			t.Error("handle called with a frame in part")
			return nil
		})
		time.Sleep(30 * time.Millisecond)
		cancel()
		if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve = %v; want context.Canceled", err)
		}
		size, unread := ws.ReadBufferForTest(c)
		if unread != sent {
			t.Fatalf("after %d bytes of the frame, %d are buffered", sent, unread)
		}
		if size > max(4096, 4*sent) {
			t.Fatalf("after %d bytes of a frame of %d, the read buffer is %d bytes", sent, len(frame), size)
		}
	}
	// The rest of the frame, then a small message on its own.
	p.write(frame[sent:])
	results := readAll(context.Background(), c)
	if got := next(t, results); got.err != nil || !bytes.Equal(got.msg, msg) {
		t.Fatalf("Read = %d bytes, %v; want the %d-byte message", len(got.msg), got.err, len(msg))
	}
	time.Sleep(5 * time.Millisecond)
	p.send(true, 0x1, []byte("small"))
	if got := next(t, results); got.err != nil || string(got.msg) != "small" {
		t.Fatalf("Read = %q, %v; want \"small\"", got.msg, got.err)
	}
	p.send(true, 0x8, []byte{0x03, 0xe8})
	p.expectClose(ws.StatusNormalClosure)
}

// TestServeHandlerError: Serve returns what handle returns, and the messages after it stay
// for the reads that follow; the connection stays usable.
func TestServeHandlerError(t *testing.T) {
	for _, m := range serveModes {
		t.Run(m.String(), func(t *testing.T) {
			c, p := newPair(t, asServer, m, nil)
			stop := errors.New("stop")
			p.write(append(p.frame(true, 0, 0x1, []byte("one")), p.frame(true, 0, 0x1, []byte("two"))...))
			var seen []string
			err := c.Serve(context.Background(), 0, func(_ ws.MessageType, b []byte) error {
				seen = append(seen, string(b))
				return stop
			})
			if err != stop || len(seen) != 1 || seen[0] != "one" {
				t.Fatalf("Serve = %v after %q; want stop after [one]", err, seen)
			}
			_, msg, err := c.Read(context.Background())
			if err != nil || string(msg) != "two" {
				t.Fatalf("Read after Serve = %q, %v; want two", msg, err)
			}
			errc := echo(c)
			p.closeNormally(errc)
		})
	}
}

// TestServeIdle: with idle > 0, Serve returns nil once nothing has arrived for idle, and
// not while messages keep coming; the connection stays usable, for Serve again too.
func TestServeIdle(t *testing.T) {
	for _, m := range serveModes {
		t.Run(m.String(), func(t *testing.T) {
			c, p := newPair(t, asServer, m, nil)
			const idle = 100 * time.Millisecond
			ctx := context.Background()
			var n int
			handle := func(typ ws.MessageType, b []byte) error {
				n++
				return c.Write(ctx, typ, b)
			}
			done := serveAsync(c, ctx, idle, handle)
			for i := range 8 { // for about 4 idle periods
				msg := fmt.Appendf(nil, "msg %d", i)
				p.send(true, 0x1, msg)
				p.expectEcho(msg)
				select {
				case err := <-done:
					t.Fatalf("Serve returned %v while messages came", err)
				case <-time.After(idle / 2):
				}
			}
			expectIdleReturn(t, done, 10*idle)
			if n != 8 {
				t.Fatalf("handle saw %d messages, want 8", n)
			}
			p.send(true, 0x1, []byte("again"))
			done = serveAsync(c, ctx, idle, handle)
			p.expectEcho([]byte("again"))
			p.closeNormally(done)
		})
	}
}

// TestServeIdleAfterSlowMessage: a message that takes longer than idle to arrive is read
// whole, and idle counts again after it: Serve returns once the connection is quiet. On
// Serve's own path, a binary frame of 20 KiB is read whole into the read buffer, a text
// frame the usual way (UTF-8 is checked as it arrives).
func TestServeIdleAfterSlowMessage(t *testing.T) {
	for _, m := range serveModes {
		for _, op := range []byte{0x1, 0x2} {
			t.Run(fmt.Sprintf("%s/opcode=%d", m, op), func(t *testing.T) {
				testServeIdleAfterSlowMessage(t, m, op)
			})
		}
	}
}

func testServeIdleAfterSlowMessage(t *testing.T, m readMode, op byte) {
	c, p := newPair(t, asServer, m, nil)
	const idle = 50 * time.Millisecond
	ctx := context.Background()
	done := serveAsync(c, ctx, idle, func(typ ws.MessageType, b []byte) error {
		return c.Write(ctx, typ, b)
	})
	msg := payloadOf(op, 20<<10) // more than the read buffer
	frame := p.frame(true, 0, op, msg)
	p.write(frame[:1000])
	time.Sleep(3 * idle) // the idle deadline passes inside the message
	p.write(frame[1000:])
	expectFrame(t, p, asServer, true, op, msg)
	expectIdleReturn(t, done, 40*idle)
	errc := echo(c)
	p.closeNormally(errc)
}

// expectIdleReturn waits, at most within, for the Serve of done to return nil, as it does
// once the connection has been quiet for its idle period.
func expectIdleReturn(t *testing.T, done <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v; want nil once idle", err)
		}
	case <-time.After(within):
		t.Fatal("Serve did not return on idle")
	}
}

// TestServeContext: a context that ends while Serve waits for a message ends it with the
// context's error, the connection staying usable.
func TestServeContext(t *testing.T) {
	for _, m := range serveModes {
		t.Run(m.String(), func(t *testing.T) {
			c, p := newPair(t, asServer, m, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := serveAsync(c, ctx, 0, func(ws.MessageType, []byte) error { return nil })
			time.Sleep(20 * time.Millisecond)
			cancel()
			if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
				t.Fatalf("Serve = %v; want context.Canceled", err)
			}
			errc := echo(c)
			p.send(true, 0x1, []byte("still open"))
			p.expectEcho([]byte("still open"))
			p.closeNormally(errc)
		})
	}
}

// TestServeCloseInHandle: Close called in handle sends the close frame and returns nil at
// once; Serve reads on, handing over the messages that were on the way, until the peer's
// close frame (§7.1.2), and returns it. A peer that never answers is given up after
// CloseTimeout with 1006.
func TestServeCloseInHandle(t *testing.T) {
	for _, m := range serveModes {
		t.Run(m.String()+"/answered", func(t *testing.T) {
			c, p := newPair(t, asServer, m, nil)
			var seen []string
			closeErr := make(chan error, 1)
			done := serveAsync(c, context.Background(), 0, func(_ ws.MessageType, b []byte) error {
				seen = append(seen, string(b))
				if string(b) == "bye" {
					closeErr <- c.Close(ws.StatusNormalClosure, "done")
				}
				return nil
			})
			p.send(true, 0x1, []byte("bye"))
			if code, reason := parseClose(t, p.mustReadFrame()); code != ws.StatusNormalClosure || reason != "done" {
				t.Fatalf("close frame %d %q; want 1000 done", code, reason)
			}
			if err := waitErr(t, closeErr); err != nil {
				t.Fatalf("Close in handle = %v; want nil", err)
			}
			p.send(true, 0x1, []byte("on the way"))
			p.send(true, 0x8, closePayload(1000, ""))
			p.expectEOF()
			if err := waitErr(t, done); ws.CloseStatus(err) != ws.StatusNormalClosure {
				t.Fatalf("Serve = %v; want the peer's close, 1000", err)
			}
			if len(seen) != 2 || seen[1] != "on the way" {
				t.Fatalf("handle saw %q; want [bye on the way]", seen)
			}
		})
		t.Run(m.String()+"/unanswered", func(t *testing.T) {
			c, p := newPair(t, asServer, m, &ws.ConnOptions{CloseTimeout: 200 * time.Millisecond})
			done := serveAsync(c, context.Background(), 0, func(ws.MessageType, []byte) error {
				c.Close(ws.StatusGoingAway, "")
				return nil
			})
			p.send(true, 0x1, []byte("x"))
			if code, _ := parseClose(t, p.mustReadFrame()); code != ws.StatusGoingAway {
				t.Fatalf("close frame %d; want 1001", code)
			}
			if err := waitErr(t, done); ws.CloseStatus(err) != ws.StatusAbnormalClosure {
				t.Fatalf("Serve = %v; want 1006 once CloseTimeout passed", err)
			}
			p.expectEOF()
		})
	}
}

// TestServeCloseNow: CloseNow, in handle or from another goroutine while Serve waits, ends
// Serve at once with an error wrapping net.ErrClosed, and the peer sees the connection end.
func TestServeCloseNow(t *testing.T) {
	for _, m := range serveModes {
		t.Run(m.String()+"/in_handle", func(t *testing.T) {
			c, p := newPair(t, asServer, m, nil)
			var n int
			done := serveAsync(c, context.Background(), 0, func(ws.MessageType, []byte) error {
				n++
				c.CloseNow()
				return nil
			})
			p.write(append(p.frame(true, 0, 0x1, []byte("a")), p.frame(true, 0, 0x1, []byte("b"))...))
			p.expectEOF()
			if err := waitErr(t, done); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Serve = %v; want an error wrapping net.ErrClosed", err)
			}
			if n != 1 {
				t.Fatalf("handle called %d times; want once, none after CloseNow", n)
			}
			expectWritesClosed(t, c, "CloseNow in handle")
		})
		t.Run(m.String()+"/while_waiting", func(t *testing.T) {
			c, p := newPair(t, asServer, m, nil)
			done := serveAsync(c, context.Background(), 0, func(ws.MessageType, []byte) error { return nil })
			p.send(true, 0x1, []byte("a"))
			p.probe("read")
			c.CloseNow()
			p.expectEOF()
			if err := waitErr(t, done); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Serve = %v; want an error wrapping net.ErrClosed", err)
			}
		})
	}
}

// TestServeCloseFromOtherGoroutine: Close called elsewhere while Serve waits performs the
// whole handshake, Serve reading the peer's answer, and both return it.
func TestServeCloseFromOtherGoroutine(t *testing.T) {
	for _, m := range serveModes {
		t.Run(m.String(), func(t *testing.T) {
			c, p := newPair(t, asServer, m, nil)
			done := serveAsync(c, context.Background(), 0, func(ws.MessageType, []byte) error { return nil })
			p.probe("serving")
			closeErr := make(chan error, 1)
			go func() { closeErr <- c.Close(ws.StatusNormalClosure, "") }()
			if code, _ := parseClose(t, p.mustReadFrame()); code != ws.StatusNormalClosure {
				t.Fatalf("close frame %d; want 1000", code)
			}
			p.send(true, 0x8, closePayload(1000, ""))
			p.expectEOF()
			if err := waitErr(t, closeErr); err != nil {
				t.Fatalf("Close = %v; want nil, the peer having answered", err)
			}
			if err := waitErr(t, done); ws.CloseStatus(err) != ws.StatusNormalClosure {
				t.Fatalf("Serve = %v; want the peer's close, 1000", err)
			}
		})
	}
}

// TestServeKeepalive: keepalive closing a connection whose peer leaves its pings
// unanswered ends Serve, which reports 1006.
func TestServeKeepalive(t *testing.T) {
	for _, m := range serveModes {
		t.Run(m.String(), func(t *testing.T) {
			c, p := newPair(t, asServer, m, &ws.ConnOptions{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond})
			done := serveAsync(c, context.Background(), 0, func(ws.MessageType, []byte) error { return nil })
			if err := waitErr(t, done); ws.CloseStatus(err) != ws.StatusAbnormalClosure {
				t.Fatalf("Serve = %v; want keepalive's end, 1006", err)
			}
			p.nc.Close()
		})
	}
}

// TestServeAllocs pins Serve's steady state: a message read, handed over and its echo
// queued and sent allocates nothing, in its own read path (messages that fit the read
// buffer) and the usual one (larger).
func TestServeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector (sync.Pool drops items)")
	}
	for _, size := range []int{16, 1024, 64 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			local, peer := allocTCPPair(t)
			c := ws.NewConnForTest(local, false, nil)
			ctx := context.Background()
			done := serveAsync(c, ctx, 0, func(typ ws.MessageType, b []byte) error {
				return c.Queue(ctx, typ, b)
			})
			defer func() {
				c.CloseNow()
				peer.Close()
				<-done
			}()
			frame := allocFrame(size, true)
			reply := make([]byte, len(frame)-4) // unmasked
			echo := func() {
				if _, err := peer.Write(frame); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(peer, reply); err != nil {
					t.Fatal(err)
				}
			}
			for range allocRuns {
				echo()
			}
			if n := testing.AllocsPerRun(allocRuns, echo); n != 0 {
				t.Errorf("Serve echoing %d bytes allocates %v times per message, want 0", size, n)
			}
		})
	}
}

// TestServeConcurrentWriters: other goroutines write while Serve's handle queues and the
// connection is closed under them: no race, no hang, every reader and writer returns.
func TestServeConcurrentWriters(t *testing.T) {
	c, p := newPair(t, asServer, readServe, nil)
	ctx := context.Background()
	done := serveAsync(c, ctx, 0, func(typ ws.MessageType, b []byte) error {
		return c.Queue(ctx, typ, b)
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for c.Write(ctx, ws.MessageBinary, []byte("w")) == nil {
			}
		})
	}
	go io.Copy(io.Discard, p.nc)
	for i := range 200 {
		p.nc.Write(p.frame(true, 0, 0x2, fmt.Appendf(nil, "m%d", i)))
	}
	c.CloseNow()
	wg.Wait()
	waitErr(t, done)
}
