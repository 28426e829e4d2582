package ws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/duplex-ws/duplex/ws"
)

// The mode matrix: the Conn-level behaviours — echo of every size, streaming both ways,
// concurrent writers, pings inside a streamed message, closing from either side, the read
// limit, WriteCompressed and the threshold — run between two Duplex endpoints over
// loopback, with compression off, without and with context takeover, at 8, 9 and 15
// window bits, and the Conn under test as server and as client. Both ends negotiate
// through Accept and Dial with the same options.

// deflateConfig is a column of the matrix.
type deflateConfig struct {
	mode ws.CompressionMode
	bits int // both windows; 0 when compression is off
}

func (c deflateConfig) String() string {
	switch c.mode {
	case ws.CompressionDisabled:
		return "off"
	case ws.CompressionNoContextTakeover:
		return fmt.Sprintf("no-takeover-%d", c.bits)
	}
	return fmt.Sprintf("takeover-%d", c.bits)
}

func (c deflateConfig) compressed() bool { return c.mode != ws.CompressionDisabled }

var deflateConfigs = []deflateConfig{
	{ws.CompressionDisabled, 0},
	{ws.CompressionNoContextTakeover, 8}, {ws.CompressionNoContextTakeover, 9}, {ws.CompressionNoContextTakeover, 15},
	{ws.CompressionContextTakeover, 8}, {ws.CompressionContextTakeover, 9}, {ws.CompressionContextTakeover, 15},
}

// deflateEnds is a Conn under test and its Duplex peer.
type deflateEnds struct {
	c, peer *ws.Conn
	tap     *frameTap // frames the Conn under test wrote, if asked for
	ext     string    // the Sec-WebSocket-Extensions agreed
}

// deflateSetup configures newDeflateEnds.
type deflateSetup struct {
	conn      ws.ConnOptions // the Conn under test's
	peer      ws.ConnOptions
	threshold int  // both ends'
	tap       bool // record the frames the Conn under test writes
}

// newDeflateEnds connects a Conn under test in role r to a peer, both with cfg's
// compression, over loopback. Both are closed when the test ends.
func newDeflateEnds(t testing.TB, cfg deflateConfig, r role, s deflateSetup) *deflateEnds {
	t.Helper()
	copts := ws.CompressionOptions{Mode: cfg.mode, ServerMaxWindowBits: cfg.bits, ClientMaxWindowBits: cfg.bits, Threshold: s.threshold}
	serverOpts, clientOpts := s.conn, s.peer
	if r == asClient {
		serverOpts, clientOpts = s.peer, s.conn
	}
	e := &deflateEnds{}
	if s.tap {
		e.tap = &frameTap{}
	}
	accepted := make(chan *ws.Conn, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, _ := ws.Accept(w, req, &ws.AcceptOptions{ConnOptions: serverOpts, Compression: copts})
		accepted <- c
	}))
	if s.tap && r == asServer {
		srv.Listener = tapListener{srv.Listener, e.tap, nil}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	dopts := &ws.DialOptions{ConnOptions: clientOpts, Compression: copts, Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }}
	if s.tap && r == asClient {
		dopts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &tapConn{nc, e.tap, nil}, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, resp, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), dopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.CloseNow() })
	server := interopRecv(t, accepted, "Accept")
	if server == nil {
		t.Fatal("Accept failed")
	}
	t.Cleanup(func() { server.CloseNow() })
	e.c, e.peer = server, client
	if r == asClient {
		e.c, e.peer = client, server
	}
	e.ext = resp.Header.Get("Sec-WebSocket-Extensions")
	if (e.ext != "") != cfg.compressed() {
		t.Fatalf("agreed %q with %v", e.ext, cfg)
	}
	return e
}

// forEachDeflateMode runs f as a parallel subtest for every configuration and role.
func forEachDeflateMode(t *testing.T, f func(t *testing.T, cfg deflateConfig, r role)) {
	for _, cfg := range deflateConfigs {
		for _, r := range roles {
			t.Run(cfg.String()+"/"+r.String(), func(t *testing.T) {
				t.Parallel()
				f(t, cfg, r)
			})
		}
	}
}

// modeCtx is a context for one step of a test.
func modeCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echoLoop echoes every message c reads until an error, which it sends on the returned
// channel.
func echoLoop(c *ws.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		var buf []byte
		for {
			typ, msg, err := c.ReadAppend(context.Background(), buf[:0])
			if err == nil {
				err = c.Write(context.Background(), typ, msg)
			}
			if err != nil {
				done <- err
				return
			}
			buf = msg
		}
	}()
	return done
}

// randomText returns n bytes of valid, barely compressible UTF-8: random runes of one to
// four bytes.
func randomText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, 0, n)
	ranges := [][2]rune{{0x20, 0x7e}, {0xa0, 0x7ff}, {0x4e00, 0x9fff}, {0x1f300, 0x1faff}}
	for {
		rg := ranges[r.IntN(len(ranges))]
		c := rg[0] + rune(r.IntN(int(rg[1]-rg[0])))
		if len(b)+utf8.RuneLen(c) > n {
			break
		}
		b = utf8.AppendRune(b, c)
	}
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}

// modeMessage returns a message of n bytes of the given type, compressible or not.
func modeMessage(typ ws.MessageType, n int, random bool) []byte {
	switch {
	case typ == ws.MessageText && random:
		return randomText(n, 1)
	case typ == ws.MessageText:
		return interopMessage(ws.MessageText, n)
	}
	return deflatePayload(n, random, 1)
}

// closeBoth ends a test's connection with the closing handshake, started by the Conn
// under test, and checks that the peer's reader saw it.
func closeBoth(t *testing.T, e *deflateEnds, peerDone <-chan error) {
	t.Helper()
	if err := e.c.Close(ws.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := interopRecv(t, peerDone, "the peer's end"); ws.CloseStatus(err) != ws.StatusNormalClosure {
		t.Fatalf("peer's read ended with %v; want 1000", err)
	}
}

// TestDeflateModesEcho echoes text and binary messages of every size, compressible and
// random, and checks that compressible ones took less room on the wire when compression
// was agreed, and all of their room when not.
func TestDeflateModesEcho(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20}
	forEachDeflateMode(t, func(t *testing.T, cfg deflateConfig, r role) {
		e := newDeflateEnds(t, cfg, r, deflateSetup{tap: true})
		peerDone := echoLoop(e.peer)
		for _, typ := range []ws.MessageType{ws.MessageText, ws.MessageBinary} {
			for _, random := range []bool{false, true} {
				for _, n := range sizes {
					if n == 1<<20 && (typ == ws.MessageBinary) != random != (r == asClient) {
						// 1 MiB (which takes a second with -race) once per
						// configuration and role: compressible text and random
						// binary for a server, the other two for a client.
						continue
					}
					msg := modeMessage(typ, n, random)
					e.tap.take()
					if err := e.c.Write(modeCtx(t), typ, msg); err != nil {
						t.Fatal(err)
					}
					wire := e.tap.dataBytes()
					gt, got, err := e.c.Read(modeCtx(t))
					if err != nil || gt != typ || !bytes.Equal(got, msg) {
						t.Fatalf("%v of %d bytes (random %v): echo %v of %d bytes, %v", typ, n, random, gt, len(got), err)
					}
					switch {
					case !cfg.compressed() && wire != int64(n):
						t.Errorf("%v of %d bytes sent as %d payload bytes uncompressed", typ, n, wire)
					case cfg.compressed() && !random && n >= 1000 && wire > int64(n)/2:
						t.Errorf("%v of %d compressible bytes sent as %d", typ, n, wire)
					case cfg.compressed() && random && n >= 1000 && wire > int64(n)+int64(n)*6/(1<<cfg.bits)+int64(n)/500+64:
						// The encoder works a window at a time: a stored block (5 bytes more)
						// per window of incompressible input at worst.
						t.Errorf("%v of %d random bytes sent as %d: more than stored blocks of a window", typ, n, wire)
					}
				}
			}
		}
		closeBoth(t, e, peerDone)
	})
}

// TestDeflateModesLarge echoes one 16 MiB message with context takeover: the largest
// message, once. It repeats a random kilobyte, which compresses fast.
func TestDeflateModesLarge(t *testing.T) {
	e := newDeflateEnds(t, deflateConfig{ws.CompressionContextTakeover, 15}, asServer, deflateSetup{})
	peerDone := echoLoop(e.peer)
	msg := bytes.Repeat(deflatePayload(1000, true, 16), 16<<10)
	if err := e.c.Write(modeCtx(t), ws.MessageBinary, msg); err != nil {
		t.Fatal(err)
	}
	if _, got, err := e.c.Read(modeCtx(t)); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(got), err)
	}
	closeBoth(t, e, peerDone)
}

// TestDeflateModesWriter streams messages with Conn.Writer in pieces of every size through
// a 512-byte WriteBufferSize, and an empty one.
func TestDeflateModesWriter(t *testing.T) {
	forEachDeflateMode(t, func(t *testing.T, cfg deflateConfig, r role) {
		e := newDeflateEnds(t, cfg, r, deflateSetup{conn: ws.ConnOptions{WriteBufferSize: 512}})
		peerDone := echoLoop(e.peer)
		pieces := []int{1, 7, 100, 511, 512, 513, 5000, 70000}
		for _, tc := range []struct {
			typ    ws.MessageType
			n      int
			random bool
		}{{ws.MessageText, 0, false}, {ws.MessageText, 300000, false}, {ws.MessageBinary, 200000, true}, {ws.MessageText, 50000, true}} {
			msg := modeMessage(tc.typ, tc.n, tc.random)
			w, err := e.c.Writer(modeCtx(t), tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := 0, msg; len(p) > 0; i++ {
				k := min(pieces[i%len(pieces)], len(p))
				if n, err := w.Write(p[:k]); n != k || err != nil {
					t.Fatalf("Write: %d, %v", n, err)
				}
				p = p[k:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("x")); err == nil {
				t.Error("Write after Close succeeded")
			}
			typ, got, err := e.c.Read(modeCtx(t))
			if err != nil || typ != tc.typ || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes: %v, %d bytes, %v", tc.n, typ, len(got), err)
			}
		}
		closeBoth(t, e, peerDone)
	})
}

// TestDeflateModesReader reads messages with Conn.Reader in small and large reads, and
// abandons one half read: the next message is intact, also with context takeover, whose
// window must hold the abandoned message's whole text.
func TestDeflateModesReader(t *testing.T) {
	forEachDeflateMode(t, func(t *testing.T, cfg deflateConfig, r role) {
		e := newDeflateEnds(t, cfg, r, deflateSetup{})
		msgs := [][]byte{
			deflatePayload(256<<10, false, 5),
			deflatePayload(100000, true, 6),
			deflatePayload(70000, false, 7), // abandoned half read
			deflatePayload(70000, false, 7), // refers to the one abandoned
			nil,
		}
		errc := make(chan error, 1)
		go func() {
			for _, m := range msgs {
				if err := e.peer.Write(context.Background(), ws.MessageBinary, m); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		for i, m := range msgs {
			_, rd, err := e.c.Reader(modeCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			switch i {
			case 0:
				buf := make([]byte, 100)
				for {
					n, err := rd.Read(buf)
					got = append(got, buf[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			case 2:
				got = make([]byte, len(m)/2)
				if _, err := io.ReadFull(rd, got); err != nil {
					t.Fatal(err)
				}
				got = m // the rest is discarded by the next Reader
			default:
				if got, err = io.ReadAll(rd); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, m) {
				t.Fatalf("message %d: %d bytes; want %d", i, len(got), len(m))
			}
		}
		if err := interopRecv(t, errc, "the writes"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeflateModesConcurrentWriters has 50 goroutines write at once, with Write,
// WriteCompressed both ways and Writer, and checks that every message arrives whole and
// each writer's in order.
func TestDeflateModesConcurrentWriters(t *testing.T) {
	const writers, perWriter = 50, 10
	forEachDeflateMode(t, func(t *testing.T, cfg deflateConfig, r role) {
		e := newDeflateEnds(t, cfg, r, deflateSetup{conn: ws.ConnOptions{WriteBufferSize: 512}})
		message := func(g, i int) []byte {
			return fmt.Appendf(nil, "%d %d %s", g, i, strings.Repeat("abc", 50*i))
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for g := range writers {
			wg.Go(func() {
				for i := range perWriter {
					msg := message(g, i)
					var err error
					switch (g + i) % 4 {
					case 0:
						err = e.c.Write(modeCtx(t), ws.MessageText, msg)
					case 1:
						err = e.c.WriteCompressed(modeCtx(t), ws.MessageText, msg, true)
					case 2:
						err = e.c.WriteCompressed(modeCtx(t), ws.MessageText, msg, false)
					default:
						err = writeInChunks(modeCtx(t), e.c, ws.MessageText, msg, 300)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		next := make([]int, writers)
		for range writers * perWriter {
			_, msg, err := e.peer.Read(modeCtx(t))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			var g, i int
			if n, _ := fmt.Sscanf(string(msg), "%d %d", &g, &i); n != 2 || g < 0 || g >= writers || i != next[g] || !bytes.Equal(msg, message(g, i)) {
				t.Fatalf("%.40q: not the next whole message of any writer (next %v)", msg, next)
			}
			next[g]++
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// TestDeflateModesPingsInStream pings while a compressed message is being streamed, both
// ways: the pongs come back between the message's frames (RFC 6455 §5.4, §5.5.2) and the
// message arrives intact.
func TestDeflateModesPingsInStream(t *testing.T) {
	forEachDeflateMode(t, func(t *testing.T, cfg deflateConfig, r role) {
		for _, connStreams := range []bool{true, false} {
			opts := ws.ConnOptions{WriteBufferSize: 512}
			e := newDeflateEnds(t, cfg, r, deflateSetup{conn: opts, peer: opts})
			writer, reader := e.c, e.peer
			if !connStreams {
				writer, reader = e.peer, e.c
			}
			readAll(context.Background(), writer) // for its pongs; ends with the connection
			readerDone := make(chan result, 1)
			go func() {
				typ, msg, err := reader.Read(context.Background())
				readerDone <- result{typ, msg, err}
			}()
			msg := deflatePayload(60000, true, 9) // random: frames go out as it is written
			w, err := writer.Writer(modeCtx(t), ws.MessageBinary)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(msg); i += 10000 {
				if _, err := w.Write(msg[i : i+10000]); err != nil {
					t.Fatal(err)
				}
				if err := writer.Ping(modeCtx(t)); err != nil {
					t.Fatalf("conn streams %v: ping inside the message: %v", connStreams, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if res := interopRecv(t, readerDone, "the message"); res.err != nil || !bytes.Equal(res.msg, msg) {
				t.Fatalf("conn streams %v: %d bytes, %v", connStreams, len(res.msg), res.err)
			}
		}
	})
}

// TestDeflateModesClose closes from either side after compressed messages: the messages
// sent before the close frame are read, then the CloseError with the code and reason.
func TestDeflateModesClose(t *testing.T) {
	forEachDeflateMode(t, func(t *testing.T, cfg deflateConfig, r role) {
		for _, local := range []bool{true, false} {
			e := newDeflateEnds(t, cfg, r, deflateSetup{})
			closer, other := e.c, e.peer
			if !local {
				closer, other = e.peer, e.c
			}
			results := readAll(context.Background(), other)
			msg := deflatePayload(5000, false, 11)
			for range 3 {
				if err := closer.Write(modeCtx(t), ws.MessageBinary, msg); err != nil {
					t.Fatal(err)
				}
			}
			closeErr := make(chan error, 1)
			go func() { closeErr <- closer.Close(4000, "bye") }()
			for i := range 3 {
				if res := next(t, results); res.err != nil || !bytes.Equal(res.msg, msg) {
					t.Fatalf("local %v: message %d before the close: %d bytes, %v", local, i, len(res.msg), res.err)
				}
			}
			res := next(t, results)
			var ce *ws.CloseError
			if !errors.As(res.err, &ce) || ce.Code != 4000 || ce.Reason != "bye" {
				t.Fatalf("local %v: read ended with %v; want CloseError 4000 \"bye\"", local, res.err)
			}
			if err := interopRecv(t, closeErr, "Close"); err != nil {
				t.Fatalf("local %v: Close: %v", local, err)
			}
		}
	})
}

// TestDeflateModesReadLimit checks that the read limit applies to a message's decompressed
// size: at the limit it is read, one byte over it fails the connection with 1009, though
// compressed it is a few hundred bytes.
func TestDeflateModesReadLimit(t *testing.T) {
	const limit = 100000
	forEachDeflateMode(t, func(t *testing.T, cfg deflateConfig, r role) {
		e := newDeflateEnds(t, cfg, r, deflateSetup{conn: ws.ConnOptions{ReadLimit: limit}})
		peerResults := readAll(context.Background(), e.peer)
		results := readAll(context.Background(), e.c)
		for _, n := range []int{limit, limit + 1} {
			if err := e.peer.Write(modeCtx(t), ws.MessageBinary, bytes.Repeat([]byte("x"), n)); err != nil {
				t.Fatal(err)
			}
		}
		if res := next(t, results); res.err != nil || len(res.msg) != limit {
			t.Fatalf("message at the limit: %d bytes, %v", len(res.msg), res.err)
		}
		wantProtocolError(t, next(t, results).err, ws.StatusMessageTooBig)
		if res := next(t, peerResults); ws.CloseStatus(res.err) != ws.StatusMessageTooBig {
			t.Fatalf("peer's read ended with %v; want 1009", res.err)
		}
	})
}

// TestDeflateModesWriteCompressed checks that WriteCompressed overrides the threshold both
// ways, and the threshold's meanings: zero for 128 bytes, negative for every message, a
// large one for none below it. With compression off nothing is compressed.
func TestDeflateModesWriteCompressed(t *testing.T) {
	big := deflatePayload(70000, false, 12)
	forEachDeflateMode(t, func(t *testing.T, cfg deflateConfig, r role) {
		for _, tc := range []struct {
			threshold int
			write     func(c *ws.Conn, p []byte) error
			sizes     []int
			rsv1      []bool // with compression agreed
		}{
			{0, nil, []int{0, 127, 128, 70000}, []bool{false, false, true, true}},
			{-1, nil, []int{0, 1, 127}, []bool{true, true, true}},
			{1 << 20, nil, []int{128, 70000}, []bool{false, false}},
			{0, func(c *ws.Conn, p []byte) error { return c.WriteCompressed(modeCtx(t), ws.MessageBinary, p, false) }, []int{128, 70000}, []bool{false, false}},
			{1 << 20, func(c *ws.Conn, p []byte) error { return c.WriteCompressed(modeCtx(t), ws.MessageBinary, p, true) }, []int{0, 1, 70000}, []bool{true, true, true}},
		} {
			e := newDeflateEnds(t, cfg, r, deflateSetup{threshold: tc.threshold, tap: true})
			results := readAll(context.Background(), e.peer)
			for i, n := range tc.sizes {
				e.tap.take()
				var err error
				if tc.write == nil {
					err = e.c.Write(modeCtx(t), ws.MessageBinary, big[:n])
				} else {
					err = tc.write(e.c, big[:n])
				}
				if err != nil {
					t.Fatal(err)
				}
				if res := next(t, results); res.err != nil || !bytes.Equal(res.msg, big[:n]) {
					t.Fatalf("threshold %d, %d bytes: read %d bytes, %v", tc.threshold, n, len(res.msg), res.err)
				}
				frames := e.tap.take()
				if len(frames) != 1 {
					t.Fatalf("threshold %d, %d bytes: %d frames", tc.threshold, n, len(frames))
				}
				if rsv1 := frames[0].b0&0x40 != 0; rsv1 != (tc.rsv1[i] && cfg.compressed()) {
					t.Errorf("threshold %d, %d bytes: RSV1 %v; want %v", tc.threshold, n, rsv1, tc.rsv1[i] && cfg.compressed())
				}
			}
		}
	})
}

// TestDeflateTakeoverShrinks sends 1000 similar JSON messages and counts their bytes on
// the wire: context takeover, which lets each message refer to the ones before, sends far
// fewer than compressing each alone, which sends fewer than no compression.
func TestDeflateTakeoverShrinks(t *testing.T) {
	msgs := make([][]byte, 1000)
	r := rand.New(rand.NewPCG(1, 1000))
	for i := range msgs {
		msgs[i] = fmt.Appendf(nil, `{"type":"price","symbol":"%s","bid":%d.%02d,"ask":%d.%02d,"volume":%d,"exchange":"XNAS","currency":"USD","seq":%d}`,
			[]string{"AAPL", "MSFT", "GOOG", "AMZN"}[r.IntN(4)], 100+r.IntN(50), r.IntN(100), 100+r.IntN(50), r.IntN(100), r.IntN(100000), i)
	}
	wire := map[string]int64{}
	for _, cfg := range deflateConfigs {
		e := newDeflateEnds(t, cfg, asServer, deflateSetup{tap: true, threshold: -1})
		results := readAll(context.Background(), e.peer)
		var first, last int64
		for i, m := range msgs {
			if err := e.c.Write(modeCtx(t), ws.MessageText, m); err != nil {
				t.Fatal(err)
			}
			if res := next(t, results); res.err != nil || !bytes.Equal(res.msg, m) {
				t.Fatalf("%v: message %d: %q, %v", cfg, i, res.msg, res.err)
			}
			n := e.tap.dataBytes()
			wire[cfg.String()] += n
			switch {
			case i < 100:
				first += n
			case i >= 900:
				last += n
			}
		}
		t.Logf("%-15v %7d bytes on the wire for 1000 messages (first 100: %d, last 100: %d)", cfg, wire[cfg.String()], first, last)
		e.c.CloseNow()
	}
	for _, bits := range []int{8, 9, 15} {
		no, yes := wire[fmt.Sprintf("no-takeover-%d", bits)], wire[fmt.Sprintf("takeover-%d", bits)]
		// Each message alone is too short to compress much: compressing it without
		// takeover only nears the uncompressed size.
		if yes > no/2 || no > wire["off"]*21/20 {
			t.Errorf("%d bits: %d bytes with takeover, %d without, %d uncompressed; want takeover at most half", bits, yes, no, wire["off"])
		}
	}
	if wire["takeover-15"] > wire["off"]/4 {
		t.Errorf("takeover with 15 bits: %d bytes of %d; want at most a quarter", wire["takeover-15"], wire["off"])
	}
}
