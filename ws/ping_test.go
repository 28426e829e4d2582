package ws_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Tests of pings, pongs and keepalive (RFC 6455 §5.5.2, §5.5.3), in fake time: each runs in
// a synctest bubble over net.Pipe (newPipePair), where the clock moves only when every
// goroutine is blocked, so timings are exact.

// frameTimes returns the times at which the peer received frames of opcode op.
func frameTimes(frames []timedFrame, op byte) []time.Duration {
	var at []time.Duration
	for _, f := range frames {
		if f.err == nil && f.opcode == op {
			at = append(at, f.at)
		}
	}
	return at
}

// drain returns the frames collected so far, without waiting.
func drain(frames <-chan timedFrame) []timedFrame {
	var out []timedFrame
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				return out
			}
			out = append(out, f)
		default:
			return out
		}
	}
}

// TestPingPong checks Conn.Ping (RFC 6455 §5.5.2): it sends a ping and returns once the
// pong with the same payload (§5.5.3) arrives, which a concurrent reader receives. Several
// pings may be in flight at once, each waiting for its own pong.
func TestPingPong(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, nil)
				start := time.Now()
				frames := p.collect(start, true)
				ctx := context.Background()
				results := readAll(ctx, c)
				if err := c.Ping(ctx); err != nil {
					t.Fatalf("Ping: %v", err)
				}
				var wg sync.WaitGroup
				for range 10 {
					wg.Go(func() {
						if err := c.Ping(ctx); err != nil {
							t.Errorf("concurrent Ping: %v", err)
						}
					})
				}
				wg.Wait()
				if elapsed := time.Since(start); elapsed != 0 {
					t.Errorf("pings answered at once took %v", elapsed)
				}
				synctest.Wait()
				got := drain(frames)
				payloads := map[string]bool{}
				for _, f := range got {
					if f.opcode != 0x9 || !f.fin {
						t.Fatalf("peer got %+v, want only pings", f)
					}
					payloads[string(f.payload)] = true
				}
				if len(got) != 11 || len(payloads) != 11 {
					t.Errorf("peer got %d pings with %d distinct payloads, want 11 and 11", len(got), len(payloads))
				}
				select {
				case res := <-results:
					t.Fatalf("Read returned %q, %v", res.msg, res.err)
				default:
				}
			})
		})
	}
}

// TestPingPongPayloadMustMatch checks that only the pong with the ping's payload answers
// it (§5.5.3): the peer first answers with a pong of another payload, and with the right
// one two seconds later; Ping returns then.
func TestPingPongPayloadMustMatch(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, nil)
				start := time.Now()
				frames := p.collect(start, false)
				ctx := context.Background()
				readAll(ctx, c)
				done := make(chan error, 1)
				go func() { done <- c.Ping(ctx) }()
				f := <-frames
				if f.opcode != 0x9 {
					t.Fatalf("peer got %+v, want a ping", f)
				}
				wrong := append([]byte(nil), f.payload...)
				wrong[len(wrong)-1] ^= 0xFF
				p.write(p.frame(true, 0, 0xA, wrong))
				p.write(p.frame(true, 0, 0xA, []byte("unrelated")))
				time.Sleep(2 * time.Second)
				select {
				case err := <-done:
					t.Fatalf("Ping returned %v on a pong with another payload", err)
				default:
				}
				p.write(p.frame(true, 0, 0xA, f.payload))
				if err := <-done; err != nil {
					t.Fatalf("Ping: %v", err)
				}
				if elapsed := time.Since(start); elapsed != 2*time.Second {
					t.Errorf("Ping returned after %v, want 2s", elapsed)
				}
			})
		})
	}
}

// TestPingNoPong checks that Ping gives up when its context ends: when the peer never
// answers, and when nobody reads the connection (pongs arrive through reads; see the
// package documentation's Concurrency section); the connection stays usable. A Ping still
// waiting when the connection closes returns at once with net.ErrClosed.
func TestPingNoPong(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String()+"/silent-peer", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, nil)
				start := time.Now()
				frames := p.collect(start, false)
				results := readAll(context.Background(), c)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := c.Ping(ctx)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Ping: %v, want context.DeadlineExceeded", err)
				}
				if elapsed := time.Since(start); elapsed != 5*time.Second {
					t.Errorf("Ping returned after %v, want 5s", elapsed)
				}
				// Still usable.
				if err := c.Write(context.Background(), ws.MessageText, []byte("still here")); err != nil {
					t.Fatalf("Write: %v", err)
				}
				p.send(true, 0x1, []byte("and you?"))
				if res := <-results; res.err != nil || string(res.msg) != "and you?" {
					t.Fatalf("Read: %q %v", res.msg, res.err)
				}
				synctest.Wait()
				got := drain(frames)
				if len(got) != 2 || got[0].opcode != 0x9 || got[1].opcode != 0x1 {
					t.Fatalf("peer got %+v, want a ping and the text", got)
				}
			})
		})
		t.Run(r.String()+"/canceled", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, nil)
				p.collect(time.Now(), false)
				readAll(context.Background(), c)
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Second, cancel)
				if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
					t.Errorf("Ping: %v, want context.Canceled", err)
				}
			})
		})
		t.Run(r.String()+"/closed-while-waiting", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, nil)
				p.collect(time.Now(), false)
				readAll(context.Background(), c)
				time.AfterFunc(time.Second, func() { c.CloseNow() })
				start := time.Now()
				if err := c.Ping(context.Background()); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Ping: %v, want an error wrapping net.ErrClosed", err)
				}
				if elapsed := time.Since(start); elapsed != time.Second {
					t.Errorf("Ping returned after %v, want 1s", elapsed)
				}
			})
		})
		t.Run(r.String()+"/nobody-reads", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, nil)
				start := time.Now()
				p.collect(start, true) // answers, but the pong is never read
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Ping: %v, want context.DeadlineExceeded", err)
				}
				if elapsed := time.Since(start); elapsed != 3*time.Second {
					t.Errorf("Ping returned after %v, want 3s", elapsed)
				}
				// A reader now receives the pong that was waiting, and the next ping works.
				readAll(context.Background(), c)
				if err := c.Ping(context.Background()); err != nil {
					t.Errorf("Ping with a reader: %v", err)
				}
			})
		})
	}
}

// TestPingHooks checks OnPing and OnPong (RFC 6455 §5.5.2, §5.5.3): OnPing sees the payload
// of each ping, which the pong then carries back unchanged — empty, text, binary, 125 bytes
// (the most a control frame holds, §5.5; Autobahn 2.1–2.4) — and OnPong sees each pong,
// solicited or not; an unsolicited pong gets no answer (Autobahn 2.7, 2.8).
func TestPingHooks(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var pings, pongs []string
				opts := &ws.ConnOptions{
					OnPing: func(b []byte) { mu.Lock(); pings = append(pings, string(b)); mu.Unlock() },
					OnPong: func(b []byte) { mu.Lock(); pongs = append(pongs, string(b)); mu.Unlock() },
				}
				c, p := newPipePair(t, r, opts)
				frames := p.collect(time.Now(), true)
				ctx := context.Background()
				readAll(ctx, c)
				payloads := []string{"", "hello", "\x00\xff\xfe binary", strings.Repeat("p", 125)}
				for _, pl := range payloads {
					p.send(true, 0x9, []byte(pl))
					f := <-frames
					if f.opcode != 0xA || string(f.payload) != pl {
						t.Fatalf("ping %q answered with opcode %#x payload %q", pl, f.opcode, f.payload)
					}
				}
				p.send(true, 0xA, nil) // Autobahn 2.7: an unsolicited pong without payload
				p.send(true, 0xA, []byte("unsolicited"))
				if err := c.Ping(ctx); err != nil {
					t.Fatalf("Ping: %v", err)
				}
				f := <-frames
				if f.opcode != 0x9 || len(f.payload) != 8 {
					t.Fatalf("peer got %+v, want the Conn's ping", f)
				}
				synctest.Wait()
				if got := drain(frames); len(got) != 0 {
					t.Errorf("peer got %+v, want nothing in answer to a pong", got)
				}
				mu.Lock()
				defer mu.Unlock()
				if strings.Join(pings, "|") != strings.Join(payloads, "|") {
					t.Errorf("OnPing saw %q, want %q", pings, payloads)
				}
				if len(pongs) != 3 || pongs[0] != "" || pongs[1] != "unsolicited" || pongs[2] != string(f.payload) {
					t.Errorf("OnPong saw %q, want \"\", \"unsolicited\" and the ping's payload %q", pongs, f.payload)
				}
			})
		})
	}
}

// keepaliveOpts pings every 10 s and waits 5 s for an answer.
var keepaliveOpts = &ws.ConnOptions{PingInterval: 10 * time.Second, PongTimeout: 5 * time.Second}

// TestKeepaliveAnswered checks keepalive (ConnOptions.PingInterval, RFC 6455 §5.5.2: "a
// Ping frame may serve ... as a keepalive"): a peer that answers every ping is pinged every
// PingInterval and stays connected across many intervals.
func TestKeepaliveAnswered(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, keepaliveOpts)
				start := time.Now()
				frames := p.collect(start, true)
				results := readAll(context.Background(), c)
				time.Sleep(10*time.Minute + time.Second)
				synctest.Wait()
				got := drain(frames)
				at := frameTimes(got, 0x9)
				if len(at) != 60 || len(got) != 60 {
					t.Fatalf("peer got %d frames, %d pings, want 60 pings in 10 minutes: %v", len(got), len(at), at)
				}
				for i, d := range at {
					if want := time.Duration(i+1) * 10 * time.Second; d != want {
						t.Fatalf("ping %d at %v, want %v", i, d, want)
					}
				}
				select {
				case res := <-results:
					t.Fatalf("Read returned %v", res.err)
				default:
				}
				if err := c.Write(context.Background(), ws.MessageText, []byte("alive")); err != nil {
					t.Fatalf("Write: %v", err)
				}
				if f := <-frames; f.opcode != 0x1 {
					t.Fatalf("peer got %+v", f)
				}
			})
		})
	}
}

// TestKeepaliveSilentPeer checks that keepalive ends the connection with a peer that stops
// answering: a ping at PingInterval, and when neither its pong nor any frame has come
// within PongTimeout, a close frame with 1011 (§7.4.1: "an unexpected condition") and the
// end of the connection; the local Read fails with CloseStatus 1006 (§7.1.5: no close frame
// was received). PongTimeout zero means PingInterval.
func TestKeepaliveSilentPeer(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *ws.ConnOptions
		ping time.Duration
		end  time.Duration
	}{
		{"pong-timeout-5s", keepaliveOpts, 10 * time.Second, 15 * time.Second},
		{"pong-timeout-default", &ws.ConnOptions{PingInterval: 10 * time.Second}, 10 * time.Second, 20 * time.Second},
	} {
		for _, r := range roles {
			t.Run(tc.name+"/"+r.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					c, p := newPipePair(t, r, tc.opts)
					start := time.Now()
					frames := p.collect(start, false)
					results := readAll(context.Background(), c)
					res := <-results
					if elapsed := time.Since(start); elapsed != tc.end {
						t.Errorf("Read failed after %v, want %v", elapsed, tc.end)
					}
					if got := ws.CloseStatus(res.err); got != ws.StatusAbnormalClosure {
						t.Errorf("Read: %v, CloseStatus %d; want 1006", res.err, got)
					}
					var got []timedFrame
					for f := range frames {
						got = append(got, f)
					}
					if len(got) != 3 || got[0].opcode != 0x9 || got[0].at != tc.ping || got[1].opcode != 0x8 || got[1].at != tc.end || got[2].err == nil || got[2].at != tc.end {
						t.Fatalf("peer got %+v; want a ping at %v, then a close frame and the end at %v", got, tc.ping, tc.end)
					}
					if code := binary.BigEndian.Uint16(got[1].payload); code != uint16(ws.StatusInternalError) {
						t.Errorf("close code %d, want 1011", code)
					}
					if err := c.Write(context.Background(), ws.MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
						t.Errorf("Write after keepalive closed: %v", err)
					}
				})
			})
		}
	}
}

// TestKeepaliveAnyFrame checks that any frame from the peer counts as a sign of life: a
// peer that never answers pings but sends a frame every 4 s — a text, binary, ping or
// unsolicited pong — stays connected, since each 5 s wait for a pong sees one.
func TestKeepaliveAnyFrame(t *testing.T) {
	for _, kind := range []struct {
		name   string
		opcode byte
	}{{"text", 0x1}, {"binary", 0x2}, {"ping", 0x9}, {"pong", 0xA}} {
		for _, r := range roles {
			t.Run(kind.name+"/"+r.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					c, p := newPipePair(t, r, keepaliveOpts)
					start := time.Now()
					frames := p.collect(start, false)
					// Count what Read returns as it comes, so that the reader never waits.
					results := readAll(context.Background(), c)
					counted := make(chan int, 1)
					go func() {
						messages := 0
						for res := range results {
							if res.err != nil {
								if !errors.Is(res.err, net.ErrClosed) {
									t.Errorf("Read: %v", res.err)
								}
								break
							}
							messages++
						}
						counted <- messages
					}()
					stop := make(chan struct{})
					sent := make(chan int, 1)
					go func() {
						n := 0
						defer func() { sent <- n }()
						for {
							select {
							case <-stop:
								return
							case <-time.After(4 * time.Second):
							}
							if _, err := p.nc.Write(p.frame(true, 0, kind.opcode, []byte("tick"))); err != nil {
								return
							}
							n++
						}
					}()
					time.Sleep(5 * time.Minute)
					close(stop)
					n := <-sent
					synctest.Wait()
					for _, f := range drain(frames) {
						if f.err != nil || f.opcode == 0x8 {
							t.Fatalf("peer got %+v at %v: the connection was closed", f, f.at)
						}
					}
					c.CloseNow()
					messages := <-counted
					if kind.opcode <= 0x2 && messages != n {
						t.Errorf("read %d messages, peer sent %d", messages, n)
					}
				})
			})
		}
	}
}

// TestKeepaliveStopsAfterClose checks that keepalive sends nothing once the connection is
// closed.
func TestKeepaliveStopsAfterClose(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, keepaliveOpts)
				frames := p.collect(time.Now(), true)
				readAll(context.Background(), c)
				time.Sleep(25 * time.Second) // two pings
				c.CloseNow()
				time.Sleep(time.Minute)
				var pings int
				for f := range frames {
					if f.err == nil && f.opcode == 0x9 {
						pings++
					}
				}
				if pings != 2 {
					t.Errorf("peer got %d pings, want 2", pings)
				}
			})
		})
	}
}

// TestKeepaliveDuringClose checks that keepalive does not cut short a closing handshake in
// progress (RFC 6455 §7.1.2): Close is called at 9 s, just before a ping is due, and the
// peer answers at 12 s, within CloseTimeout. Close returns nil at 12 s, and no ping goes
// out after the close frame (§5.5.1: the closing handshake has started).
func TestKeepaliveDuringClose(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := *keepaliveOpts
				opts.CloseTimeout = 5 * time.Second
				c, p := newPipePair(t, r, &opts)
				start := time.Now()
				frames := p.collect(start, true)
				time.Sleep(9 * time.Second)
				done := make(chan error, 1)
				go func() { done <- c.Close(ws.StatusNormalClosure, "bye") }()
				if f := <-frames; f.opcode != 0x8 || f.at != 9*time.Second {
					t.Fatalf("peer got %+v, want the close frame at 9s", f)
				}
				time.Sleep(3 * time.Second)
				synctest.Wait()
				for _, f := range drain(frames) {
					if f.err != nil {
						t.Fatalf("the Conn ended the connection at %v, during its closing handshake (CloseTimeout 5s)", f.at)
					}
					t.Errorf("peer got %+v at %v after the close frame", f.wireFrame, f.at)
				}
				p.write(p.frame(true, 0, 0x8, closePayload(1000, "")))
				if r == asClient {
					p.nc.Close() // §7.1.1: the server closes first
				}
				if err := <-done; err != nil {
					t.Errorf("Close: %v", err)
				}
				if elapsed := time.Since(start); elapsed != 12*time.Second {
					t.Errorf("Close returned after %v, want 12s", elapsed)
				}
				for f := range frames {
					if f.err == nil {
						t.Errorf("peer got %+v at %v after the close frame", f.wireFrame, f.at)
					}
				}
			})
		})
	}
}
