package ws_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Conformance tests for fragmentation (RFC 6455 §5.4, Autobahn 5.*), large messages
// (Autobahn 9.*), the read limit (§7.4.1 code 1009, §10.4), the rules of §5.1–5.2 on
// masking and on encoding the length, which Autobahn does not probe, and Conn.Reader. The
// script runner is in conformance_frame_test.go.

// fragmentsOf cuts a message of type op into frames of at most size bytes (§5.4).
func fragmentsOf(op byte, payload []byte, size int) []inFrame {
	var frames []inFrame
	for i := 0; i == 0 || i < len(payload); i += size {
		f := inFrame{op: wireCont, payload: payload[i:min(i+size, len(payload))]}
		if i == 0 {
			f.op = op
		}
		f.fin = i+size >= len(payload)
		frames = append(frames, f)
	}
	return frames
}

// TestFragment mirrors Autobahn 5.*: §5.4, "A fragmented message consists of a single frame
// with the FIN bit clear and an opcode other than 0, followed by zero or more frames with
// the FIN bit clear and the opcode set to 0, and terminated by a single frame with the FIN
// bit set and an opcode of 0"; "Control frames MAY be injected in the middle of a
// fragmented message"; "Control frames themselves MUST NOT be fragmented". A frame held
// back with after(n) goes out only once n frames from the Conn have arrived: a pong that
// must arrive while its message is still open.
func TestFragment(t *testing.T) {
	f := fragment
	repeat2 := func(frames ...inFrame) []inFrame { return append(frames, frames...) }
	var oneByte []inFrame // "κόσμε", one byte per frame: every sequence crosses frames
	for i, c := range []byte("κόσμε") {
		fr := f(false, wireCont, string([]byte{c}))
		if i == 0 {
			fr.op = wireText
		}
		oneByte = append(oneByte, fr)
	}
	oneByte[len(oneByte)-1].fin = true
	pingEach := []inFrame{f(false, wireBinary, "a")}
	for i := range 4 {
		pingEach = append(pingEach, dataFrame(wirePing, fmt.Sprint(i)), f(i == 3, wireCont, string(rune('b'+i))).after(i+1))
	}
	big := binaryOf(70000)
	runScripts(t, []script{
		{name: "ping_fragmented", rfc: "5.4, 5.5", autobahn: "5.1",
			in: []inFrame{f(false, wirePing, "fragment1"), f(true, wireCont, "fragment2")}, fail: ws.StatusProtocolError},
		{name: "pong_fragmented", rfc: "5.4, 5.5", autobahn: "5.2",
			in: []inFrame{f(false, wirePong, "fragment1"), f(true, wireCont, "fragment2")}, fail: ws.StatusProtocolError},
		{name: "close_fragmented", rfc: "5.4, 5.5", autobahn: "",
			in: []inFrame{f(false, wireClose, "\x03\xe8"), f(true, wireCont, "")}, fail: ws.StatusProtocolError},
		{name: "text_in_2_fragments", rfc: "5.4", autobahn: "5.3, 5.4 (frame-wise), 5.5 (octet-wise)",
			in:  []inFrame{f(false, wireText, "fragment1"), f(true, wireCont, "fragment2")},
			out: []outFrame{echoed(wireText, "fragment1fragment2")}},
		{name: "binary_in_2_fragments", rfc: "5.4", autobahn: "",
			in:  []inFrame{f(false, wireBinary, "\xfffragment1"), f(true, wireCont, "\xfefragment2")},
			out: []outFrame{echoed(wireBinary, "\xfffragment1\xfefragment2")}},
		{name: "text_ping_between_2_fragments", rfc: "5.4, 5.5.2", autobahn: "5.6, 5.7 (frame-wise), 5.8 (octet-wise)",
			in:  []inFrame{f(false, wireText, "fragment1"), dataFrame(wirePing, "ping payload"), f(true, wireCont, "fragment2").after(1)},
			out: []outFrame{pong("ping payload"), echoed(wireText, "fragment1fragment2")}},
		{name: "continuation_fin_with_nothing_to_continue", rfc: "5.4", autobahn: "5.9, 5.10 (frame-wise), 5.11 (octet-wise)",
			in:   []inFrame{f(true, wireCont, "non-continuation payload"), dataFrame(wireText, "Hello, world!")},
			fail: ws.StatusProtocolError},
		{name: "continuation_no_fin_with_nothing_to_continue", rfc: "5.4", autobahn: "5.12, 5.13 (frame-wise), 5.14 (octet-wise)",
			in:   []inFrame{f(false, wireCont, "non-continuation payload"), dataFrame(wireText, "Hello, world!")},
			fail: ws.StatusProtocolError},
		{name: "message_then_continuation_with_nothing_to_continue", rfc: "5.4", autobahn: "5.15",
			in:  []inFrame{f(false, wireText, "fragment1"), f(true, wireCont, "fragment2"), f(false, wireCont, "fragment3"), f(true, wireText, "fragment4")},
			out: []outFrame{echoed(wireText, "fragment1fragment2")}, fail: ws.StatusProtocolError},
		{name: "twice_continuation_no_fin_then_message", rfc: "5.4", autobahn: "5.16",
			in:   repeat2(f(false, wireCont, "fragment1"), f(false, wireText, "fragment2"), f(true, wireCont, "fragment3")),
			fail: ws.StatusProtocolError},
		{name: "twice_continuation_fin_then_message", rfc: "5.4", autobahn: "5.17",
			in:   repeat2(f(true, wireCont, "fragment1"), f(false, wireText, "fragment2"), f(true, wireCont, "fragment3")),
			fail: ws.StatusProtocolError},
		{name: "text_inside_text", rfc: "5.4", autobahn: "5.18",
			in: []inFrame{f(false, wireText, "fragment1"), f(true, wireText, "fragment2")}, fail: ws.StatusProtocolError},
		{name: "binary_inside_text", rfc: "5.4", autobahn: "",
			in: []inFrame{f(false, wireText, "fragment1"), f(true, wireBinary, "fragment2")}, fail: ws.StatusProtocolError},
		{name: "text_inside_binary_after_ping", rfc: "5.4", autobahn: "",
			in:  []inFrame{f(false, wireBinary, "fragment1"), dataFrame(wirePing, "p"), f(false, wireText, "fragment2").after(1)},
			out: []outFrame{pong("p")}, fail: ws.StatusProtocolError},
		{name: "pings_while_open_with_pauses", rfc: "5.4, 5.5.2", autobahn: "5.19",
			in: []inFrame{
				f(false, wireText, "fragment1"), f(false, wireCont, "fragment2"), dataFrame(wirePing, "pongme 1!"),
				f(false, wireCont, "fragment3").after(1), f(false, wireCont, "fragment4"), dataFrame(wirePing, "pongme 2!"),
				f(true, wireCont, "fragment5").after(2),
			},
			out: []outFrame{pong("pongme 1!"), pong("pongme 2!"), echoed(wireText, "fragment1fragment2fragment3fragment4fragment5")}},
		{name: "pings_while_open_with_pauses_frame_wise", rfc: "5.4, 5.5.2", autobahn: "5.20",
			in: []inFrame{
				f(false, wireText, "fragment1"), f(false, wireCont, "fragment2"), dataFrame(wirePing, "pongme 1!"),
				f(false, wireCont, "fragment3").after(1), f(false, wireCont, "fragment4"), dataFrame(wirePing, "pongme 2!"),
				f(true, wireCont, "fragment5").after(2),
			},
			out:   []outFrame{pong("pongme 1!"), pong("pongme 2!"), echoed(wireText, "fragment1fragment2fragment3fragment4fragment5")},
			chops: []chop{chopFrames}, delay: 2 * time.Millisecond},
		{name: "ping_between_every_fragment", rfc: "5.4, 5.5.2", autobahn: "5.6, 5.19 (generalised)",
			in: pingEach, out: []outFrame{pong("0"), pong("1"), pong("2"), pong("3"), echoed(wireBinary, "abcde")}},
		{name: "pong_inside_message_ignored", rfc: "5.4, 5.5.3", autobahn: "",
			in:  []inFrame{f(false, wireText, "frag"), dataFrame(wirePong, "unsolicited"), f(true, wireCont, "ment")},
			out: []outFrame{echoed(wireText, "fragment")}},
		{name: "one_byte_fragments_split_utf8", rfc: "5.4, 8.1", autobahn: "6.2.3, 6.2.4",
			in: oneByte, out: []outFrame{echoed(wireText, "κόσμε")}},
		{name: "many_fragments", rfc: "5.4", autobahn: "",
			in: fragmentsOf(wireText, textOf(1000), 37), out: []outFrame{{wireText, textOf(1000)}}},
		{name: "empty_fragments", rfc: "5.4", autobahn: "",
			in:  []inFrame{f(false, wireText, ""), f(false, wireCont, ""), f(false, wireCont, "abc"), f(true, wireCont, "")},
			out: []outFrame{echoed(wireText, "abc")}},
		{name: "all_fragments_empty", rfc: "5.4", autobahn: "",
			in:  []inFrame{f(false, wireBinary, ""), f(true, wireCont, "")},
			out: []outFrame{echoed(wireBinary, "")}},
		{name: "two_fragmented_messages", rfc: "5.4", autobahn: "",
			in:  []inFrame{f(false, wireText, "a"), f(true, wireCont, "b"), f(false, wireBinary, "c"), f(true, wireCont, "d")},
			out: []outFrame{echoed(wireText, "ab"), echoed(wireBinary, "cd")}},
		{name: "ping_between_big_fragments", rfc: "5.4, 5.5.2", autobahn: "5.6 with 16-bit and 64-bit fragments",
			in: []inFrame{
				{op: wireBinary, payload: big[:65536]}, dataFrame(wirePing, string(binaryOf(125))),
				inFrame{fin: true, op: wireCont, payload: big[65536:]}.after(1),
			},
			out:   []outFrame{{wirePong, binaryOf(125)}, {wireBinary, big}},
			chops: []chop{chopNone, chopFrames}, modes: []readMode{readWhole, readHalf}},
	})
}

// TestLimitLargeMessages mirrors Autobahn 9.1–9.8 (limits and performance), a
// representative set to bound the run time: single-frame messages up to 16 MiB,
// 4 MiB messages in fragments of 64 B to 4 KiB, 1 MiB messages in chops, and round trips
// of many small messages. Each is echoed whole in one frame. The default read limit (32
// MiB) lets them all through.
func TestLimitLargeMessages(t *testing.T) {
	whole, wholeHalf := []readMode{readWhole}, []readMode{readWhole, readHalf}
	single := func(ab string, op byte, n int, modes []readMode) script {
		payload := payloadOf(op, n)
		return script{name: fmt.Sprintf("%s_%d_single_frame", ab, n), rfc: "5.2, 10.4", autobahn: ab,
			in: []inFrame{{fin: true, op: op, payload: payload}}, out: []outFrame{{op, payload}},
			chops: []chop{chopNone}, modes: modes}
	}
	fragmented := func(ab string, op byte, n, size int, modes []readMode) script {
		payload := payloadOf(op, n)
		return script{name: fmt.Sprintf("%s_%d_in_%d_byte_fragments", ab, n, size), rfc: "5.4, 10.4", autobahn: ab,
			in: fragmentsOf(op, payload, size), out: []outFrame{{op, payload}},
			chops: []chop{chopNone}, modes: modes}
	}
	chopped := func(ab string, op byte, n, size int, modes []readMode) script {
		s := single(ab, op, n, modes)
		s.name = fmt.Sprintf("%s_%d_in_%d_byte_chops", ab, n, size)
		s.chops = []chop{chop(size)}
		return s
	}
	roundTrips := func(ab string, op byte, n int) script {
		s := script{name: fmt.Sprintf("%s_1000_round_trips_of_%d", ab, n), rfc: "5.6", autobahn: ab,
			chops: []chop{chopFrames}, modes: []readMode{readWhole, readServe}}
		payload := payloadOf(op, n)
		for i := range 1000 {
			s.in = append(s.in, inFrame{fin: true, op: op, payload: payload}.after(i))
			s.out = append(s.out, outFrame{op, payload})
		}
		return s
	}
	runScripts(t, []script{
		single("9.1.1", wireText, 64<<10, readModes),
		single("9.1.2", wireText, 256<<10, wholeHalf),
		single("9.1.3", wireText, 1<<20, wholeHalf),
		single("9.1.4", wireText, 4<<20, whole),
		single("9.1.6", wireText, 16<<20, whole),
		single("9.2.1", wireBinary, 64<<10, readModes),
		single("9.2.3", wireBinary, 1<<20, wholeHalf),
		single("9.2.4", wireBinary, 4<<20, []readMode{readHalf}),
		fragmented("9.3.1", wireText, 4<<20, 64, whole),
		fragmented("9.3.4", wireText, 4<<20, 4096, wholeHalf),
		fragmented("9.4.2", wireBinary, 4<<20, 256, []readMode{readHalf}),
		fragmented("9.4.4", wireBinary, 4<<20, 4096, whole),
		chopped("9.5.1", wireText, 1<<20, 64, whole),
		chopped("9.6.6", wireBinary, 1<<20, 2048, []readMode{readHalf}),
		roundTrips("9.7.3", wireText, 64),
		roundTrips("9.8.6", wireBinary, 4096),
	})
}

// TestLimitReadLimit covers the read limit, which RFC 6455 leaves to implementations
// (§10.4: "implementations SHOULD impose [...] a limit") and answers with 1009 (§7.4.1:
// "a message that is too big for it to process"). A frame whose header announces a
// message over the limit fails the connection at once: the peer sends only the header,
// and the close must still come back.
func TestLimitReadLimit(t *testing.T) {
	f := fragment
	limit := func(n int64) *ws.ConnOptions { return &ws.ConnOptions{ReadLimit: n} }
	announce := func(op byte, n uint64) inFrame {
		return inFrame{fin: true, op: op, length: binary.BigEndian.AppendUint64([]byte{127}, n), headerOnly: true}
	}
	runScripts(t, []script{
		{name: "over_limit_header_only", rfc: "7.4.1, 10.4", opts: limit(1000),
			in:  []inFrame{dataFrame(wireText, "ok"), {fin: true, op: wireBinary, payload: make([]byte, 1001), headerOnly: true}},
			out: []outFrame{echoed(wireText, "ok")}, fail: ws.StatusMessageTooBig},
		{name: "over_limit_7_bit", rfc: "7.4.1, 10.4", opts: limit(100),
			in: []inFrame{{fin: true, op: wireText, payload: make([]byte, 101), headerOnly: true}}, fail: ws.StatusMessageTooBig},
		{name: "over_limit_64_bit", rfc: "7.4.1, 10.4", opts: limit(100000),
			in: []inFrame{announce(wireBinary, 1<<40)}, fail: ws.StatusMessageTooBig},
		{name: "over_default_limit", rfc: "7.4.1, 10.4",
			in: []inFrame{announce(wireBinary, ws.DefaultReadLimit+1)}, fail: ws.StatusMessageTooBig},
		{name: "largest_64_bit_length_after_a_fragment", rfc: "5.2, 7.4.1, 10.4", opts: limit(1000),
			in: []inFrame{f(false, wireBinary, "0123456789"), {fin: true, op: wireCont, headerOnly: true,
				length: binary.BigEndian.AppendUint64([]byte{127}, 1<<63-1)}},
			fail: ws.StatusMessageTooBig},
		{name: "at_limit", rfc: "10.4", opts: limit(1000),
			in: []inFrame{{fin: true, op: wireBinary, payload: binaryOf(1000)}}, out: []outFrame{{wireBinary, binaryOf(1000)}}},
		{name: "over_limit_across_fragments", rfc: "7.4.1, 10.4", opts: limit(1000),
			in:   []inFrame{{op: wireText, payload: textOf(600)}, {fin: true, op: wireCont, payload: make([]byte, 600), headerOnly: true}},
			fail: ws.StatusMessageTooBig},
		{name: "over_limit_after_many_fragments", rfc: "7.4.1, 10.4", opts: limit(1000),
			in:   append(fragmentsOf(wireBinary, binaryOf(1100), 100)[:10:10], inFrame{fin: true, op: wireCont, payload: []byte{0}, headerOnly: true}),
			fail: ws.StatusMessageTooBig},
		{name: "at_limit_across_fragments", rfc: "10.4", opts: limit(1000),
			in: fragmentsOf(wireText, textOf(1000), 500), out: []outFrame{{wireText, textOf(1000)}}},
		{name: "control_frames_not_counted", rfc: "5.4, 10.4", opts: limit(10),
			in:  []inFrame{f(false, wireText, "01234"), dataFrame(wirePing, string(textOf(100))), f(true, wireCont, "56789")},
			out: []outFrame{{wirePong, textOf(100)}, echoed(wireText, "0123456789")}},
		{name: "limit_is_per_message", rfc: "10.4", opts: limit(10),
			in:  []inFrame{dataFrame(wireText, "0123456789"), f(false, wireBinary, "01234"), f(true, wireCont, "56789")},
			out: []outFrame{echoed(wireText, "0123456789"), echoed(wireBinary, "0123456789")}},
	})
}

// TestLimitNoLimit checks that a negative read limit, from the options or SetReadLimit,
// means none, and that a message exactly at the limit is accepted: Reader returns once
// the header of a frame announcing a huge message has arrived, and streams its payload,
// with nothing allocated for the length announced.
func TestLimitNoLimit(t *testing.T) {
	rows := []struct {
		name     string
		opts     *ws.ConnOptions
		set      bool // call SetReadLimit(-1)
		announce uint64
	}{
		{"options_negative", &ws.ConnOptions{ReadLimit: -1}, false, 1 << 40},
		{"options_negative_largest_length", &ws.ConnOptions{ReadLimit: -1}, false, 1<<63 - 1},
		{"set_negative", nil, true, 1 << 40},
		{"exactly_default_limit", nil, false, ws.DefaultReadLimit},
		{"exactly_limit", &ws.ConnOptions{ReadLimit: 100000}, false, 100000},
	}
	for _, row := range rows {
		for _, r := range roles {
			for _, m := range readModes {
				t.Run(fmt.Sprintf("%s/%s/%s", row.name, r, m), func(t *testing.T) {
					t.Parallel()
					c, p := newPair(t, r, m, row.opts)
					if row.set {
						c.SetReadLimit(-1)
					}
					payload := binaryOf(1000)
					b := frameHeaderLen(true, 0, wireBinary, row.announce, p.client, testMaskKey)
					p.write(appendMasked(b, payload, p.client, testMaskKey))
					ctx := context.Background()
					typ, rd, err := c.Reader(ctx)
					if err != nil || typ != ws.MessageBinary {
						t.Fatalf("Reader: %v %v", typ, err)
					}
					got := make([]byte, len(payload))
					if _, err := io.ReadFull(rd, got); err != nil || !bytes.Equal(got, payload) {
						t.Fatalf("reading the payload: %v", err)
					}
					c.CloseNow()
				})
			}
		}
	}
}

// TestLimitSetReadLimit checks that SetReadLimit applies from the next frame header on,
// raised or lowered (to zero: only empty messages), set while a Read waits, and lowered in
// the middle of a message.
func TestLimitSetReadLimit(t *testing.T) {
	for _, r := range roles {
		for _, m := range readModes {
			t.Run(fmt.Sprintf("%s/%s", r, m), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				c, p := newPair(t, r, m, &ws.ConnOptions{ReadLimit: 4096})
				for _, step := range []struct {
					limit int64
					n     int
				}{{4096, 2000}, {1000, 1000}, {5000, 3000}, {0, 0}} {
					c.SetReadLimit(step.limit)
					p.send(true, wireBinary, binaryOf(step.n))
					if _, msg, err := c.Read(ctx); err != nil || len(msg) != step.n {
						t.Fatalf("limit %d, message of %d: got %d bytes, %v", step.limit, step.n, len(msg), err)
					}
				}
				results := readAll(ctx, c) // waits for a message while the limit changes
				c.SetReadLimit(10)
				p.write(inFrame{fin: true, op: wireText, payload: make([]byte, 11), headerOnly: true}.encode(p.client))
				p.expectClose(ws.StatusMessageTooBig)
				p.nc.Close()
				wantProtocolError(t, next(t, results).err, ws.StatusMessageTooBig)
			})
			t.Run(fmt.Sprintf("%s/%s/mid_message", r, m), func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, r, m, &ws.ConnOptions{ReadLimit: 1000})
				p.send(false, wireBinary, binaryOf(600))
				_, rd, err := c.Reader(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(rd, make([]byte, 600)); err != nil {
					t.Fatal(err)
				}
				c.SetReadLimit(700)
				p.write(inFrame{fin: true, op: wireCont, payload: make([]byte, 200), headerOnly: true}.encode(p.client))
				done := make(chan error, 1)
				go func() {
					_, err := rd.Read(make([]byte, 10))
					done <- err
				}()
				p.expectClose(ws.StatusMessageTooBig)
				p.nc.Close()
				wantProtocolError(t, waitErr(t, done), ws.StatusMessageTooBig)
			})
		}
	}
}

// TestFrameLength covers the encoding rules of the payload length (RFC 6455 §5.2), which
// Autobahn does not probe: "in all cases, the minimal number of bytes MUST be used to
// encode the length", and with 127 "the most significant bit MUST be 0". A length that
// breaks them fails the connection with 1002 as soon as the header has arrived.
func TestFrameLength(t *testing.T) {
	u16 := func(n uint16) []byte { return binary.BigEndian.AppendUint16([]byte{126}, n) }
	u64 := func(n uint64) []byte { return binary.BigEndian.AppendUint64([]byte{127}, n) }
	withLength := func(op byte, length []byte, payload []byte) inFrame {
		return inFrame{fin: true, op: op, payload: payload, length: length}
	}
	runScripts(t, []script{
		{name: "16_bit_holding_125", rfc: "5.2",
			in: []inFrame{withLength(wireBinary, u16(125), binaryOf(125))}, fail: ws.StatusProtocolError},
		{name: "16_bit_holding_0", rfc: "5.2",
			in: []inFrame{withLength(wireText, u16(0), nil)}, fail: ws.StatusProtocolError},
		{name: "64_bit_holding_65535", rfc: "5.2",
			in: []inFrame{withLength(wireBinary, u64(65535), nil).headerOnlyFrame()}, fail: ws.StatusProtocolError},
		{name: "64_bit_holding_126", rfc: "5.2",
			in: []inFrame{withLength(wireBinary, u64(126), binaryOf(126))}, fail: ws.StatusProtocolError},
		{name: "64_bit_holding_5", rfc: "5.2",
			in: []inFrame{withLength(wireText, u64(5), []byte("Hello"))}, fail: ws.StatusProtocolError},
		{name: "64_bit_most_significant_bit", rfc: "5.2",
			in: []inFrame{withLength(wireBinary, u64(1<<63), nil).headerOnlyFrame()}, fail: ws.StatusProtocolError},
		{name: "64_bit_all_ones", rfc: "5.2",
			in: []inFrame{withLength(wireBinary, u64(1<<64-1), nil).headerOnlyFrame()}, fail: ws.StatusProtocolError},
		{name: "ping_16_bit_holding_5", rfc: "5.2, 5.5",
			in: []inFrame{withLength(wirePing, u16(5), []byte("Hello"))}, fail: ws.StatusProtocolError},
		{name: "continuation_64_bit_holding_5", rfc: "5.2",
			in:   []inFrame{fragment(false, wireText, "first"), {op: wireCont, fin: true, length: u64(5), payload: []byte("Hello")}},
			fail: ws.StatusProtocolError},
		{name: "minimal_16_bit_and_64_bit", rfc: "5.2",
			in: []inFrame{
				withLength(wireBinary, u16(126), binaryOf(126)),
				withLength(wireBinary, u64(65536), binaryOf(65536)),
			},
			out:   []outFrame{{wireBinary, binaryOf(126)}, {wireBinary, binaryOf(65536)}},
			chops: []chop{chopNone, chopFrames}},
	})
}

func (f inFrame) headerOnlyFrame() inFrame { f.headerOnly = true; return f }

// TestFrameMasking covers §5.1 (Autobahn tests it only through its framing): "The server
// MUST close the connection upon receiving a frame that is not masked", and "A client MUST
// close a connection if it detects a masked frame", with 1002. Each row breaks the rule
// of the Conn's role: unmasked frames to a server, masked frames to a client.
func TestFrameMasking(t *testing.T) {
	wrong := func(f inFrame) inFrame { f.wrongMask = true; return f }
	zeroKey := dataFrame(wireText, "zero key")
	zeroKey.zeroKey = true
	runScripts(t, []script{
		{name: "text", rfc: "5.1, 5.3",
			in: []inFrame{wrong(dataFrame(wireText, "Hello"))}, fail: ws.StatusProtocolError},
		{name: "empty_binary", rfc: "5.1, 5.3",
			in: []inFrame{wrong(dataFrame(wireBinary, ""))}, fail: ws.StatusProtocolError},
		{name: "ping", rfc: "5.1, 5.3",
			in: []inFrame{wrong(dataFrame(wirePing, "ping"))}, fail: ws.StatusProtocolError},
		{name: "pong", rfc: "5.1, 5.3",
			in: []inFrame{wrong(dataFrame(wirePong, ""))}, fail: ws.StatusProtocolError},
		{name: "close", rfc: "5.1, 5.3",
			in: []inFrame{wrong(dataFrame(wireClose, "\x03\xe8"))}, fail: ws.StatusProtocolError},
		{name: "continuation", rfc: "5.1, 5.3",
			in:  []inFrame{dataFrame(wireText, "valid"), fragment(false, wireText, "first"), wrong(fragment(true, wireCont, "second"))},
			out: []outFrame{echoed(wireText, "valid")}, fail: ws.StatusProtocolError},
		{name: "16_bit_length", rfc: "5.1, 5.3",
			in: []inFrame{wrong(inFrame{fin: true, op: wireBinary, payload: binaryOf(300)})}, fail: ws.StatusProtocolError},
		// §5.3: the key is any 32-bit value, zero included (for a client under test the
		// peer does not mask and the row is a plain echo).
		{name: "zero_key_is_masked", rfc: "5.3",
			in: []inFrame{zeroKey}, out: []outFrame{echoed(wireText, "zero key")}},
	})
}

// TestFrameReaderStreams checks Conn.Reader: it returns at the first frame of a message and
// streams the payload across fragments, answering pings between them, and returns io.EOF
// at the message's end (§5.4: the message is the concatenation of its fragments).
func TestFrameReaderStreams(t *testing.T) {
	big := binaryOf(1 << 20)
	rows := []struct {
		name  string
		in    []inFrame
		out   []outFrame
		typ   ws.MessageType
		want  []byte
		modes []readMode
		chunk int // bytes per Read of the payload
	}{
		{"fragments_and_ping", []inFrame{fragment(false, wireText, "Hello, "), dataFrame(wirePing, "p"), fragment(false, wireCont, "κόσμε"), fragment(true, wireCont, "!")},
			[]outFrame{pong("p")}, ws.MessageText, []byte("Hello, κόσμε!"), readModes, 1},
		{"1_MiB_in_4_KiB_fragments", fragmentsOf(wireBinary, big, 4096), nil, ws.MessageBinary, big, []readMode{readWhole, readHalf}, 1000},
	}
	for _, row := range rows {
		for _, r := range roles {
			for _, m := range row.modes {
				t.Run(fmt.Sprintf("%s/%s/%s", row.name, r, m), func(t *testing.T) {
					t.Parallel()
					c, p := newPair(t, r, m, nil)
					sent := sendScript(p, row.in, chopFrames, 0, nil, nil)
					ctx := context.Background()
					type readResult struct {
						typ ws.MessageType
						msg []byte
						err error
					}
					done := make(chan readResult, 1)
					go func() {
						typ, rd, err := c.Reader(ctx)
						if err != nil {
							done <- readResult{err: err}
							return
						}
						msg, err := io.ReadAll(chunkReader{rd, row.chunk})
						if err == nil {
							if n, eofErr := rd.Read(make([]byte, 1)); n != 0 || eofErr != io.EOF {
								err = fmt.Errorf("read after the end: %d, %v", n, eofErr)
							}
						}
						done <- readResult{typ, msg, err}
					}()
					for _, o := range row.out {
						expectFrame(t, p, r, true, o.op, o.payload)
					}
					res := <-done
					if res.err != nil || res.typ != row.typ || !bytes.Equal(res.msg, row.want) {
						t.Fatalf("got %v, %d bytes, %v", res.typ, len(res.msg), res.err)
					}
					if err := waitErr(t, sent); err != nil {
						t.Fatal(err)
					}
					expectPeerClose(t, c, p, startEcho(c))
				})
			}
		}
	}
}

// TestFrameReaderDiscards checks that reading the next message discards what the reader of
// the previous one left unread — validating it all the same, answering its pings, and
// failing the connection on what is wrong in it (§5.4, §8.1, §10.4).
func TestFrameReaderDiscards(t *testing.T) {
	f := fragment
	nextMsg := dataFrame(wireBinary, "next")
	rows := []struct {
		name string
		opts *ws.ConnOptions
		in   []inFrame
		read int // bytes of the first message read before the next call
		out  []outFrame
		fail ws.StatusCode // 0: the next call returns next
	}{
		{"single_frame", nil, []inFrame{{fin: true, op: wireBinary, payload: binaryOf(3000)}, nextMsg}, 10, nil, 0},
		{"nothing_read", nil, []inFrame{f(false, wireText, "abc"), f(true, wireCont, "def"), nextMsg}, 0, nil, 0},
		{"all_read_but_eof", nil, []inFrame{dataFrame(wireText, "abc"), nextMsg}, 3, nil, 0},
		{"ping_in_unread_part", nil, []inFrame{f(false, wireText, "abc"), dataFrame(wirePing, "p"), f(true, wireCont, "def"), nextMsg}, 2, []outFrame{pong("p")}, 0},
		{"invalid_utf8_in_unread_part", nil, []inFrame{f(false, wireText, "abc"), f(true, wireCont, "d\xffef"), nextMsg}, 2, nil, ws.StatusInvalidFramePayload},
		{"utf8_cut_at_end_of_unread_part", nil, []inFrame{f(false, wireText, "abc"), f(true, wireCont, "d\xce"), nextMsg}, 2, nil, ws.StatusInvalidFramePayload},
		{"reserved_bit_in_unread_part", nil, []inFrame{f(false, wireText, "abc"), f(true, wireCont, "def").withRSV(0x40), nextMsg}, 2, nil, ws.StatusProtocolError},
		{"over_limit_in_unread_part", &ws.ConnOptions{ReadLimit: 100}, []inFrame{{op: wireBinary, payload: binaryOf(60)}, {fin: true, op: wireCont, payload: make([]byte, 60), headerOnly: true}}, 2, nil, ws.StatusMessageTooBig},
	}
	for _, row := range rows {
		for _, second := range []string{"Reader", "Read"} {
			for _, r := range roles {
				for _, m := range readModes {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", row.name, second, r, m), func(t *testing.T) {
						t.Parallel()
						c, p := newPair(t, r, m, row.opts)
						sent := sendScript(p, row.in, chopNone, 0, nil, nil)
						ctx := context.Background()
						_, rd, err := c.Reader(ctx)
						if err != nil {
							t.Fatal(err)
						}
						if _, err := io.ReadFull(rd, make([]byte, row.read)); err != nil {
							t.Fatal(err)
						}
						done := make(chan result, 1)
						go func() {
							if second == "Read" {
								typ, msg, err := c.Read(ctx)
								done <- result{typ, msg, err}
								return
							}
							typ, rd, err := c.Reader(ctx)
							if err != nil {
								done <- result{err: err}
								return
							}
							msg, err := io.ReadAll(rd)
							done <- result{typ, msg, err}
						}()
						for _, o := range row.out {
							expectFrame(t, p, r, true, o.op, o.payload)
						}
						if row.fail != 0 {
							p.expectClose(row.fail)
							p.nc.Close()
							wantProtocolError(t, next(t, done).err, row.fail)
							return
						}
						if res := next(t, done); res.err != nil || res.typ != ws.MessageBinary || string(res.msg) != "next" {
							t.Fatalf("next message: %v %q %v", res.typ, res.msg, res.err)
						}
						if err := waitErr(t, sent); err != nil {
							t.Fatal(err)
						}
						expectPeerClose(t, c, p, startEcho(c))
					})
				}
			}
		}
	}
}

// chunkReader reads at most n bytes at a time from r.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }
