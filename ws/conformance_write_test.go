package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Conformance tests for the writing side (RFC 6455 §5.1–5.4 as a sender, which Autobahn
// checks on every echo) and for the context rules of Conn.Read. The script runner and the
// frame helpers are in conformance_frame_test.go.

// TestWriteFrame checks that Conn.Write sends a message as exactly one frame: FIN set, the
// opcode of its type, the minimal length encoding (§5.2), masked by a client with its key
// and never by a server (§5.1, §5.3); the first rows are the examples of §5.7 byte for
// byte. Sizes straddle the length encodings and the write paths (writev above 4 KiB for a
// server on TCP, through a 64 KiB buffer otherwise). The caller's slice is left as it was.
func TestWriteFrame(t *testing.T) {
	examples := []struct {
		name string
		r    role
		typ  ws.MessageType
		msg  []byte
		want string // the start of the frame
	}{
		{"5.7_unmasked_hello", asServer, ws.MessageText, []byte("Hello"), "\x81\x05\x48\x65\x6c\x6c\x6f"},
		{"5.7_masked_hello", asClient, ws.MessageText, []byte("Hello"), "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"},
		{"5.7_256_bytes_binary", asServer, ws.MessageBinary, make([]byte, 256), "\x82\x7E\x01\x00"},
		{"5.7_64_KiB_binary", asServer, ws.MessageBinary, make([]byte, 65536), "\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"},
	}
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, ex.r, readWhole, nil)
			done := make(chan error, 1)
			go func() { done <- c.Write(context.Background(), ex.typ, ex.msg) }()
			got := make([]byte, len(ex.want))
			p.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(p.br, got); err != nil || string(got) != ex.want {
				t.Fatalf("frame starts % x (%v), want % x", got, err, ex.want)
			}
			rest := len(frameHeader(true, 0, byte(ex.typ), len(ex.msg), ex.r == asClient, testMaskKey)) + len(ex.msg) - len(ex.want)
			if _, err := io.CopyN(io.Discard, p.br, int64(rest)); err != nil {
				t.Fatal(err)
			}
			if err := waitErr(t, done); err != nil {
				t.Fatal(err)
			}
		})
	}
	sizes := []int{0, 1, 125, 126, 127, 128, 4081, 4082, 4096, 65521, 65522, 65535, 65536, 65537, 200000, 262129, 262130, 262131, 1 << 20}
	for _, r := range roles {
		// Only readWhole gives the Conn a *net.TCPConn, and a server writev.
		for _, m := range []readMode{readWhole, readHalf} {
			for _, typ := range []ws.MessageType{ws.MessageText, ws.MessageBinary} {
				t.Run(fmt.Sprintf("%s/%s/%s", r, m, typ), func(t *testing.T) {
					t.Parallel()
					c, p := newPair(t, r, m, nil)
					ctx := context.Background()
					for _, n := range sizes {
						msg := payloadOf(byte(typ), n)
						orig := bytes.Clone(msg)
						done := make(chan error, 1)
						go func() { done <- c.Write(ctx, typ, msg) }()
						expectFrame(t, p, r, true, byte(typ), orig)
						if err := waitErr(t, done); err != nil {
							t.Fatalf("size %d: %v", n, err)
						}
						if !bytes.Equal(msg, orig) {
							t.Fatalf("size %d: Write changed the caller's bytes", n)
						}
					}
					expectPeerClose(t, c, p, startEcho(c))
				})
			}
		}
	}
}

// TestWriteLargeFrameWrites pins how a frame too large for writev (a client's, which it
// masks as it copies, §5.3, or one on a connection that is not plain TCP) reaches the
// network: in writes of 256 KiB, the first with the header. A 64 KiB message goes out in
// one write; every write of a smaller piece would end in a short TCP segment of its own.
func TestWriteLargeFrameWrites(t *testing.T) {
	const chunk = 256 << 10
	for _, r := range roles {
		for _, n := range []int{65536, chunk - 14, chunk, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", r, n), func(t *testing.T) {
				c, p, wc := newCountedPair(t, r)
				msg := payloadOf(byte(ws.MessageBinary), n)
				done := make(chan error, 1)
				go func() { done <- c.Write(context.Background(), ws.MessageBinary, msg) }()
				expectFrame(t, p, r, true, byte(ws.MessageBinary), msg)
				if err := waitErr(t, done); err != nil {
					t.Fatal(err)
				}
				total := len(frameHeader(true, 0, byte(ws.MessageBinary), n, r == asClient, testMaskKey)) + n
				var want []int
				for ; total > chunk; total -= chunk {
					want = append(want, chunk)
				}
				want = append(want, total)
				if got := wc.writes(); !slices.Equal(got, want) {
					t.Fatalf("a %d-byte message went out in writes of %v bytes; want %v", n, got, want)
				}
			})
		}
	}
}

// TestWriteInvalidType checks that a type other than text or binary is refused without a
// byte on the wire: the next frame is the next valid message.
func TestWriteInvalidType(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			ctx := context.Background()
			for _, typ := range []ws.MessageType{0, 3, 8, 9, 10, 0x81} {
				if err := c.Write(ctx, typ, []byte("x")); err == nil {
					t.Errorf("Write with type %d succeeded", typ)
				}
				if _, err := c.Writer(ctx, typ); err == nil {
					t.Errorf("Writer with type %d succeeded", typ)
				}
			}
			if err := c.Write(ctx, ws.MessageText, []byte("valid")); err != nil {
				t.Fatal(err)
			}
			expectFrame(t, p, r, true, wireText, []byte("valid"))
			expectPeerClose(t, c, p, startEcho(c))
		})
	}
}

// wantOut is a frame the Conn must send, FIN included.
type wantOut struct {
	fin     bool
	op      byte
	payload string
}

// TestWriteMessageWriter checks Conn.Writer against §5.4: the first frame carries the
// message's opcode, the others continuation, only the last has FIN. As its documentation
// says, a frame goes out each time WriteBufferSize bytes are buffered, or at once for a
// larger write into an empty buffer, and the last on Close.
func TestWriteMessageWriter(t *testing.T) {
	rows := []struct {
		name   string
		typ    ws.MessageType
		writes []string
		want   []wantOut
	}{
		{"empty_message", ws.MessageText, nil, []wantOut{{true, wireText, ""}}},
		{"one_small_write", ws.MessageBinary, []string{"ab"}, []wantOut{{true, wireBinary, "ab"}}},
		{"exactly_the_buffer", ws.MessageText, []string{"abcd"}, []wantOut{{true, wireText, "abcd"}}},
		{"three_small_writes", ws.MessageText, []string{"ab", "cd", "ef"}, []wantOut{{false, wireText, "abcd"}, {true, wireCont, "ef"}}},
		{"buffer_full_then_close", ws.MessageBinary, []string{"abcd", "efgh"}, []wantOut{{false, wireBinary, "abcd"}, {true, wireCont, "efgh"}}},
		{"large_write", ws.MessageBinary, []string{"0123456789"}, []wantOut{{false, wireBinary, "0123456789"}, {true, wireCont, ""}}},
		{"small_then_large", ws.MessageText, []string{"a", "0123456789"}, []wantOut{{false, wireText, "a012"}, {false, wireCont, "3456"}, {true, wireCont, "789"}}},
		{"empty_writes", ws.MessageText, []string{"", "ab", ""}, []wantOut{{true, wireText, "ab"}}},
	}
	for _, row := range rows {
		for _, r := range roles {
			t.Run(fmt.Sprintf("%s/%s", row.name, r), func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, r, readWhole, &ws.ConnOptions{WriteBufferSize: 4})
				ctx := context.Background()
				done := make(chan error, 1)
				go func() {
					w, err := c.Writer(ctx, row.typ)
					if err != nil {
						done <- err
						return
					}
					for _, s := range row.writes {
						if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
							done <- fmt.Errorf("Write(%q) = %d, %v", s, n, err)
							return
						}
					}
					if err := w.Close(); err != nil {
						done <- err
						return
					}
					if _, err := w.Write([]byte("x")); err == nil {
						done <- errors.New("Write after Close succeeded")
						return
					}
					if err := w.Close(); err == nil {
						done <- errors.New("second Close succeeded")
						return
					}
					done <- nil
				}()
				for _, o := range row.want {
					expectFrame(t, p, r, o.fin, o.op, []byte(o.payload))
				}
				if err := waitErr(t, done); err != nil {
					t.Fatal(err)
				}
				expectPeerClose(t, c, p, startEcho(c))
			})
		}
	}
}

// TestWriteInterleavedControl checks §5.4, "Control frames MAY be injected in the middle of
// a fragmented message", on the sending side: while a Writer's message is open, the pong
// answering a ping and a ping of Conn.Ping go out between its frames, and a Write of
// another message waits for the message to end (§5.4: "the fragments of one message MUST
// NOT be interleaved between the fragments of another message").
func TestWriteInterleavedControl(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, r, readWhole, &ws.ConnOptions{WriteBufferSize: 4})
			ctx := context.Background()
			readDone := startEcho(c)
			w, err := c.Writer(ctx, ws.MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("fragment1")); err != nil {
				t.Fatal(err)
			}
			expectFrame(t, p, r, false, wireText, []byte("fragment1"))
			other := make(chan error, 1)
			go func() { other <- c.Write(ctx, ws.MessageBinary, []byte("other")) }()
			p.send(true, wirePing, []byte("ping payload"))
			expectFrame(t, p, r, true, wirePong, []byte("ping payload"))
			pinged := make(chan error, 1)
			go func() { pinged <- c.Ping(ctx) }()
			f := p.mustReadFrame()
			if f.opcode != wirePing || !f.fin || len(f.payload) > 125 {
				t.Fatalf("want Conn.Ping's frame, got %s", describeFrame(f))
			}
			p.send(true, wirePong, f.payload)
			if err := waitErr(t, pinged); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if _, err := w.Write([]byte("fragment2")); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			expectFrame(t, p, r, false, wireCont, []byte("fragment2"))
			expectFrame(t, p, r, true, wireCont, nil)
			expectFrame(t, p, r, true, wireBinary, []byte("other"))
			if err := waitErr(t, other); err != nil {
				t.Fatal(err)
			}
			expectPeerClose(t, c, p, readDone)
		})
	}
}

// TestWriteConcurrent checks that 50 goroutines writing at once, some with Write and some
// with Writer, and a few more calling Ping, never mix their frames: every message arrives
// intact, once, and the frames of a fragmented message are not interleaved with another
// message's (§5.4), though pings may come between them.
func TestWriteConcurrent(t *testing.T) {
	const writers = 50
	sizes := []int{4, 125, 126, 4097, 65536, 70000}
	message := func(i int) (byte, []byte) {
		op := []byte{wireText, wireBinary}[i%2]
		b := payloadOf(op, sizes[i%len(sizes)])
		copy(b, fmt.Sprintf("%04d", i))
		return op, b
	}
	for _, r := range roles {
		for _, m := range []readMode{readWhole, readHalf} {
			t.Run(fmt.Sprintf("%s/%s", r, m), func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, r, m, &ws.ConnOptions{WriteBufferSize: 1000})
				ctx := context.Background()
				readDone := startEcho(c) // receives the pongs
				const pingers = 5
				var wg sync.WaitGroup
				errs := make(chan error, writers+pingers)
				for range pingers {
					wg.Go(func() { errs <- c.Ping(ctx) })
				}
				for i := range writers {
					wg.Go(func() {
						op, msg := message(i)
						if i%3 != 0 {
							errs <- c.Write(ctx, ws.MessageType(op), msg)
							return
						}
						w, err := c.Writer(ctx, ws.MessageType(op))
						if err != nil {
							errs <- err
							return
						}
						third := len(msg) / 3
						for _, part := range [][]byte{msg[:third], msg[third : 2*third], msg[2*third:]} {
							if _, err := w.Write(part); err != nil {
								errs <- err
								return
							}
						}
						errs <- w.Close()
					})
				}
				seen := map[int]bool{}
				var open []byte // the fragmented message being received
				var openOp byte
				pings := 0
				for len(seen) < writers || pings < pingers {
					f := p.mustReadFrame()
					switch {
					case f.opcode == wirePing:
						pings++
						p.send(true, wirePong, f.payload)
						continue
					case f.opcode == wireCont && open == nil:
						t.Fatalf("continuation frame with no message open")
					case f.opcode == wireCont:
						open = append(open, f.payload...)
					case f.opcode == wireText || f.opcode == wireBinary:
						if open != nil {
							t.Fatalf("a %#x frame inside a fragmented message: messages interleaved", f.opcode)
						}
						open, openOp = append([]byte{}, f.payload...), f.opcode
					default:
						t.Fatalf("unexpected %s", describeFrame(f))
					}
					if !f.fin {
						continue
					}
					var id int
					if _, err := fmt.Sscanf(string(open[:4]), "%04d", &id); err != nil || id >= writers || seen[id] {
						t.Fatalf("message with id %q: unknown or repeated", open[:4])
					}
					seen[id] = true
					if op, want := message(id); op != openOp || !bytes.Equal(open, want) {
						t.Fatalf("message %d arrived changed: opcode %#x, %d bytes", id, openOp, len(open))
					}
					open = nil
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				expectPeerClose(t, c, p, readDone)
			})
		}
	}
}

// TestWriteContextDone checks Write's context rule: "If ctx ends before the frame was
// started, Write returns ctx's error and the connection stays usable." A context already
// done when Write is called has ended before the frame started, whatever its size.
func TestWriteContextDone(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, r, readWhole, nil)
			done, cancel := context.WithCancel(context.Background())
			cancel()
			for _, n := range []int{5, 1 << 20} {
				if err := c.Write(done, ws.MessageBinary, binaryOf(n)); !errors.Is(err, context.Canceled) {
					t.Fatalf("Write of %d bytes with a done context: %v, want context.Canceled", n, err)
				}
			}
			if err := c.Write(context.Background(), ws.MessageText, []byte("after")); err != nil {
				t.Fatal(err)
			}
			expectFrame(t, p, r, true, wireText, []byte("after"))
			expectPeerClose(t, c, p, startEcho(c))
		})
	}
}

// TestContextDoneBeforeRead checks Read's context rule for a context that is done before
// Read is called: Read has not started a message, so it returns the context's error and
// the connection stays usable, even with a whole message waiting, which the next Read
// returns intact.
func TestContextDoneBeforeRead(t *testing.T) {
	for _, r := range roles {
		for _, m := range readModes {
			t.Run(fmt.Sprintf("%s/%s", r, m), func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, r, m, nil)
				payload := binaryOf(200000)
				sent := p.writeAsync(p.frame(true, 0, wireBinary, payload))
				done, cancel := context.WithCancel(context.Background())
				cancel()
				if _, _, err := c.Read(done); !errors.Is(err, context.Canceled) {
					t.Fatalf("Read with a done context: %v, want context.Canceled", err)
				}
				if _, _, err := c.Reader(done); !errors.Is(err, context.Canceled) {
					t.Fatalf("Reader with a done context: %v, want context.Canceled", err)
				}
				readDone := startEcho(c)
				expectFrame(t, p, r, true, wireBinary, payload)
				if err := waitErr(t, sent); err != nil {
					t.Fatal(err)
				}
				expectPeerClose(t, c, p, readDone)
			})
		}
	}
}

// ctxEnd is how a test's context ends.
type ctxEnd int

const (
	ctxDeadline ctxEnd = iota // its deadline passes
	ctxCancel                 // it is cancelled from another goroutine
	ctxDone                   // it is done before Read is called
)

func (e ctxEnd) String() string { return [...]string{"deadline", "cancel", "done"}[e] }

// context returns a context that ends as e says once end is called (a deadline 50 ms
// later, a cancellation 20 ms later), and the error that it ends with.
func (e ctxEnd) context(t testing.TB) (ctx context.Context, end func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	switch e {
	case ctxDeadline:
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx, func() {}, context.DeadlineExceeded
	case ctxCancel:
		return ctx, func() {
			timer := time.AfterFunc(20*time.Millisecond, cancel)
			t.Cleanup(func() { timer.Stop() })
		}, context.Canceled
	}
	cancel()
	return ctx, func() {}, context.Canceled
}

// TestContextWhileWaiting checks Read's context rule: "If ctx ends while Read is waiting
// for a message to start, Read returns ctx's error and the connection stays usable" —
// even with part of a frame header or of a control frame received, which must be kept:
// once the rest arrives, a later Read gets the message whole and the ping answered.
func TestContextWhileWaiting(t *testing.T) {
	ping := dataFrame(wirePing, "ping while waiting")
	after := dataFrame(wireText, "after")
	long := dataFrame(wireBinary, strings.Repeat("x", 300))
	const wholeFirst = -1
	rows := []struct {
		name string
		in   []inFrame
		cut  int // bytes of the encoded frames sent before the context ends, or wholeFirst
		// before are frames the Conn sends before the context ends; with a context that
		// is cancelled, the test cancels it only once they have arrived.
		before, after []outFrame
	}{
		{"nothing_received", []inFrame{after}, 0, nil, []outFrame{echoed(wireText, "after")}},
		{"one_header_byte", []inFrame{after}, 1, nil, []outFrame{echoed(wireText, "after")}},
		{"part_of_16_bit_length", []inFrame{long}, 3, nil, []outFrame{echoed(wireBinary, strings.Repeat("x", 300))}},
		{"part_of_a_ping", []inFrame{ping, after}, 8, nil, []outFrame{pong("ping while waiting"), echoed(wireText, "after")}},
		{"a_whole_ping", []inFrame{ping, after}, wholeFirst, []outFrame{pong("ping while waiting")}, []outFrame{echoed(wireText, "after")}},
	}
	for _, row := range rows {
		for _, end := range []ctxEnd{ctxDeadline, ctxCancel, ctxDone} {
			for _, r := range roles {
				for _, m := range readModes {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", row.name, end, r, m), func(t *testing.T) {
						t.Parallel()
						c, p := newPair(t, r, m, nil)
						var stream []byte
						for _, f := range row.in {
							stream = append(stream, f.encode(p.client)...)
						}
						cut := row.cut
						if cut == wholeFirst {
							cut = len(row.in[0].encode(p.client))
						}
						before, after := row.before, row.after
						if end != ctxCancel {
							// The context may end before the Conn has answered.
							before, after = nil, append(append([]outFrame{}, before...), after...)
						}
						p.write(stream[:cut])
						ctx, endCtx, wantErr := end.context(t)
						done := make(chan result, 1)
						go func() {
							typ, msg, err := c.Read(ctx)
							done <- result{typ, msg, err}
						}()
						for _, o := range before {
							expectFrame(t, p, r, true, o.op, o.payload)
						}
						endCtx()
						if res := next(t, done); !errors.Is(res.err, wantErr) {
							t.Fatalf("Read: %v %q %v, want %v", res.typ, res.msg, res.err, wantErr)
						}
						p.write(stream[cut:])
						readDone := startEcho(c)
						for _, o := range after {
							expectFrame(t, p, r, true, o.op, o.payload)
						}
						expectPeerClose(t, c, p, readDone)
					})
				}
			}
		}
	}
}

// TestContextMidMessage checks the other half of the rule: "if it ends in the middle of a
// message, the connection is closed" — between fragments, inside a frame's payload, or
// while a Reader streams. Read reports the context's error, later reads and writes fail,
// and the peer sees the TCP connection end.
func TestContextMidMessage(t *testing.T) {
	for _, where := range []string{"between_fragments", "inside_a_payload", "reader_between_fragments"} {
		for _, end := range []ctxEnd{ctxDeadline, ctxCancel} {
			for _, r := range roles {
				for _, m := range readModes {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", where, end, r, m), func(t *testing.T) {
						t.Parallel()
						c, p := newPair(t, r, m, nil)
						if where == "inside_a_payload" {
							p.write(inFrame{fin: true, op: wireBinary, payload: binaryOf(100000)}.encode(p.client)[:50000])
						} else {
							p.send(false, wireText, []byte("part"))
						}
						ctx, endCtx, wantErr := end.context(t)
						endCtx()
						var err error
						if where == "reader_between_fragments" {
							var rd io.Reader
							if _, rd, err = c.Reader(ctx); err != nil {
								t.Fatal(err)
							}
							_, err = io.ReadAll(rd)
						} else {
							_, _, err = c.Read(ctx)
						}
						if !errors.Is(err, wantErr) {
							t.Fatalf("Read: %v, want %v", err, wantErr)
						}
						// Later reads fail at once (next bounds the wait), and so do writes.
						later := make(chan result, 1)
						go func() {
							_, _, err := c.Read(context.Background())
							later <- result{err: err}
						}()
						if res := next(t, later); res.err == nil {
							t.Fatal("Read after the context ended mid-message succeeded")
						}
						if err := c.Write(context.Background(), ws.MessageText, []byte("x")); err == nil {
							t.Fatal("Write after the context ended mid-message succeeded")
						}
						expectTCPEnd(t, p)
					})
				}
			}
		}
	}
}

// expectTCPEnd reads until the Conn ends the TCP connection, allowing a close frame first
// (the Conn may say why it closed) but no other frame.
func expectTCPEnd(t testing.TB, p *rawPeer) {
	t.Helper()
	for {
		f, err := p.readFrame()
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("raw peer: the Conn did not close the connection")
			}
			return
		}
		if f.opcode != wireClose {
			t.Fatalf("raw peer: want the connection closed, got %s", describeFrame(f))
		}
	}
}

// TestWriteMaskKeyFresh checks §5.3 on a client left with its own masking keys: "the
// masking key for a given frame MUST NOT be the same as that of any other frame" — here,
// every frame of a few hundred has a key of its own (two equal keys would come by chance
// once in tens of millions of runs).
func TestWriteMaskKeyFresh(t *testing.T) {
	a, b := net.Pipe()
	c := ws.NewConnForTest(a, true, &ws.ConnOptions{CloseTimeout: time.Second})
	t.Cleanup(func() { c.CloseNow(); b.Close() })
	p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: false}
	const frames = 300
	go func() {
		for range frames {
			if c.Write(context.Background(), ws.MessageBinary, []byte("x")) != nil {
				return
			}
		}
	}()
	keys := map[[4]byte]bool{}
	for range frames {
		p.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		var head [7]byte // 2 header bytes, the key, 1 payload byte
		if _, err := io.ReadFull(p.br, head[:]); err != nil {
			t.Fatal(err)
		}
		if head[1] != 0x81 || head[6]^head[2] != 'x' {
			t.Fatalf("frame % x: want a masked 1-byte frame", head)
		}
		key := [4]byte(head[2:6])
		if keys[key] {
			t.Fatalf("masking key % x used twice", key)
		}
		keys[key] = true
	}
}
