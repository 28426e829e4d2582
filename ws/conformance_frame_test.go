package ws_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/duplex-ws/duplex/ws"
)

// Conformance tests for the framing of RFC 6455 §5, one table row per rule, each naming
// the section it enforces and the Autobahn|Testsuite case(s) it mirrors. Every row runs
// with the Conn under test as server and as client, through every readMode, and with the
// peer's bytes going out in one write, frame by frame and octet by octet (Autobahn's
// "chops"). The Conn echoes every message, as Autobahn's testee does, and the peer checks
// the exact bytes of every frame that comes back.
//
// This file holds the script runner and sections 1 to 4 of Autobahn (framing, pings,
// reserved bits, opcodes); conformance_fragment_test.go holds sections 5 (fragmentation)
// and 9 (large messages), the read limit, the masking and length rules of §5.1–5.2 and
// Conn.Reader; conformance_write_test.go the writing side and the context rules.

// Opcodes as they appear on the wire (RFC 6455 §5.2).
const (
	wireCont   byte = 0x0
	wireText   byte = 0x1
	wireBinary byte = 0x2
	wireClose  byte = 0x8
	wirePing   byte = 0x9
	wirePong   byte = 0xA
)

// testMaskKey is the masking key of both ends: newPair makes a client under test mask with
// it, and the raw peer masks with it when it plays the client.
var testMaskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// inFrame is a frame the peer sends.
type inFrame struct {
	fin     bool
	rsv     byte // RSV bits in place: 0x40, 0x20, 0x10
	op      byte
	payload []byte
	// length, when set, is sent in place of the minimal encoding of len(payload): the
	// 7-bit payload length, then any extended length bytes (§5.2).
	length []byte
	// wrongMask inverts the masking rule of §5.1: the frame is masked when the peer is
	// the server and not when it is the client.
	wrongMask bool
	// headerOnly sends the header, announcing len(payload), and none of the payload.
	headerOnly bool
	// zeroKey masks, when the frame is masked, with the key 00 00 00 00.
	zeroKey bool
	// afterOut holds the frame back until this many frames from the Conn have arrived,
	// so that a script can show the Conn answering before the peer goes on.
	afterOut int
}

func dataFrame(op byte, payload string) inFrame {
	return inFrame{fin: true, op: op, payload: []byte(payload)}
}

func fragment(fin bool, op byte, payload string) inFrame {
	return inFrame{fin: fin, op: op, payload: []byte(payload)}
}

func (f inFrame) withRSV(rsv byte) inFrame { f.rsv = rsv; return f }
func (f inFrame) after(n int) inFrame      { f.afterOut = n; return f }

// encode returns the frame's bytes as the peer sends them.
func (f inFrame) encode(peerIsClient bool) []byte {
	masked := peerIsClient != f.wrongMask
	key := testMaskKey
	if f.zeroKey {
		key = [4]byte{}
	}
	out := frameHeader(f.fin, f.rsv, f.op, len(f.payload), masked, key)
	if f.length != nil {
		// Replace the minimal length encoding with the one given.
		n := len(out) - 2
		if masked {
			n -= 4
		}
		head := append([]byte{out[0], f.length[0] | out[1]&0x80}, f.length[1:]...)
		out = append(head, out[2+n:]...)
	}
	if f.headerOnly {
		return out
	}
	return appendMasked(out, f.payload, masked, key)
}

// frameHeader encodes a frame header with the minimal length encoding (§5.2), like
// encodeFrame in the harness but without the payload, so that big frames can be built and
// checked without a byte-by-byte loop, which the race detector makes slow.
func frameHeader(fin bool, rsv, op byte, n int, masked bool, key [4]byte) []byte {
	return frameHeaderLen(fin, rsv, op, uint64(n), masked, key)
}

// frameHeaderLen is frameHeader for any length a header can announce, beyond an int's on
// a 32-bit platform.
func frameHeaderLen(fin bool, rsv, op byte, n uint64, masked bool, key [4]byte) []byte {
	b0 := rsv | op
	if fin {
		b0 |= 0x80
	}
	var b1 byte
	if masked {
		b1 = 0x80
	}
	var out []byte
	switch {
	case n < 126:
		out = []byte{b0, b1 | byte(n)}
	case n <= 0xFFFF:
		out = binary.BigEndian.AppendUint16([]byte{b0, b1 | 126}, uint16(n))
	default:
		out = binary.BigEndian.AppendUint64([]byte{b0, b1 | 127}, n)
	}
	if masked {
		out = append(out, key[:]...)
	}
	return out
}

// appendMasked appends payload to b, masked with key if masked is set (§5.3).
func appendMasked(b, payload []byte, masked bool, key [4]byte) []byte {
	start := len(b)
	b = append(b, payload...)
	if masked {
		xorKey(b[start:], key)
	}
	return b
}

// xorKey masks or unmasks b in place with key, starting at key byte 0.
func xorKey(b []byte, key [4]byte) {
	stream := bytes.Repeat(key[:], len(b)/4+1)[:len(b)]
	subtle.XORBytes(b, b, stream)
}

// outFrame is a frame the Conn under test must send: an echoed message or a pong, always
// a single final frame.
type outFrame struct {
	op      byte
	payload []byte
}

func echoed(op byte, payload string) outFrame { return outFrame{op, []byte(payload)} }
func pong(payload string) outFrame            { return outFrame{wirePong, []byte(payload)} }

// chop says how the peer's bytes go out (Autobahn's "chopsize").
type chop int

const (
	chopNone   chop = 0  // all in one write
	chopFrames chop = -1 // one write per frame
	chopOctets chop = 1  // one write per byte
)

func (c chop) String() string {
	switch c {
	case chopNone:
		return "one-write"
	case chopFrames:
		return "frame-wise"
	case chopOctets:
		return "octet-wise"
	}
	return fmt.Sprintf("%d-byte-chops", int(c))
}

var allChops = []chop{chopNone, chopFrames, chopOctets}

// script is one rule of RFC 6455 as a wire exchange.
type script struct {
	name     string
	rfc      string // the section of RFC 6455 that states the rule
	autobahn string // the Autobahn|Testsuite case(s) mirrored, "" for none
	opts     *ws.ConnOptions
	in       []inFrame  // what the peer sends
	out      []outFrame // what the Conn must send back, in order
	// fail is the close code the Conn must fail the connection with once out has
	// arrived; zero means the exchange is valid, and the peer then starts a clean close
	// with 1000, as Autobahn does at the end of a passing case.
	fail  ws.StatusCode
	chops []chop        // nil means allChops
	modes []readMode    // nil means echoModes
	delay time.Duration // pause before each write of the peer
}

// runScripts runs each script as a subtest for every role, read mode and chop.
func runScripts(t *testing.T, scripts []script) {
	for _, s := range scripts {
		t.Run(s.name, func(t *testing.T) {
			modes, chops := s.modes, s.chops
			if modes == nil {
				modes = echoModes
			}
			if chops == nil {
				chops = allChops
			}
			for _, r := range roles {
				for _, m := range modes {
					for _, ch := range chops {
						t.Run(fmt.Sprintf("%s/%s/%s", r, m, ch), func(t *testing.T) {
							t.Parallel()
							runScript(t, s, r, m, ch)
						})
					}
				}
			}
		})
	}
}

// runScript plays s against a Conn in role r.
func runScript(t *testing.T, s script, r role, m readMode, ch chop) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rule: RFC 6455 §%s; Autobahn case %s", s.rfc, s.autobahn)
		}
	})
	c, p := newPair(t, r, m, s.opts)
	echoDone := startEcho(c)
	seen := make(chan struct{}, len(s.out))
	stop := make(chan struct{})
	stopSender := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(stopSender) // on a failed test too, so that the sender ends
	sent := sendScript(p, s.in, ch, s.delay, seen, stop)
	for _, o := range s.out {
		expectFrame(t, p, r, true, o.op, o.payload)
		seen <- struct{}{}
	}
	if s.fail == 0 {
		if err := waitErr(t, sent); err != nil {
			t.Fatalf("raw peer: sending: %v", err)
		}
		expectPeerClose(t, c, p, echoDone)
		return
	}
	p.expectClose(s.fail)
	stopSender()
	waitErr(t, sent)
	expectFailed(t, c, p, echoDone, s.fail)
}

// sendScript writes the frames from a goroutine, cut as ch says, and returns the channel
// that yields the first write error or nil. A frame held back by afterOut waits for seen
// to deliver that many tokens, or for stop.
func sendScript(p *rawPeer, frames []inFrame, ch chop, delay time.Duration, seen, stop <-chan struct{}) <-chan error {
	type piece struct {
		b        []byte
		afterOut int
	}
	var pieces []piece
	for _, f := range frames {
		b := f.encode(p.client)
		switch {
		case ch == chopNone && len(pieces) > 0 && f.afterOut == 0:
			last := &pieces[len(pieces)-1]
			last.b = append(last.b, b...)
		case ch > 0:
			size := int(ch)
			if size == 1 && len(b) > 4096 {
				size = 997 // octet-wise chops of big frames take too long: Autobahn 1.1.8's size
			}
			for i := 0; i < len(b); i += size {
				pc := piece{b: b[i:min(i+size, len(b))]}
				if i == 0 {
					pc.afterOut = f.afterOut
				}
				pieces = append(pieces, pc)
			}
		default:
			pieces = append(pieces, piece{b, f.afterOut})
		}
	}
	done := make(chan error, 1)
	go func() {
		seenN := 0
		timeout := time.NewTimer(20 * time.Second)
		defer timeout.Stop()
		for _, pc := range pieces {
			for seenN < pc.afterOut {
				select {
				case <-seen:
					seenN++
				case <-stop:
					done <- errors.New("stopped")
					return
				case <-timeout.C:
					done <- errors.New("timed out waiting for the Conn's frames")
					return
				}
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			p.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := p.nc.Write(pc.b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// startEcho reads messages from c and writes each back, as Autobahn's testee does, until a
// read fails; the channel yields that error.
func startEcho(c *ws.Conn) <-chan error {
	done := make(chan error, 1)
	if _, ok := served.Load(c); ok {
		go func() { done <- serveEcho(c) }()
		return done
	}
	go func() {
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				done <- err
				return
			}
			c.Write(ctx, typ, msg) // a failed write shows in the next read
		}
	}()
	return done
}

// waitErr waits up to 20 seconds for an error (or nil) from ch.
func waitErr(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("no result within 20s")
	}
	return nil
}

// expectPeerClose ends a valid exchange: the peer starts the closing handshake with 1000,
// the Conn echoes it (§5.5.1) and closes, and reads report the peer's close.
func expectPeerClose(t testing.TB, c *ws.Conn, p *rawPeer, readDone <-chan error) {
	t.Helper()
	p.write(p.frame(true, 0, wireClose, []byte{0x03, 0xe8}))
	p.expectClose(ws.StatusNormalClosure)
	if err := waitErr(t, readDone); ws.CloseStatus(err) != ws.StatusNormalClosure {
		t.Fatalf("read error %v, want a close error with 1000", err)
	}
}

// expectFailed checks what follows the close frame of a failed connection (§7.1.7): once
// the peer has gone too, reads keep reporting a *ws.ProtocolError with the code, and
// writes fail.
func expectFailed(t testing.TB, c *ws.Conn, p *rawPeer, readDone <-chan error, code ws.StatusCode) {
	t.Helper()
	p.nc.Close()
	wantProtocolError(t, waitErr(t, readDone), code)
	_, _, err := c.Read(context.Background())
	wantProtocolError(t, err, code)
	if err := c.Write(context.Background(), ws.MessageBinary, []byte("x")); err == nil {
		t.Fatal("write on a failed connection succeeded")
	}
}

// expectFrame reads the next frame from the Conn and checks its exact bytes: the header's
// bits, the minimal length encoding, the masking of its role with the test key, the
// payload.
func expectFrame(t testing.TB, p *rawPeer, r role, fin bool, op byte, payload []byte) {
	t.Helper()
	masked := r == asClient
	want := frameHeader(fin, 0, op, len(payload), masked, testMaskKey)
	p.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	head, err := p.br.Peek(2)
	if err != nil {
		t.Fatalf("raw peer: want %s, got error %v", describeWant(fin, op, payload), err)
	}
	if head[0] != want[0] || head[1] != want[1] {
		f, err := p.readFrame()
		t.Fatalf("raw peer: want %s, got %s (err %v)", describeWant(fin, op, payload), describeFrame(f), err)
	}
	got := make([]byte, len(want)+len(payload))
	if _, err := io.ReadFull(p.br, got); err != nil {
		t.Fatalf("raw peer: want %s, got error %v", describeWant(fin, op, payload), err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("raw peer: want %s, got header % x, want % x", describeWant(fin, op, payload), got[:len(want)], want)
	}
	body := got[len(want):]
	if masked {
		xorKey(body, testMaskKey)
	}
	if !bytes.Equal(body, payload) {
		i := 0
		for body[i] == payload[i] {
			i++
		}
		t.Fatalf("raw peer: want %s; payload byte %d is %#x, want %#x", describeWant(fin, op, payload), i, body[i], payload[i])
	}
}

func describeWant(fin bool, op byte, payload []byte) string {
	return describeFrame(wireFrame{fin: fin, opcode: op, payload: payload})
}

func describeFrame(f wireFrame) string {
	s := fmt.Sprintf("frame fin=%v rsv=%#x opcode=%#x masked=%v len=%d", f.fin, f.rsv, f.opcode, f.masked, len(f.payload))
	switch {
	case f.opcode == wireClose && len(f.payload) >= 2:
		s += fmt.Sprintf(" code=%d reason=%q", binary.BigEndian.Uint16(f.payload), f.payload[2:])
	case len(f.payload) <= 32:
		s += fmt.Sprintf(" payload=%q", f.payload)
	}
	return s
}

// textOf returns n bytes of valid UTF-8 that mixes sequences of one to four bytes.
func textOf(n int) []byte {
	const pattern = "Hello-κόσμε-€-𝄞-"
	b := bytes.Repeat([]byte(pattern), n/len(pattern)+1)[:n]
	// Only the last sequence can be cut short; replace it.
	i := len(b)
	for i > 0 && len(b)-i < utf8.UTFMax && !utf8.RuneStart(b[i-1]) {
		i--
	}
	if i > 0 && !utf8.FullRune(b[i-1:]) {
		for j := i - 1; j < len(b); j++ {
			b[j] = '*'
		}
	}
	return b
}

// binaryOf returns n bytes that are not UTF-8, in a pattern of prime length so that it
// does not line up with the masking key.
func binaryOf(n int) []byte {
	pattern := make([]byte, 251)
	for i := range pattern {
		pattern[i] = byte(i*7 + 0x80)
	}
	return bytes.Repeat(pattern, n/len(pattern)+1)[:n]
}

// payloadOf returns n bytes for a message of type op.
func payloadOf(op byte, n int) []byte {
	if op == wireText {
		return textOf(n)
	}
	return binaryOf(n)
}

// TestFrameEcho mirrors Autobahn 1.1 (text) and 1.2 (binary): a message of each size that
// matters to the length encoding of §5.2 (7-bit up to 125, 16-bit up to 65535, 64-bit
// beyond) is echoed in exactly one frame with the minimal encoding, whatever pieces it
// arrived in. 16 MiB (Autobahn 9.2.6) runs with a read limit of exactly 16 MiB and
// through the whole and half readers only, to bound the run time.
func TestFrameEcho(t *testing.T) {
	sizes := []struct {
		n                int
		textAB, binaryAB string
	}{
		{0, "1.1.1", "1.2.1"},
		{1, "", ""},
		{125, "1.1.2", "1.2.2"},
		{126, "1.1.3", "1.2.3"},
		{127, "1.1.4", "1.2.4"},
		{128, "1.1.5", "1.2.5"},
		{65535, "1.1.6", "1.2.6"},
		{65536, "1.1.7, 1.1.8 (997-byte chops)", "1.2.7, 1.2.8 (997-byte chops)"},
		{16 << 20, "", "9.2.6"}, // text of 16 MiB: TestLimitLargeMessages, 9.1.6
	}
	var scripts []script
	for _, size := range sizes {
		for _, op := range []byte{wireText, wireBinary} {
			if size.n > 1<<20 && op == wireText {
				continue
			}
			payload := payloadOf(op, size.n)
			s := script{
				name:     fmt.Sprintf("%s/%d", map[byte]string{wireText: "text", wireBinary: "binary"}[op], size.n),
				rfc:      "5.2, 5.6",
				autobahn: size.textAB,
				in:       []inFrame{{fin: true, op: op, payload: payload}},
				out:      []outFrame{{op, payload}},
			}
			if op == wireBinary {
				s.autobahn = size.binaryAB
			}
			switch {
			case size.n > 1<<20:
				s.opts = &ws.ConnOptions{ReadLimit: int64(size.n)}
				s.chops = []chop{chopNone}
				s.modes = []readMode{readWhole, readHalf}
			case size.n > 1024:
				s.chops = []chop{chopNone, 997}
			}
			scripts = append(scripts, s)
		}
	}
	runScripts(t, scripts)
}

// TestPing mirrors Autobahn 2.*: §5.5.2, a ping is answered by a pong with the same
// payload; §5.5.3, an unsolicited pong is ignored; §5.5, a control frame carries at most
// 125 bytes.
func TestPing(t *testing.T) {
	bin := string([]byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff})
	p125 := string(bytes.Repeat([]byte{0xfe}, 125))
	var tenPings []inFrame
	var tenPongs []outFrame
	for i := range 10 {
		payload := fmt.Sprintf("payload-%d", i)
		tenPings = append(tenPings, dataFrame(wirePing, payload))
		tenPongs = append(tenPongs, pong(payload))
	}
	runScripts(t, []script{
		{name: "empty", rfc: "5.5.2", autobahn: "2.1",
			in: []inFrame{dataFrame(wirePing, "")}, out: []outFrame{pong("")}},
		{name: "text_payload", rfc: "5.5.2", autobahn: "2.2",
			in: []inFrame{dataFrame(wirePing, "Hello, world!")}, out: []outFrame{pong("Hello, world!")}},
		{name: "binary_payload", rfc: "5.5.2", autobahn: "2.3",
			in: []inFrame{dataFrame(wirePing, bin)}, out: []outFrame{pong(bin)}},
		{name: "125_bytes", rfc: "5.5, 5.5.2", autobahn: "2.4, 2.6 (octet-wise)",
			in: []inFrame{dataFrame(wirePing, p125)}, out: []outFrame{pong(p125)}},
		{name: "126_bytes", rfc: "5.5", autobahn: "2.5",
			in: []inFrame{dataFrame(wirePing, p125+"\xfe"), dataFrame(wireText, "never read")}, fail: ws.StatusProtocolError},
		{name: "pong_126_bytes", rfc: "5.5", autobahn: "",
			in: []inFrame{dataFrame(wirePong, p125+"\xfe")}, fail: ws.StatusProtocolError},
		{name: "unsolicited_pong_empty", rfc: "5.5.3", autobahn: "2.7",
			in: []inFrame{dataFrame(wirePong, "")}},
		{name: "unsolicited_pong_payload", rfc: "5.5.3", autobahn: "2.8",
			in: []inFrame{dataFrame(wirePong, "unsolicited pong payload")}},
		{name: "unsolicited_pong_8_bytes", rfc: "5.5.3", autobahn: "",
			in: []inFrame{dataFrame(wirePong, "\x00\x00\x00\x00\x00\x00\x00\x01")}},
		{name: "unsolicited_pong_then_ping", rfc: "5.5.2, 5.5.3", autobahn: "2.9",
			in:  []inFrame{dataFrame(wirePong, "unsolicited pong payload"), dataFrame(wirePing, "ping payload")},
			out: []outFrame{pong("ping payload")}},
		{name: "ten_pings", rfc: "5.5.2", autobahn: "2.10",
			in: tenPings, out: tenPongs},
		{name: "ten_pings_slow_octets", rfc: "5.5.2", autobahn: "2.11",
			in: tenPings, out: tenPongs, chops: []chop{chopOctets}, delay: 200 * time.Microsecond},
		{name: "ping_then_message", rfc: "5.5.2", autobahn: "",
			in:  []inFrame{dataFrame(wirePing, "first"), dataFrame(wireText, "second")},
			out: []outFrame{pong("first"), echoed(wireText, "second")}},
		{name: "pings_straddling_a_small_read_buffer", rfc: "5.5.2", autobahn: "",
			opts: &ws.ConnOptions{ReadBufferSize: 1}, // raised to the minimum, 512
			in: []inFrame{
				{fin: true, op: wireBinary, payload: binaryOf(490)}, dataFrame(wirePing, p125),
				{fin: true, op: wireBinary, payload: binaryOf(30)}, dataFrame(wirePing, p125[:100]),
				{op: wireBinary, payload: binaryOf(300)}, dataFrame(wirePing, p125), {fin: true, op: wireCont, payload: binaryOf(1)},
			},
			out: []outFrame{
				{wireBinary, binaryOf(490)}, pong(p125), {wireBinary, binaryOf(30)}, pong(p125[:100]),
				pong(p125), {wireBinary, append(binaryOf(300), binaryOf(1)...)},
			}},
		{name: "message_then_ping", rfc: "5.5.2", autobahn: "",
			in:  []inFrame{dataFrame(wireBinary, "first"), dataFrame(wirePing, "second")},
			out: []outFrame{echoed(wireBinary, "first"), pong("second")}},
	})
}

// TestRSV mirrors Autobahn 3.*: §5.2, "RSV1, RSV2, RSV3: MUST be 0 unless an extension is
// negotiated that defines meanings for non-zero values. If a nonzero value is received
// and none of the negotiated extensions defines the meaning of such a nonzero value, the
// receiving endpoint MUST _Fail the WebSocket Connection_." Autobahn numbers RSV as a
// 3-bit value whose 4 is RSV1 (0x40) and 1 is RSV3 (0x10). What came before the bad frame
// is still answered; what follows it never is.
func TestRSV(t *testing.T) {
	hello := dataFrame(wireText, "Hello, world!")
	scripts := []script{
		{name: "text_rsv_1", rfc: "5.2", autobahn: "3.1",
			in: []inFrame{hello.withRSV(0x10)}, fail: ws.StatusProtocolError},
		{name: "text_then_text_rsv_2_then_ping", rfc: "5.2", autobahn: "3.2",
			in:  []inFrame{hello, hello.withRSV(0x20), dataFrame(wirePing, "")},
			out: []outFrame{echoed(wireText, "Hello, world!")}, fail: ws.StatusProtocolError},
		{name: "text_then_text_rsv_3_then_ping", rfc: "5.2", autobahn: "3.3 (frame-wise)",
			in:  []inFrame{hello, hello.withRSV(0x30), dataFrame(wirePing, "")},
			out: []outFrame{echoed(wireText, "Hello, world!")}, fail: ws.StatusProtocolError,
			chops: []chop{chopFrames}, delay: time.Millisecond},
		{name: "text_then_text_rsv_4_then_ping", rfc: "5.2", autobahn: "3.4 (octet-wise)",
			in:  []inFrame{hello, hello.withRSV(0x40), dataFrame(wirePing, "")},
			out: []outFrame{echoed(wireText, "Hello, world!")}, fail: ws.StatusProtocolError,
			chops: []chop{chopOctets}, delay: 100 * time.Microsecond},
		{name: "binary_rsv_5", rfc: "5.2", autobahn: "3.5",
			in: []inFrame{{fin: true, rsv: 0x50, op: wireBinary, payload: binaryOf(8)}}, fail: ws.StatusProtocolError},
		{name: "ping_rsv_6", rfc: "5.2", autobahn: "3.6",
			in: []inFrame{dataFrame(wirePing, "Hello, world!").withRSV(0x60)}, fail: ws.StatusProtocolError},
		{name: "close_rsv_7", rfc: "5.2", autobahn: "3.7",
			in: []inFrame{dataFrame(wireClose, "\x03\xe8").withRSV(0x70)}, fail: ws.StatusProtocolError},
	}
	// Every combination of the bits on every kind of frame, alone and after a message.
	for rsv := byte(0x10); rsv <= 0x70; rsv += 0x10 {
		for _, f := range []inFrame{
			dataFrame(wireText, "text"), dataFrame(wireBinary, "binary"), dataFrame(wirePing, "ping"),
			dataFrame(wirePong, "pong"), dataFrame(wireClose, "\x03\xe8"), dataFrame(wireText, ""),
		} {
			scripts = append(scripts, script{
				name: fmt.Sprintf("rsv_%#x_opcode_%#x_len_%d", rsv, f.op, len(f.payload)), rfc: "5.2", autobahn: "3.*",
				in:  []inFrame{dataFrame(wireBinary, "valid"), f.withRSV(rsv), dataFrame(wirePing, "never answered")},
				out: []outFrame{echoed(wireBinary, "valid")}, fail: ws.StatusProtocolError,
				chops: []chop{chopNone}, modes: []readMode{readWhole, readOneByte},
			})
		}
		scripts = append(scripts, script{
			name: fmt.Sprintf("rsv_%#x_on_continuation", rsv), rfc: "5.2", autobahn: "3.*",
			in:   []inFrame{fragment(false, wireText, "first"), fragment(true, wireCont, "second").withRSV(rsv)},
			fail: ws.StatusProtocolError, chops: []chop{chopNone}, modes: []readMode{readWhole, readOneByte},
		})
	}
	runScripts(t, scripts)
}

// TestOpcode mirrors Autobahn 4.*: §5.2, opcodes 0x3–0x7 are "reserved for further
// non-control frames" and 0xB–0xF "for further control frames"; "If an unknown opcode is
// received, the receiving endpoint MUST _Fail the WebSocket Connection_."
func TestOpcode(t *testing.T) {
	hello := dataFrame(wireText, "Hello, world!")
	ping := dataFrame(wirePing, "")
	reserved := func(op byte, payload string) inFrame { return dataFrame(op, payload) }
	var scripts []script
	for _, ab := range []struct {
		autobahn     string
		op           byte
		payload      string
		afterMessage bool // a text message first, a ping after
	}{
		{"4.1.1", 3, "", false}, {"4.1.2", 4, "reserved opcode payload", false},
		{"4.1.3", 5, "", true}, {"4.1.4", 6, "reserved opcode payload", true}, {"4.1.5", 7, "reserved opcode payload", true},
		{"4.2.1", 11, "", false}, {"4.2.2", 12, "reserved opcode payload", false},
		{"4.2.3", 13, "", true}, {"4.2.4", 14, "reserved opcode payload", true}, {"4.2.5", 15, "reserved opcode payload", true},
	} {
		s := script{name: fmt.Sprintf("opcode_%d", ab.op), rfc: "5.2", autobahn: ab.autobahn,
			in: []inFrame{reserved(ab.op, ab.payload)}, fail: ws.StatusProtocolError}
		if ab.payload != "" {
			s.name += "_payload"
		}
		if ab.afterMessage {
			s.name = "text_then_" + s.name + "_then_ping"
			s.in = []inFrame{hello, reserved(ab.op, ab.payload), ping}
			s.out = []outFrame{echoed(wireText, "Hello, world!")}
		}
		scripts = append(scripts, s)
	}
	// Every reserved opcode, with no payload, with a payload, with one too long for a
	// control frame, alone, after a message, inside a fragmented message, and without FIN.
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		rows := []struct {
			name string
			in   []inFrame
			out  []outFrame
		}{
			{"alone", []inFrame{reserved(op, "")}, nil},
			{"payload_after_message", []inFrame{hello, reserved(op, "payload"), ping}, []outFrame{echoed(wireText, "Hello, world!")}},
			{"200_bytes", []inFrame{{fin: true, op: op, payload: binaryOf(200)}}, nil},
			{"inside_fragmented_message", []inFrame{fragment(false, wireText, "first"), reserved(op, "x"), fragment(true, wireCont, "last")}, nil},
			{"without_fin", []inFrame{fragment(false, op, "x"), fragment(true, wireCont, "y")}, nil},
		}
		for _, row := range rows {
			scripts = append(scripts, script{
				name: fmt.Sprintf("opcode_%#x_%s", op, row.name), rfc: "5.2", autobahn: "4.*",
				in: row.in, out: row.out, fail: ws.StatusProtocolError,
				chops: []chop{chopNone}, modes: []readMode{readWhole, readOneByte},
			})
		}
	}
	runScripts(t, scripts)
}

// TestFrameTestEncoder checks this file's encoder against the harness's encodeFrame, which
// follows §5.2 byte by byte, and that textOf makes valid UTF-8.
func TestFrameTestEncoder(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 65537} {
		for _, masked := range []bool{false, true} {
			payload := binaryOf(n)
			f := inFrame{fin: n%2 == 0, rsv: 0x40, op: wireBinary, payload: payload}
			if got, want := f.encode(masked), encodeFrame(f.fin, f.rsv, f.op, payload, masked, testMaskKey); !bytes.Equal(got, want) {
				t.Errorf("size %d, masked %v: encodings differ", n, masked)
			}
			if !utf8.Valid(textOf(n)) || len(textOf(n)) != n {
				t.Errorf("textOf(%d) is not %d bytes of UTF-8", n, n)
			}
		}
	}
}
