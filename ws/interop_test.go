package ws_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// The interop tests run Duplex against other WebSocket implementations, Python's
// websockets and Node's ws, each both as client of a Duplex server and as server that
// Duplex dials, over 127.0.0.1 (see interop_helpers_test.go and internal/peers). A peer
// that is not installed skips its tests, and fails them in CI. To run them:
//
//	apt-get install python3-websockets   # or DUPLEX_PYTHON=a python with websockets 10+
//	npm ci                               # Node's ws, pinned in package-lock.json
//	go test ./ws/ -run Interop -race

// interopSizes are payload lengths at the edges of the three length encodings (7-bit,
// 16-bit and 64-bit, RFC 6455 §5.2), and a large message.
var interopSizes = []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20}

// TestInteropEcho sends the peer text and binary messages of every size and checks that
// its echo comes back intact: the peer reads what Duplex frames (masked by a Duplex client,
// §5.3) and Duplex reads what the peer frames. One binary message of 16 MiB ends the
// series; the peers take about a second each way for it, so it is the only one.
func TestInteropEcho(t *testing.T) {
	forEachInteropPairing(t, func(t *testing.T, pr *interopPairing) {
		ic := pr.connect(t, interopSpec{conn: ws.ConnOptions{WriteBufferSize: 64}})
		for _, typ := range []ws.MessageType{ws.MessageText, ws.MessageBinary} {
			for _, n := range interopSizes {
				ic.echo(t, typ, interopMessage(typ, n))
			}
		}
		ic.echo(t, ws.MessageBinary, interopMessage(ws.MessageBinary, 16<<20))
		interopConcurrentWrites(t, ic)
		ic.closeNormally(t)
	})
}

// interopConcurrentWrites has goroutines write at once, half of them with Conn.Writer,
// whose messages go out as many frames (WriteBufferSize is 64), and checks that every
// message comes back whole and each writer's in order: the frames of two messages never
// interleave on the wire (§5.4: "the fragments of one message MUST NOT be interleaved
// between the fragments of another message").
func interopConcurrentWrites(t *testing.T, ic *interopConn) {
	t.Helper()
	const writers, perWriter = 4, 25
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				msg := fmt.Appendf(nil, "%d %d %s", g, i, strings.Repeat("x", 10*i))
				var err error
				if g%2 == 0 {
					err = ic.c.Write(interopCtx(t), ws.MessageText, msg)
				} else {
					err = writeInChunks(interopCtx(t), ic.c, ws.MessageText, msg, 50)
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
		_, msg, err := ic.c.Read(interopCtx(t))
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		var g, i int
		var pad string
		if n, _ := fmt.Sscanf(string(msg), "%d %d %s", &g, &i, &pad); n < 2 || g < 0 || g >= writers ||
			i != next[g] || string(msg) != fmt.Sprintf("%d %d %s", g, i, strings.Repeat("x", 10*i)) {
			t.Fatalf("echo %.40q: not the next whole message of any writer (next %v)", msg, next)
		}
		next[g]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestInteropFragmented checks fragmented messages (§5.4) both ways, with a control frame
// in the middle of one (§5.4: "Control frames ... MAY be injected in the middle of a
// fragmented message").
func TestInteropFragmented(t *testing.T) {
	forEachInteropPairing(t, func(t *testing.T, pr *interopPairing) {
		t.Run("duplex-sends", func(t *testing.T) {
			// Conn.Writer sends a frame each WriteBufferSize bytes, 16 here, so the text's
			// multi-byte runes are split between frames: only the whole message has to be
			// valid UTF-8 (§8.1), which the peer must check across fragments.
			ic := pr.connect(t, interopSpec{conn: ws.ConnOptions{WriteBufferSize: 16}})
			for _, tc := range []struct {
				typ   ws.MessageType
				size  int
				piece int
			}{
				{ws.MessageText, 1000, 5},
				{ws.MessageBinary, 1<<16 + 3, 7},
			} {
				msg := interopMessage(tc.typ, tc.size)
				w, err := ic.c.Writer(interopCtx(t), tc.typ)
				if err != nil {
					t.Fatal(err)
				}
				for p := msg; len(p) > 0; p = p[min(tc.piece, len(p)):] {
					if _, err := w.Write(p[:min(tc.piece, len(p))]); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				typ, got, err := ic.c.Read(interopCtx(t))
				if err != nil {
					t.Fatal(err)
				}
				interopCheckMessage(t, typ, got, tc.typ, msg)
			}
			ic.closeNormally(t)
		})

		t.Run("peer-sends", func(t *testing.T) {
			tap := newInteropTap()
			ic := pr.connect(t, interopSpec{tap: tap, script: []interopAction{
				{"frag", "text", []string{"Hel", "", "lo wörld"}, false},
				{"frag", "binary", []string{"\x00\x01", "\x02", "\x03"}, false},
				{"frag", "text", []string{"", ""}, false},
			}})
			ic.read(t, ws.MessageText, "Hello wörld")
			ic.read(t, ws.MessageBinary, "\x00\x01\x02\x03")
			ic.read(t, ws.MessageText, "")
			frames, _ := tap.dataFrames()
			interopCheckFragmented(t, frames, 3)
			ic.closeNormally(t)
		})

		t.Run("duplex-pings-inside", func(t *testing.T) {
			// Conn.Ping from another goroutine goes out between two frames of the message
			// that Conn.Writer is sending, and the peer answers it there.
			ic := pr.connect(t, interopSpec{conn: ws.ConnOptions{WriteBufferSize: 16}})
			msgs, _ := ic.readInBackground(t)
			msg := interopMessage(ws.MessageText, 100)
			w, err := ic.c.Writer(interopCtx(t), ws.MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(msg[:40]); err != nil { // more than 16 bytes: a frame now
				t.Fatal(err)
			}
			if err := ic.c.Ping(interopCtx(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(msg[40:]); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := interopRecv(t, msgs, "echo")
			interopCheckMessage(t, got.typ, got.data, ws.MessageText, msg)
			ic.closeNormally(t)
		})

		t.Run("peer-pings-inside", func(t *testing.T) {
			// The peer sends the first frame, then a ping, and waits for the pong before it
			// sends the rest: Duplex must answer a ping in the middle of a message (§5.5.2:
			// "as soon as is practical").
			tap := newInteropTap()
			pings := make(chan string, 10)
			ic := pr.connect(t, interopSpec{
				tap:    tap,
				conn:   ws.ConnOptions{OnPing: func(p []byte) { pings <- string(p) }},
				script: []interopAction{{"frag", "text", []string{"one ", "two ", "three"}, true}},
			})
			ic.read(t, ws.MessageText, "one two three")
			if got := interopRecv(t, pings, "OnPing call"); got != "mid-message" {
				t.Errorf("OnPing got %q, want %q", got, "mid-message")
			}
			ic.pong(t, "mid-message")
			frames, inside := tap.dataFrames()
			interopCheckFragmented(t, frames, 1)
			if inside != 1 {
				t.Errorf("%d pings between the frames of the message, want 1; frames %v", inside, frames)
			}
			ic.closeNormally(t)
		})
	})
}

// interopCheckFragmented checks that frames hold n messages of two frames or more each: a
// text or binary frame without FIN, then continuation frames, the last with FIN (§5.4).
func interopCheckFragmented(t *testing.T, frames []interopTapFrame, n int) {
	t.Helper()
	msgs := 0
	for i := 0; i < len(frames); msgs++ {
		start := i
		for i < len(frames) && !frames[i].fin {
			i++
		}
		i++
		msg := frames[start:min(i, len(frames))]
		ok := len(msg) >= 2 && (msg[0].opcode == 1 || msg[0].opcode == 2) && msg[len(msg)-1].fin
		for _, f := range msg[1:] {
			ok = ok && f.opcode == 0
		}
		if !ok {
			t.Errorf("message %d is not fragmented: frames %v", msgs, msg)
		}
	}
	if msgs != n {
		t.Errorf("%d messages, want %d: frames %v", msgs, n, frames)
	}
}

// TestInteropPing checks pings and pongs both ways (§5.5.2, §5.5.3).
func TestInteropPing(t *testing.T) {
	forEachInteropPairing(t, func(t *testing.T, pr *interopPairing) {
		t.Run("duplex-pings", func(t *testing.T) {
			pongs := make(chan int, 10)
			ic := pr.connect(t, interopSpec{conn: ws.ConnOptions{OnPong: func(p []byte) { pongs <- len(p) }}})
			// Pongs arrive through reads, so Ping needs a goroutine reading.
			_, done := ic.readInBackground(t)
			for range 3 {
				if err := ic.c.Ping(interopCtx(t)); err != nil {
					t.Fatal(err)
				}
				if n := interopRecv(t, pongs, "OnPong call"); n != 8 {
					t.Errorf("pong of %d bytes, want the ping's 8", n)
				}
			}
			if err := ic.c.Close(ws.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
			if err := interopRecv(t, done, "end of the reads"); ws.CloseStatus(err) != ws.StatusNormalClosure {
				t.Errorf("reader got %v, want the peer's close frame, 1000", err)
			}
			ic.closed(t, ws.StatusNormalClosure, "")
			ic.noErrors(t)
		})

		t.Run("peer-pings", func(t *testing.T) {
			// Duplex answers each ping with a pong of the same payload, from empty to the
			// largest a control frame carries, 125 bytes (§5.5).
			payloads := []string{"", "hello", strings.Repeat("p", 125)}
			var script []interopAction
			for _, p := range payloads {
				script = append(script, interopAction{"ping", p})
			}
			pings := make(chan string, 10)
			ic := pr.connect(t, interopSpec{
				conn:   ws.ConnOptions{OnPing: func(p []byte) { pings <- string(p) }},
				script: append(script, interopAction{"send", "text", "pinged"}),
			})
			ic.read(t, ws.MessageText, "pinged")
			for _, p := range payloads {
				if got := interopRecv(t, pings, "OnPing call"); got != p {
					t.Errorf("OnPing got %q, want %q", got, p)
				}
				ic.pong(t, p)
			}
			ic.closeNormally(t)
		})

		t.Run("keepalive", func(t *testing.T) {
			pongs := make(chan struct{}, 100)
			ic := pr.connect(t, interopSpec{conn: ws.ConnOptions{
				PingInterval: 10 * time.Millisecond,
				PongTimeout:  interopTimeout,
				OnPong: func([]byte) {
					select {
					case pongs <- struct{}{}:
					default:
					}
				},
			}})
			_, done := ic.readInBackground(t)
			timeout := time.After(interopTimeout)
			for range 3 {
				select {
				case <-pongs:
				case err := <-done:
					t.Fatalf("connection ended before 3 keepalive pongs: %v", err)
				case <-timeout:
					t.Fatal("no 3 keepalive pongs in time")
				}
			}
			if err := ic.c.Close(ws.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
			interopRecv(t, done, "end of the reads")
			ic.closed(t, ws.StatusNormalClosure, "")
		})
	})
}

// interopCloses are close frames that must arrive intact both ways: the two normal codes,
// one of the range for libraries (§7.4.2: 3000-3999) and the last private one (4000-4999),
// with a reason of the most bytes a close frame holds, 123 (§5.5: 125 bytes of payload, two
// of them the code).
var interopCloses = []struct {
	code   ws.StatusCode
	reason string
}{
	{ws.StatusNormalClosure, "done"},
	{ws.StatusGoingAway, "going away"},
	{3000, "registered ✓"},
	{4999, strings.Repeat("é", 61) + "!"},
}

// TestInteropClose checks the closing handshake started by either side, an abnormal end,
// and the close frames sent for protocol violations.
func TestInteropClose(t *testing.T) {
	forEachInteropPairing(t, func(t *testing.T, pr *interopPairing) {
		for _, tc := range interopCloses {
			t.Run("duplex-closes/"+tc.code.String(), func(t *testing.T) {
				ic := pr.connect(t, interopSpec{})
				ic.echo(t, ws.MessageText, []byte("before closing"))
				// Close returns nil only once the peer answered with its close frame
				// (§7.1.2).
				if err := ic.c.Close(tc.code, tc.reason); err != nil {
					t.Fatal(err)
				}
				ic.closed(t, tc.code, tc.reason)
				ic.noErrors(t)
			})
		}

		for _, tc := range interopCloses {
			t.Run("peer-closes/"+tc.code.String(), func(t *testing.T) {
				ic := pr.connect(t, interopSpec{script: []interopAction{{"close", int(tc.code), tc.reason}}})
				_, _, err := ic.c.Read(interopCtx(t))
				var ce *ws.CloseError
				if !errors.As(err, &ce) || ce.Code != tc.code || ce.Reason != tc.reason {
					t.Fatalf("Read: %v, want a CloseError %d %q", err, int(tc.code), tc.reason)
				}
				// §5.5.1: "When sending a Close frame in response, the endpoint typically
				// echos the status code it received."
				ic.closed(t, tc.code, "")
				ic.noErrors(t)
			})
		}

		t.Run("duplex-closes-while-peer-sends", func(t *testing.T) {
			// The peer's messages may keep coming after Duplex's close frame (§5.5.1: an
			// endpoint "MAY delay sending a Close frame until its current message is sent").
			// Close, with no goroutine reading, reads them until the peer's close frame
			// arrives and keeps them for the reads that follow. Once "first" is read, the
			// messages after it are on their way; how many the peer sends before it sees
			// Duplex's close frame depends on timing, but those it sent arrive whole.
			big := interopPattern(1 << 20)
			ic := pr.connect(t, interopSpec{script: []interopAction{
				{"send", "text", "first"},
				{"send", "binary", 1 << 20}, {"send", "text", "more"}, {"send", "binary", 1 << 20},
			}})
			ic.read(t, ws.MessageText, "first")
			if err := ic.c.Close(ws.StatusNormalClosure, "enough"); err != nil {
				t.Fatal(err)
			}
			ic.closed(t, ws.StatusNormalClosure, "enough")
			want := []interopMsg{{ws.MessageBinary, big}, {ws.MessageText, []byte("more")}, {ws.MessageBinary, big}}
			for i := 0; ; i++ {
				typ, msg, err := ic.c.Read(interopCtx(t))
				if err != nil {
					interopWantClose(t, err, ws.StatusNormalClosure)
					break
				}
				if i >= len(want) {
					t.Fatalf("message %d after Close, of %d bytes: the peer sent %d", i, len(msg), len(want))
				}
				interopCheckMessage(t, typ, msg, want[i].typ, want[i].data)
			}
		})

		t.Run("duplex-closes/long-reason", func(t *testing.T) {
			// A reason longer than a close frame holds is cut at a rune boundary and marked
			// with "…": the peer, which checks that the reason is UTF-8 (§5.5.1), takes it.
			ic := pr.connect(t, interopSpec{})
			if err := ic.c.Close(4000, strings.Repeat("é", 100)); err != nil {
				t.Fatal(err)
			}
			ic.closed(t, 4000, strings.Repeat("é", 60)+"…")
			ic.noErrors(t)
		})

		t.Run("peer-sends-then-closes", func(t *testing.T) {
			// What the peer sent before its close frame is read first, and nothing is lost
			// (§1.4: the closing handshake avoids cases "where data may be unnecessarily
			// lost").
			ic := pr.connect(t, interopSpec{script: []interopAction{
				{"send", "text", "last words"},
				{"close", 4000, "bye"},
			}})
			ic.read(t, ws.MessageText, "last words")
			_, _, err := ic.c.Read(interopCtx(t))
			var ce *ws.CloseError
			if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "bye" {
				t.Fatalf("Read: %v, want a CloseError 4000 \"bye\"", err)
			}
			ic.closed(t, 4000, "")
		})

		t.Run("both-close-at-once", func(t *testing.T) {
			// §1.4: "It is safe for both peers to initiate this handshake simultaneously."
			// The peer closes right after "go"; Duplex closes as soon as it reads it, so
			// the two close frames most likely cross. Each side gets the other's frame.
			ic := pr.connect(t, interopSpec{script: []interopAction{
				{"send", "text", "go"},
				{"close", 4000, "peer"},
			}})
			ic.read(t, ws.MessageText, "go")
			if err := ic.c.Close(4001, "duplex"); err != nil {
				t.Fatal(err)
			}
			if e := ic.event(t, "closed"); e.Code != 4000 && e.Code != 4001 {
				t.Errorf("peer received close %d %q, want 4001, or its own 4000 echoed", e.Code, e.Reason)
			}
			ic.noErrors(t)
		})

		t.Run("peer-closes-without-code", func(t *testing.T) {
			// §7.1.5: a close frame with no status code reads as 1005, a code that §7.4.1
			// says is never sent: Duplex answers with an empty close frame too.
			ic := pr.connect(t, interopSpec{script: []interopAction{{"close"}}})
			_, _, err := ic.c.Read(interopCtx(t))
			interopWantClose(t, err, ws.StatusNoStatusRcvd)
			ic.closed(t, ws.StatusNoStatusRcvd, "")
		})

		t.Run("peer-aborts", func(t *testing.T) {
			// §7.1.5: a connection closed with no close frame received reads as 1006.
			ic := pr.connect(t, interopSpec{script: []interopAction{{"abort"}}})
			_, _, err := ic.c.Read(interopCtx(t))
			interopWantClose(t, err, ws.StatusAbnormalClosure)
		})

		t.Run("peer-killed", func(t *testing.T) {
			ic := pr.connect(t, interopSpec{ownProcess: true})
			ic.echo(t, ws.MessageText, []byte("alive"))
			ic.peer.kill()
			_, _, err := ic.c.Read(interopCtx(t))
			interopWantClose(t, err, ws.StatusAbnormalClosure)
		})

		t.Run("duplex-aborts", func(t *testing.T) {
			ic := pr.connect(t, interopSpec{})
			ic.echo(t, ws.MessageText, []byte("alive"))
			if err := ic.c.CloseNow(); err != nil {
				t.Fatal(err)
			}
			ic.closed(t, ws.StatusAbnormalClosure, "")
		})

		t.Run("too-big-for-duplex", func(t *testing.T) {
			// §10.4: an endpoint limits the size of messages; §7.4.1: 1009 says one was too
			// big. The peer is told so with a close frame.
			ic := pr.connect(t, interopSpec{
				conn:   ws.ConnOptions{ReadLimit: 1000},
				script: []interopAction{{"send", "binary", 1001}},
			})
			_, _, err := ic.c.Read(interopCtx(t))
			interopWantProtocolError(t, err, ws.StatusMessageTooBig)
			ic.closedCode(t, ws.StatusMessageTooBig)
		})

		t.Run("too-big-for-duplex-fragmented", func(t *testing.T) {
			// The limit is on the message, not the frame: two frames of 600 bytes exceed it.
			chunk := strings.Repeat("a", 600)
			ic := pr.connect(t, interopSpec{
				conn:   ws.ConnOptions{ReadLimit: 1000},
				script: []interopAction{{"frag", "binary", []string{chunk, chunk}, false}},
			})
			_, _, err := ic.c.Read(interopCtx(t))
			interopWantProtocolError(t, err, ws.StatusMessageTooBig)
			ic.closedCode(t, ws.StatusMessageTooBig)
		})

		t.Run("too-big-for-peer", func(t *testing.T) {
			ic := pr.connect(t, interopSpec{peerArgs: []string{"--max-size", "1000"}})
			ic.echo(t, ws.MessageBinary, interopMessage(ws.MessageBinary, 1000))
			if err := ic.c.Write(interopCtx(t), ws.MessageBinary, interopMessage(ws.MessageBinary, 1001)); err != nil {
				t.Fatal(err)
			}
			_, _, err := ic.c.Read(interopCtx(t))
			interopWantClose(t, err, ws.StatusMessageTooBig)
		})

		// Frames no peer library sends, written raw by the peer: Duplex fails the
		// connection (§7.1.7) with the close code the RFC names, which the peer receives.
		violations := []struct {
			name    string
			first   byte // FIN, RSV1-3 and opcode
			payload string
			masked  bool // masked if the peer is the client, the right way, unless set
			code    ws.StatusCode
		}{
			// §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail
			// the WebSocket Connection_."
			{name: "reserved-opcode", first: 0x83, code: ws.StatusProtocolError},
			// §5.2: RSV1 "MUST be 0 unless an extension is negotiated that defines
			// meanings for non-zero values"; none is.
			{name: "rsv1-without-extension", first: 0xc1, payload: "x", code: ws.StatusProtocolError},
			// §5.5: "All control frames ... MUST NOT be fragmented."
			{name: "fragmented-ping", first: 0x09, payload: "p", code: ws.StatusProtocolError},
			// §8.1: text that is not UTF-8 fails the connection; §7.4.1: with 1007.
			{name: "invalid-utf8", first: 0x81, payload: "\xce\xba\xff", code: ws.StatusInvalidFramePayload},
			// §7.4.1: 1005 "MUST NOT be set as a status code in a Close control frame".
			{name: "close-code-1005", first: 0x88, payload: "\x03\xed", code: ws.StatusProtocolError},
			// §5.5.1: the reason of a close frame is UTF-8; §8.1 applies.
			{name: "close-reason-invalid-utf8", first: 0x88, payload: "\x03\xe8\xff", code: ws.StatusInvalidFramePayload},
			// §5.1: a client masks every frame, a server none; the other is failed.
			{name: "wrong-masking", first: 0x81, payload: "hi", masked: true, code: ws.StatusProtocolError},
		}
		for _, v := range violations {
			t.Run("violation/"+v.name, func(t *testing.T) {
				masked := pr.duplexServer != v.masked // the peer client masks, unless wrongly
				ic := pr.connect(t, interopSpec{script: []interopAction{{"raw", interopRawFrame(v.first, []byte(v.payload), masked)}}})
				_, _, err := ic.c.Read(interopCtx(t))
				interopWantProtocolError(t, err, v.code)
				ic.closedCode(t, v.code)
			})
		}
	})
}

// TestInteropSubprotocol checks the negotiation of subprotocols (§1.9, §4.1, §4.2.2): the
// client offers a list, the server picks the first of its own, in its order of preference,
// that was offered, or none.
func TestInteropSubprotocol(t *testing.T) {
	forEachInteropPairing(t, func(t *testing.T, pr *interopPairing) {
		server := []string{"chat.v3", "chat.v2", "chat.v1"}
		for _, tc := range []struct {
			name  string
			offer []string
			want  string
		}{
			// The client prefers v1, the server v2: the server's order decides.
			{"server-preference", []string{"chat.v1", "chat.v2"}, "chat.v2"},
			{"none-agreed", []string{"x", "y"}, ""},
			{"none-offered", nil, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				spec := interopSpec{subprotocols: server, peerSubprotocols: tc.offer}
				if !pr.duplexServer {
					spec.subprotocols, spec.peerSubprotocols = tc.offer, server
				}
				ic := pr.connect(t, spec)
				if got := ic.c.Subprotocol(); got != tc.want {
					t.Errorf("Duplex agreed %q, want %q", got, tc.want)
				}
				if pr.duplexServer && tc.want == "" && tc.offer != nil && pr.peer.needsSubprotocol {
					// §4.1 lets a client go on without a subprotocol; this one gives up.
					ic.event(t, "error")
					_, _, err := ic.c.Read(interopCtx(t))
					interopWantClose(t, err, ws.StatusAbnormalClosure)
					return
				}
				e := ic.event(t, "open")
				if e.Subprotocol != tc.want {
					t.Errorf("peer agreed %q, want %q", e.Subprotocol, tc.want)
				}
				if !slices.Equal(e.Offered, tc.offer) {
					t.Errorf("offered %q, want %q in that order", e.Offered, tc.offer)
				}
				ic.echo(t, ws.MessageText, []byte("hi"))
				ic.closeNormally(t)
			})
		}

		if !pr.duplexServer {
			t.Run("unoffered-answer", func(t *testing.T) {
				// §4.1: a subprotocol that the client did not offer fails the connection.
				_, err := pr.tryConnect(t, interopSpec{subprotocols: []string{"chat.v1"}, forceSubprotocol: "chat.v9"})
				if !errors.Is(err, ws.ErrBadHandshake) || !strings.Contains(err.Error(), "chat.v9") {
					t.Errorf("Dial: %v, want a bad handshake naming chat.v9", err)
				}
			})
		}
	})
}

// read reads a message and checks it.
func (ic *interopConn) read(t testing.TB, typ ws.MessageType, want string) {
	t.Helper()
	gotType, got, err := ic.c.Read(interopCtx(t))
	if err != nil {
		t.Fatalf("Read: %v; peer events %+v", err, ic.peer.eventsOf(ic.id))
	}
	interopCheckMessage(t, gotType, got, typ, []byte(want))
}

// pong waits for the peer to report the pong of its ping with payload data.
func (ic *interopConn) pong(t testing.TB, data string) {
	t.Helper()
	ic.peer.waitEvent(t, ic.id, "pong "+data, func(e interopEvent) bool { return e.Event == "pong" && e.Data == data })
}

// closeNormally closes with 1000 and checks that the peer took part in the handshake, and
// reported no error.
func (ic *interopConn) closeNormally(t testing.TB) {
	t.Helper()
	if err := ic.c.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	ic.closed(t, ws.StatusNormalClosure, "")
	ic.noErrors(t)
}

// interopMsg is a message read.
type interopMsg struct {
	typ  ws.MessageType
	data []byte
}

// readInBackground reads in a goroutine of its own until an error: it sends the messages
// on msgs, while the test runs, and the error on done.
func (ic *interopConn) readInBackground(t testing.TB) (msgs <-chan interopMsg, done <-chan error) {
	m, d, stop := make(chan interopMsg), make(chan error, 1), make(chan struct{})
	t.Cleanup(func() { close(stop) }) // before the connection is closed, which ends Read
	go func() {
		for {
			typ, data, err := ic.c.Read(context.Background())
			if err != nil {
				d <- err
				return
			}
			select {
			case m <- interopMsg{typ, data}:
			case <-stop:
			}
		}
	}()
	return m, d
}

func interopWantClose(t testing.TB, err error, code ws.StatusCode) {
	t.Helper()
	if got := ws.CloseStatus(err); got != code {
		t.Errorf("read error %v: close status %d, want %d", err, int(got), int(code))
	}
}

func interopWantProtocolError(t testing.TB, err error, code ws.StatusCode) {
	t.Helper()
	var pe *ws.ProtocolError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Errorf("read error %v, want a ProtocolError with code %d", err, int(code))
	}
}
