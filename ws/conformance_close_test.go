package ws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/duplex-ws/duplex/ws"
)

// The conformance tests of the closing handshake: RFC 6455 §5.5.1, §7 and Autobahn|Testsuite
// section 7. Timing (CloseTimeout) is tested in synctest bubbles over net.Pipe; the wire
// behaviour over loopback TCP with the raw peer of rawpeer_test.go. The helpers are in
// conformance_helpers_test.go.

// validCloseCodes are the codes an endpoint may send (RFC 6455 §7.4.1, §7.4.2 and the IANA
// registry): Autobahn 7.7.1–7.7.13 and 1012–1014.
var validCloseCodes = []ws.StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}

// TestCloseValidCodes runs Autobahn 7.7.1–7.7.13: a close frame with each valid code is
// answered with a close frame carrying the same code (RFC 6455 §5.5.1: "the endpoint
// typically echos the status code it received"), and Read reports the peer's code and
// reason (§7.1.5, §7.1.6).
func TestCloseValidCodes(t *testing.T) {
	for _, code := range validCloseCodes {
		for _, r := range roles {
			if !t.Run(fmt.Sprintf("%d/%s", code, r), func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				errc := echo(c)
				reason := fmt.Sprintf("closing with %d", code)
				p.send(true, 0x8, closePayload(uint16(code), reason))
				p.expectClose(code)
				p.nc.Close()
				wantCloseError(t, readErr(t, errc), code, reason)
			}) {
				return // the first failure is enough: each would wait out a read deadline
			}
		}
	}
}

// TestCloseInvalidCodes runs Autobahn 7.9.1–7.9.9 and 7.13.1–7.13.2: a close frame with a
// code that may not be sent (RFC 6455 §7.4.1: 1004 reserved, 1005, 1006 and 1015 never on
// the wire; §7.4.2: 0–999 unused, 1016–2999 reserved for the protocol, above 4999
// undefined) fails the connection with 1002.
func TestCloseInvalidCodes(t *testing.T) {
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		for _, r := range roles {
			if !t.Run(fmt.Sprintf("%d/%s", code, r), func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				errc := echo(c)
				p.send(true, 0x8, closePayload(code, ""))
				p.expectFail(errc, ws.StatusProtocolError, nil)
			}) {
				return // the first failure is enough: each would wait out a read deadline
			}
		}
	}
}

// TestClosePayloads runs Autobahn 7.3.1–7.3.6, the shapes of a close frame's payload
// (RFC 6455 §5.5.1): empty, 1 byte (no room for a code: 1002), a code alone, a code and a
// reason, a 123-byte reason (the most a 125-byte control frame holds) and a 124-byte one
// (a control frame over 125 bytes, §5.5: 1002).
func TestClosePayloads(t *testing.T) {
	reason123 := strings.Repeat("*", 123)
	for _, r := range roles {
		// 7.3.1: an empty close frame has no status code; §7.1.5 calls that 1005, which is
		// what Read reports. The answer carries no code either (there is none to echo);
		// Autobahn accepts an empty answer or 1000.
		t.Run("7.3.1/"+r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(true, 0x8, nil)
			f := p.mustReadFrame()
			if code, reason := parseClose(t, f); code != ws.StatusNoStatusRcvd && (code != ws.StatusNormalClosure || reason != "") {
				t.Fatalf("answer to an empty close frame: code %d reason %q, want empty or 1000", code, reason)
			}
			p.expectEOF()
			p.nc.Close()
			wantCloseError(t, readErr(t, errc), ws.StatusNoStatusRcvd, "")
		})
		t.Run("7.3.2/"+r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(true, 0x8, []byte{0x03})
			p.expectFail(errc, ws.StatusProtocolError, nil)
		})
		for _, tc := range []struct{ id, reason string }{{"7.3.3", ""}, {"7.3.4", "Hello World!"}, {"7.3.5", reason123}} {
			t.Run(tc.id+"/"+r.String(), func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				errc := echo(c)
				p.send(true, 0x8, closePayload(1000, tc.reason))
				p.expectClose(ws.StatusNormalClosure)
				p.nc.Close()
				wantCloseError(t, readErr(t, errc), ws.StatusNormalClosure, tc.reason)
			})
		}
		t.Run("7.3.6/"+r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(true, 0x8, closePayload(1000, reason123+"*"))
			p.expectFail(errc, ws.StatusProtocolError, nil)
		})
	}
}

// TestCloseThenNothing runs Autobahn 7.1.1–7.1.6: once the peer's close frame has arrived,
// the Conn answers it and sends nothing else — no echo of data sent after it, no pong to a
// ping sent after it (RFC 6455 §5.5.1: no data frames after a close frame; §5.5.2: no pong
// once a close frame was received; §7.1.2, §7.1.4). Messages that came before the close
// frame are delivered and echoed. The peer writes each case's frames back to back.
func TestCloseThenNothing(t *testing.T) {
	big := bytes.Repeat([]byte("BAsd7&jh23"), 256<<10/10)
	closeFrame := func(p *rawPeer) []byte { return p.frame(true, 0, 0x8, closePayload(1000, "")) }
	cases := []struct {
		id     string
		frames func(p *rawPeer) [][]byte
		echoes [][]byte
	}{
		{"7.1.1", func(p *rawPeer) [][]byte {
			return [][]byte{p.frame(true, 0, 0x1, []byte("Hello World!")), closeFrame(p)}
		}, [][]byte{[]byte("Hello World!")}},
		{"7.1.2", func(p *rawPeer) [][]byte { return [][]byte{closeFrame(p), closeFrame(p)} }, nil},
		{"7.1.3", func(p *rawPeer) [][]byte {
			return [][]byte{closeFrame(p), p.frame(true, 0, 0x9, nil)}
		}, nil},
		{"7.1.4", func(p *rawPeer) [][]byte {
			return [][]byte{closeFrame(p), p.frame(true, 0, 0x1, []byte("Hello World!"))}
		}, nil},
		{"7.1.5", func(p *rawPeer) [][]byte {
			return [][]byte{p.frame(false, 0, 0x1, []byte("fragment1")), closeFrame(p), p.frame(true, 0, 0x0, []byte("fragment2"))}
		}, nil},
		{"7.1.6", func(p *rawPeer) [][]byte {
			return [][]byte{p.frame(true, 0, 0x1, big), p.frame(true, 0, 0x1, []byte("Hello World!")), closeFrame(p), p.frame(true, 0, 0x9, nil)}
		}, [][]byte{big, []byte("Hello World!")}},
	}
	for _, tc := range cases {
		for _, r := range roles {
			t.Run(tc.id+"/"+r.String(), func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				errc := echo(c)
				written := p.writeAsync(bytes.Join(tc.frames(p), nil))
				for _, want := range tc.echoes {
					p.expectEcho(want)
				}
				p.expectClose(ws.StatusNormalClosure)
				if err := <-written; err != nil {
					t.Fatalf("raw peer write: %v", err)
				}
				p.nc.Close()
				wantCloseError(t, readErr(t, errc), ws.StatusNormalClosure, "")
			})
		}
	}
}

// TestCloseInitiated checks Close's closing handshake over TCP (RFC 6455 §7.1.2, §5.5.1,
// §7.1.1): it sends a close frame with the code and reason, waits for the peer's, and then
// the TCP connection is closed — by a server at once, while a client waits for the server
// to close it first. Close returns nil, and a Read after it reports the peer's close frame.
// Each code a Conn may send is used once.
func TestCloseInitiated(t *testing.T) {
	for _, code := range append(validCloseCodes, ws.StatusNoStatusRcvd) {
		for _, r := range roles {
			if !t.Run(fmt.Sprintf("%d/%s", code, r), func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				reason := fmt.Sprint("bye ", code)
				if code == ws.StatusNoStatusRcvd {
					reason = "" // 1005 means an empty close frame
				}
				done := make(chan error, 1)
				go func() { done <- c.Close(code, reason) }()
				gotCode, gotReason := parseClose(t, p.mustReadFrame())
				if gotCode != code || gotReason != reason {
					t.Fatalf("close frame %d %q, want %d %q", gotCode, gotReason, code, reason)
				}
				answer := closePayload(uint16(ws.StatusGoingAway), "peer agrees")
				if r == asClient && code == ws.StatusNormalClosure {
					// §7.1.1: the client waits for the server to close the TCP connection
					// (TestCloseTimeout times it exactly).
					p.write(p.frame(true, 0, 0x8, answer))
					p.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
					var b [1]byte
					n, err := p.br.Read(b[:])
					if ne, ok := err.(net.Error); n > 0 || !ok || !ne.Timeout() {
						t.Fatalf("client under test: after the close handshake, before the server closed: read %d, %v; want nothing (a client waits for the server to close TCP)", n, err)
					}
					select {
					case err := <-done:
						t.Fatalf("Close returned %v before the server closed the connection", err)
					default:
					}
					p.nc.Close()
				} else {
					// The server closes at once; the raw client never closes first. A
					// raw server half-closes and waits for the client to close.
					p.answerClose(answer)
				}
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Close: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Close did not return")
				}
				_, _, err := c.Read(context.Background())
				wantCloseError(t, err, ws.StatusGoingAway, "peer agrees")
				if err := c.Write(context.Background(), ws.MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("Write after Close: %v, want an error wrapping net.ErrClosed", err)
				}
			}) {
				return // the first failure is enough: each would wait out a read deadline
			}
		}
	}
}

// TestCloseWhoClosesTCP checks which side ends the TCP connection after a close frame
// (RFC 6455 §7.1.1: "when a server is instructed to _Close the WebSocket Connection_ it
// SHOULD initiate a TCP Close immediately, and when a client is instructed to do the same,
// it SHOULD wait for a TCP Close from the server"), both when the Conn answers the peer's
// close frame (§5.5.1) and when it fails the connection (§7.1.7, here for invalid UTF-8,
// Autobahn 6.3.1): a server closes at once while the raw client waits; a client waits at
// least 200 ms (of its 2 s CloseTimeout) for the raw server to close first.
func TestCloseWhoClosesTCP(t *testing.T) {
	for _, r := range roles {
		for _, how := range []string{"answering", "failing"} {
			t.Run(r.String()+"/"+how, func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				errc := echo(c)
				want := ws.StatusNormalClosure
				if how == "answering" {
					p.send(true, 0x8, closePayload(1000, "peer done"))
				} else {
					want = ws.StatusInvalidFramePayload
					p.send(true, 0x1, []byte("\xce\xba\xed\xa0\x80"))
				}
				if code, _ := parseClose(t, p.mustReadFrame()); code != want {
					t.Fatalf("close code %d, want %d", code, want)
				}
				var b [1]byte
				if r == asServer {
					// The raw client closes nothing: the server must.
					p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
					if n, err := p.br.Read(b[:]); n > 0 || err == nil {
						t.Fatalf("after the close frame: read %d, %v; want the end of the connection", n, err)
					} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("the server under test did not close the TCP connection")
					}
					p.nc.Close()
				} else {
					p.write(p.frame(true, 0, 0x8, closePayload(uint16(want), "")))
					p.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
					n, err := p.br.Read(b[:])
					if ne, ok := err.(net.Error); n > 0 || !ok || !ne.Timeout() {
						t.Fatalf("after the close frames: read %d, %v; want the client to wait for the server to close TCP", n, err)
					}
					select {
					case err := <-errc:
						t.Fatalf("Read returned %v before the server closed the connection", err)
					default:
					}
					p.nc.Close()
				}
				err := readErr(t, errc)
				if how == "answering" {
					wantCloseError(t, err, ws.StatusNormalClosure, "peer done")
				} else {
					wantProtocolError(t, err, ws.StatusInvalidFramePayload)
				}
			})
		}
	}
}

// TestCloseReasonTruncation checks the close frames that Close sends for long reasons:
// the payload stays within the 125 bytes of a control frame (RFC 6455 §5.5), and the reason
// within it is valid UTF-8 (§5.5.1), cut at a character boundary and marked with "…". A
// reason that fits (123 bytes) is sent whole.
func TestCloseReasonTruncation(t *testing.T) {
	type tc struct {
		name   string
		reason string
	}
	var cases []tc
	for _, ch := range []string{"a", "é", "€", "😀"} {
		for lead := range 4 {
			for _, total := range []int{122, 123, 124, 125, 126, 200} {
				s := strings.Repeat("x", lead)
				for len(s)+len(ch) <= total {
					s += ch
				}
				s += strings.Repeat("y", total-len(s))
				cases = append(cases, tc{fmt.Sprintf("%q/lead=%d/len=%d", ch, lead, total), s})
			}
		}
	}
	cases = append(cases, tc{"4096", strings.Repeat("€", 4096)})
	for _, r := range roles {
		for _, tc := range cases {
			if !t.Run(r.String()+"/"+tc.name, func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				done := make(chan error, 1)
				go func() { done <- c.Close(ws.StatusGoingAway, tc.reason) }()
				f := p.mustReadFrame()
				if len(f.payload) > 125 {
					t.Fatalf("close payload of %d bytes", len(f.payload))
				}
				code, got := parseClose(t, f)
				if code != ws.StatusGoingAway || !utf8.ValidString(got) {
					t.Fatalf("close frame %d % x", code, got)
				}
				if len(tc.reason) <= 123 {
					if got != tc.reason {
						t.Fatalf("reason of %d bytes sent as %q", len(tc.reason), got)
					}
				} else {
					kept, ok := strings.CutSuffix(got, "…")
					if !ok || !strings.HasPrefix(tc.reason, kept) || len(kept) <= 123-len("…")-utf8.UTFMax {
						t.Fatalf("reason of %d bytes sent as %q (%d bytes)", len(tc.reason), got, len(got))
					}
				}
				p.answerClose(nil)
				if err := <-done; err != nil {
					t.Fatalf("Close: %v", err)
				}
			}) {
				return // the first failure is enough: each would wait out a read deadline
			}
		}
	}
}

// TestCloseInvalidReason checks that a reason that is not UTF-8 does not reach the wire as
// it is (RFC 6455 §5.5.1: the reason is UTF-8; a peer would fail the connection with 1007):
// Close either refuses it or sends a valid reason.
func TestCloseInvalidReason(t *testing.T) {
	for _, r := range roles {
		for i, reason := range []string{"bad \xff byte", "\xed\xa0\x80", strings.Repeat("x", 119) + "\xe2\x82", strings.Repeat("\xff", 200)} {
			t.Run(fmt.Sprintf("%s/%d", r, i), func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				done := make(chan error, 1)
				go func() { done <- c.Close(ws.StatusNormalClosure, reason) }()
				frames := make(chan wireFrame, 1)
				go func() {
					f, err := p.readFrame()
					if err == nil {
						frames <- f
					}
					close(frames)
				}()
				select {
				case err := <-done:
					if err == nil {
						t.Fatal("Close returned nil without a closing handshake")
					}
					c.CloseNow()
					<-frames
				case f, ok := <-frames:
					if !ok {
						t.Fatal("no close frame")
					}
					if code, got := parseClose(t, f); code != ws.StatusNormalClosure || !utf8.ValidString(got) {
						t.Errorf("Close(1000, % x) sent code %d reason % x, which is not UTF-8", reason, code, got)
					}
					p.nc.Close()
					<-done
				}
			})
		}
	}
}

// TestCloseUnsendableCode checks that Close refuses the codes that may not be sent (RFC
// 6455 §7.4.1, §7.4.2), sending nothing and leaving the connection usable.
func TestCloseUnsendableCode(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			for _, code := range []ws.StatusCode{-1, 0, 999, 1004, 1006, 1015, 1016, 2999, 5000, 65535, 65536} {
				if err := c.Close(code, ""); err == nil {
					t.Fatalf("Close(%d) returned nil", code)
				}
			}
			p.send(true, 0x1, []byte("still open"))
			p.expectEcho([]byte("still open"))
			p.closeNormally(errc)
		})
	}
}

// TestCloseConcurrent calls Close from several goroutines at once: one closing handshake
// takes place, with a single close frame (RFC 6455 §5.5.1); one call returns nil and the
// others an error wrapping net.ErrClosed, all once the connection is closed.
func TestCloseConcurrent(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			const n = 8
			errs := make(chan error, n)
			var start sync.WaitGroup
			start.Add(1)
			for range n {
				go func() {
					start.Wait()
					errs <- c.Close(ws.StatusNormalClosure, "together")
				}()
			}
			start.Done()
			if code, _ := parseClose(t, p.mustReadFrame()); code != ws.StatusNormalClosure {
				t.Fatalf("close code %d", code)
			}
			p.answerClose(closePayload(1000, "")) // fails on a second close frame
			nils := 0
			for range n {
				select {
				case err := <-errs:
					if err == nil {
						nils++
					} else if !errors.Is(err, net.ErrClosed) {
						t.Errorf("Close: %v, want nil or net.ErrClosed", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a Close did not return")
				}
			}
			if nils != 1 {
				t.Errorf("%d calls of Close returned nil, want 1", nils)
			}
		})
	}
}

// TestCloseWhileReading closes while another goroutine is blocked in Read: the reader
// receives the peer's answering close frame as a *ws.CloseError (§7.1.5, §7.1.6: the code
// and reason of the first close frame received), and Close returns nil.
func TestCloseWhileReading(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			results := readAll(context.Background(), c)
			p.send(true, 0x1, []byte("before"))
			if res := next(t, results); string(res.msg) != "before" {
				t.Fatalf("got %q %v", res.msg, res.err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Close(ws.StatusNormalClosure, "mine") }()
			if code, reason := parseClose(t, p.mustReadFrame()); code != 1000 || reason != "mine" {
				t.Fatalf("close frame %d %q", code, reason)
			}
			p.answerClose(closePayload(uint16(ws.StatusGoingAway), "theirs"))
			wantCloseError(t, next(t, results).err, ws.StatusGoingAway, "theirs")
			if err := <-done; err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

// TestCloseNowUnblocks checks that CloseNow ends a Read and a Write blocked on the network
// with errors wrapping net.ErrClosed, over TCP, and that a second CloseNow reports
// net.ErrClosed.
func TestCloseNowUnblocks(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, _ := newPair(t, r, readWhole, nil)
			ctx := context.Background()
			readDone := make(chan error, 1)
			go func() {
				_, _, err := c.Read(ctx)
				readDone <- err
			}()
			// The raw peer reads nothing, so a large enough message fills the socket
			// buffers and blocks.
			writeDone := make(chan error, 1)
			go func() { writeDone <- c.Write(ctx, ws.MessageBinary, make([]byte, 64<<20)) }()
			select {
			case err := <-writeDone:
				t.Fatalf("Write of 64 MiB to a peer that reads nothing returned %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			if err := c.CloseNow(); err != nil {
				t.Fatalf("CloseNow: %v", err)
			}
			for name, ch := range map[string]chan error{"Read": readDone, "Write": writeDone} {
				select {
				case err := <-ch:
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("%s after CloseNow: %v, want an error wrapping net.ErrClosed", name, err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%s still blocked after CloseNow", name)
				}
			}
			if err := c.CloseNow(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second CloseNow: %v, want net.ErrClosed", err)
			}
			if err := c.Close(ws.StatusNormalClosure, ""); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Close after CloseNow: %v, want an error wrapping net.ErrClosed", err)
			}
		})
	}
}

// TestCloseTimeout checks that each step of the closing handshake is bounded by the
// CloseTimeout option (RFC 6455 §7.1.1: a client "MAY close the connection ... if it has not
// received a TCP Close from the server in a reasonable time period"), in fake time:
//   - a peer that reads the close frame but never answers: Close gives up after exactly
//     CloseTimeout, with an error wrapping net.ErrClosed;
//   - a peer that reads nothing: the close frame cannot be written, and Close gives up after
//     exactly CloseTimeout;
//   - (client) a server that answers but never closes the connection: Close returns nil
//     after exactly CloseTimeout, having closed it itself;
//   - (client) a server that closes 1s after answering: Close returns then, and the client
//     never closed first.
func TestCloseTimeout(t *testing.T) {
	const timeout = 3 * time.Second
	opts := &ws.ConnOptions{CloseTimeout: timeout}
	for _, r := range roles {
		t.Run(r.String()+"/no-answer", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, r, opts)
				start := time.Now()
				frames := p.collect(start, false)
				err := c.Close(ws.StatusNormalClosure, "")
				if elapsed := time.Since(start); elapsed != timeout {
					t.Errorf("Close returned after %v, want %v", elapsed, timeout)
				}
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Close: %v, want an error wrapping net.ErrClosed", err)
				}
				if f := <-frames; f.err != nil || f.opcode != 0x8 || f.at != 0 {
					t.Errorf("peer got %+v, want the close frame at once", f)
				}
				if f := <-frames; f.err == nil || f.at != timeout {
					t.Errorf("peer got %+v, want the end of the connection at %v", f, timeout)
				}
			})
		})
		t.Run(r.String()+"/no-read", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, _ := newPipePair(t, r, opts)
				start := time.Now()
				err := c.Close(ws.StatusNormalClosure, "")
				if elapsed := time.Since(start); elapsed != timeout {
					t.Errorf("Close returned after %v, want %v", elapsed, timeout)
				}
				if err == nil {
					t.Error("Close returned nil, but no close frame could be sent")
				}
			})
		})
	}
	t.Run("server/closes-at-once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, p := newPipePair(t, asServer, opts)
			start := time.Now()
			frames := p.collect(start, false)
			done := make(chan error, 1)
			go func() { done <- c.Close(ws.StatusNormalClosure, "") }()
			if f := <-frames; f.err != nil || f.opcode != 0x8 {
				t.Fatalf("peer got %+v, want a close frame", f)
			}
			time.Sleep(time.Second)
			p.write(p.frame(true, 0, 0x8, closePayload(1000, "")))
			if err := <-done; err != nil {
				t.Errorf("Close: %v", err)
			}
			// §7.1.1: the server closes the TCP connection as soon as the handshake is
			// done, without waiting for the client.
			if f := <-frames; f.err == nil || f.at != time.Second {
				t.Errorf("peer got %+v, want the end of the connection at 1s", f)
			}
			if elapsed := time.Since(start); elapsed != time.Second {
				t.Errorf("Close returned after %v, want 1s", elapsed)
			}
		})
	})
	for _, closeAfter := range []time.Duration{0, time.Second, -1} {
		name := fmt.Sprint("client/server-closes-after-", closeAfter)
		if closeAfter < 0 {
			name = "client/server-never-closes"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := newPipePair(t, asClient, opts)
				start := time.Now()
				frames := p.collect(start, false)
				done := make(chan error, 1)
				go func() { done <- c.Close(ws.StatusNormalClosure, "") }()
				if f := <-frames; f.err != nil || f.opcode != 0x8 {
					t.Fatalf("peer got %+v, want a close frame", f)
				}
				p.write(p.frame(true, 0, 0x8, closePayload(1000, "")))
				want := timeout // the client gives up waiting
				if closeAfter >= 0 {
					time.Sleep(closeAfter)
					synctest.Wait()
					select {
					case f := <-frames:
						t.Fatalf("client closed the connection first, at %v (%+v)", f.at, f)
					default:
					}
					p.nc.Close()
					want = closeAfter
				}
				if err := <-done; err != nil {
					t.Errorf("Close: %v", err)
				}
				if elapsed := time.Since(start); elapsed != want {
					t.Errorf("Close returned after %v, want %v", elapsed, want)
				}
				if f := <-frames; f.err == nil {
					t.Errorf("peer got %+v after the close frame", f)
				}
			})
		})
	}
}

// TestCloseNowUnblocksPipe checks, in fake time, that CloseNow ends a Read and a Write
// blocked on a net.Pipe at once, with errors wrapping net.ErrClosed, and that every
// operation afterwards fails likewise (RFC 6455 §5.5.1: nothing is sent after the end).
func TestCloseNowUnblocksPipe(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, _ := newPipePair(t, r, nil)
				ctx := context.Background()
				readDone := make(chan error, 1)
				go func() {
					_, _, err := c.Read(ctx)
					readDone <- err
				}()
				writeDone := make(chan error, 1)
				go func() { writeDone <- c.Write(ctx, ws.MessageText, []byte("blocked: nobody reads the pipe")) }()
				synctest.Wait()
				select {
				case err := <-readDone:
					t.Fatalf("Read returned early: %v", err)
				case err := <-writeDone:
					t.Fatalf("Write returned early: %v", err)
				default:
				}
				start := time.Now()
				c.CloseNow()
				for name, ch := range map[string]chan error{"Read": readDone, "Write": writeDone} {
					if err := <-ch; !errors.Is(err, net.ErrClosed) {
						t.Errorf("%s after CloseNow: %v, want an error wrapping net.ErrClosed", name, err)
					}
				}
				if elapsed := time.Since(start); elapsed != 0 {
					t.Errorf("blocked calls returned after %v", elapsed)
				}
				if err := c.Write(ctx, ws.MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Write after CloseNow: %v", err)
				}
				if w, err := c.Writer(ctx, ws.MessageText); err == nil {
					w.Write([]byte("late"))
					if err := w.Close(); !errors.Is(err, net.ErrClosed) {
						t.Errorf("Writer after CloseNow: Close returned %v", err)
					}
				} else if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Writer after CloseNow: %v", err)
				}
				if err := c.Ping(ctx); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Ping after CloseNow: %v", err)
				}
				if _, _, err := c.Read(ctx); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Read after CloseNow: %v", err)
				}
			})
		})
	}
}

// TestCloseStatus checks CloseStatus on the error of each way a connection ends: the
// peer's close frame gives its code (RFC 6455 §7.1.5), a TCP connection lost without one
// gives 1006 (§7.1.5, §7.4.1), and errors that are no closure give -1.
func TestCloseStatus(t *testing.T) {
	if got := ws.CloseStatus(nil); got != -1 {
		t.Errorf("CloseStatus(nil) = %d", got)
	}
	if got := ws.CloseStatus(io.EOF); got != -1 {
		t.Errorf("CloseStatus(io.EOF) = %d", got)
	}
	if got := ws.CloseStatus(fmt.Errorf("wrapped: %w", &ws.CloseError{Code: 4001})); got != 4001 {
		t.Errorf("CloseStatus(wrapped 4001) = %d", got)
	}
	if got := ws.CloseStatus(&ws.ProtocolError{Code: ws.StatusProtocolError}); got != -1 {
		t.Errorf("CloseStatus(*ProtocolError) = %d", got)
	}
	for _, r := range roles {
		t.Run(r.String()+"/peer-close", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(true, 0x8, closePayload(4000, "custom"))
			p.expectClose(4000)
			p.nc.Close()
			wantCloseError(t, readErr(t, errc), 4000, "custom")
		})
		t.Run(r.String()+"/tcp-drop-between-messages", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.nc.Close()
			if got := ws.CloseStatus(readErr(t, errc)); got != ws.StatusAbnormalClosure {
				t.Errorf("CloseStatus = %d, want 1006", got)
			}
		})
		t.Run(r.String()+"/tcp-drop-inside-a-frame", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			frame := p.frame(true, 0, 0x1, []byte("cut short"))
			p.write(frame[:len(frame)-3])
			p.nc.Close()
			if got := ws.CloseStatus(readErr(t, errc)); got != ws.StatusAbnormalClosure {
				t.Errorf("CloseStatus = %d, want 1006", got)
			}
		})
		t.Run(r.String()+"/tcp-drop-inside-a-header", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.write(p.frame(true, 0, 0x1, []byte("x"))[:1])
			p.nc.Close()
			if got := ws.CloseStatus(readErr(t, errc)); got != ws.StatusAbnormalClosure {
				t.Errorf("CloseStatus = %d, want 1006", got)
			}
		})
		t.Run(r.String()+"/protocol-error", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(true, 0x1, []byte{0xff})
			p.expectFail(errc, ws.StatusInvalidFramePayload, nil) // checks the *ProtocolError
			if _, _, err := c.Read(context.Background()); ws.CloseStatus(err) != -1 {
				t.Errorf("CloseStatus after a protocol error = %d, want -1 (%v)", ws.CloseStatus(err), err)
			}
		})
		t.Run(r.String()+"/context", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, _, err := c.Read(ctx)
			if !errors.Is(err, context.Canceled) || ws.CloseStatus(err) != -1 {
				t.Errorf("Read with a canceled context: %v, CloseStatus %d; want context.Canceled, -1", err, ws.CloseStatus(err))
			}
			// The connection stays usable.
			errc := echo(c)
			p.send(true, 0x1, []byte("still here"))
			p.expectEcho([]byte("still here"))
			p.closeNormally(errc)
		})
		t.Run(r.String()+"/close-now", func(t *testing.T) {
			c, _ := newPair(t, r, readWhole, nil)
			c.CloseNow()
			if _, _, err := c.Read(context.Background()); ws.CloseStatus(err) != -1 || !errors.Is(err, net.ErrClosed) {
				t.Errorf("Read after CloseNow: %v, CloseStatus %d; want net.ErrClosed, -1", err, ws.CloseStatus(err))
			}
		})
	}
}

// TestCloseWriteAfterPeerClose checks that once the peer's close frame has been answered,
// writes fail with net.ErrClosed (RFC 6455 §5.5.1: no data frames after a close frame)
// and nothing more reaches the wire.
func TestCloseWriteAfterPeerClose(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			results := readAll(context.Background(), c)
			p.send(true, 0x8, closePayload(1000, ""))
			if code, _ := parseClose(t, p.mustReadFrame()); code != 1000 {
				t.Fatalf("echoed %d", code)
			}
			if r == asClient {
				p.nc.(*net.TCPConn).CloseWrite()
			}
			wantCloseError(t, next(t, results).err, 1000, "")
			ctx := context.Background()
			if err := c.Write(ctx, ws.MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after the closing handshake: %v", err)
			}
			if err := c.Ping(ctx); err == nil {
				t.Error("Ping after the closing handshake returned nil")
			}
			if err := c.Close(ws.StatusNormalClosure, ""); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Close after the closing handshake: %v", err)
			}
			p.expectEOF()
		})
	}
}

// TestCloseKeepsMessages checks that messages the peer sends before its answering close
// frame are not lost when Close is called with no Read in progress (RFC 6455 §5.5.1: an
// endpoint may send the rest of its message before its close frame): Reads after Close
// return them, then the peer's *ws.CloseError.
func TestCloseKeepsMessages(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			done := make(chan error, 1)
			go func() { done <- c.Close(ws.StatusNormalClosure, "") }()
			if code, _ := parseClose(t, p.mustReadFrame()); code != ws.StatusNormalClosure {
				t.Fatalf("close code %d", code)
			}
			p.send(true, 0x1, []byte("one"))
			p.send(false, 0x2, []byte("tw"))
			p.send(true, 0x9, []byte("ignored: the close frame was sent"))
			p.send(true, 0x0, []byte("o"))
			p.answerClose(closePayload(1000, "done"))
			if err := <-done; err != nil {
				t.Fatalf("Close: %v", err)
			}
			ctx := context.Background()
			for _, want := range []struct {
				typ ws.MessageType
				msg string
			}{{ws.MessageText, "one"}, {ws.MessageBinary, "two"}} {
				typ, msg, err := c.Read(ctx)
				if err != nil || typ != want.typ || string(msg) != want.msg {
					t.Fatalf("Read after Close: %v %q %v, want %v %q", typ, msg, err, want.typ, want.msg)
				}
			}
			_, _, err := c.Read(ctx)
			wantCloseError(t, err, ws.StatusNormalClosure, "done")
		})
	}
}

// TestCloseDuringStreamedMessage closes while a Writer is between two frames of a
// fragmented message: the close frame goes out between them (control frames may be
// interjected, RFC 6455 §5.4), and then no data frame follows it (§5.5.1: "The application
// MUST NOT send any more data frames after sending a Close frame"); the Writer's later
// writes fail with net.ErrClosed.
func TestCloseDuringStreamedMessage(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, &ws.ConnOptions{WriteBufferSize: 512})
			ctx := context.Background()
			w, err := c.Writer(ctx, ws.MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(bytes.Repeat([]byte("a"), 1000)); err != nil {
				t.Fatal(err)
			}
			if f := p.mustReadFrame(); f.fin || f.opcode != 0x1 {
				t.Fatalf("first frame: fin=%v opcode %#x", f.fin, f.opcode)
			}
			done := make(chan error, 1)
			go func() { done <- c.Close(ws.StatusGoingAway, "") }()
			if code, _ := parseClose(t, p.mustReadFrame()); code != ws.StatusGoingAway {
				t.Fatalf("close code %d", code)
			}
			w.Write(bytes.Repeat([]byte("b"), 1000))
			if err := w.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Writer.Close after the close frame: %v, want net.ErrClosed", err)
			}
			p.answerClose(closePayload(1001, "")) // fails on any byte after the close frame
			if err := <-done; err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

// TestCloseSimultaneous has both ends start the closing handshake at once (RFC 6455 §5.5.1:
// "If a client and server both send a Close message at the same time, both endpoints will
// have sent and received a Close message"; §7.1.5: each reports the code it received): the
// peer's close frame is on its way when Close is called, so the Conn sends its own code,
// never a second close frame, and Read reports the peer's code.
func TestCloseSimultaneous(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			p.send(true, 0x8, closePayload(uint16(ws.StatusGoingAway), "peer first"))
			done := make(chan error, 1)
			go func() { done <- c.Close(ws.StatusNormalClosure, "me too") }()
			if code, reason := parseClose(t, p.mustReadFrame()); code != ws.StatusNormalClosure || reason != "me too" {
				t.Fatalf("close frame %d %q, want the Conn's own 1000 \"me too\"", code, reason)
			}
			if !p.client {
				p.nc.(*net.TCPConn).CloseWrite()
			}
			p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			var b [1]byte
			if n, err := p.br.Read(b[:]); n > 0 || err == nil {
				t.Fatalf("after the close frame: read %d bytes (%#x), %v; want the end of the connection", n, b[0], err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Close: %v", err)
			}
			_, _, err := c.Read(context.Background())
			wantCloseError(t, err, ws.StatusGoingAway, "peer first")
		})
	}
}
