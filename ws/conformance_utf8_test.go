package ws_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/duplex-ws/duplex/ws"
)

// The conformance tests of RFC 6455 §8.1 (text must be UTF-8, and an endpoint that finds it
// is not must fail the connection with 1007, §7.4.1) and of Autobahn|Testsuite section 6.
// Autobahn's verdicts are strict: a valid payload must be echoed byte for byte, and an
// invalid one must fail the connection as soon as the first byte that cannot continue a
// valid sequence has arrived — failing only at the end of the frame or message is
// NON-STRICT. So every test below sends the text up to and including that byte and waits
// for the close frame before sending the rest.

// utf8Case is a payload of Autobahn section 6: Markus Kuhn's "UTF-8 decoder capability and
// stress test" as Autobahn transcribes it (case6_x_x.py), numbered as Autobahn numbers it.
type utf8Case struct {
	id    string // Autobahn case
	valid bool
	text  string
}

// autobahnUTF8Cases returns the cases 6.2.x, 6.3.x and 6.5.x through 6.23.x.
func autobahnUTF8Cases() []utf8Case {
	const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" // κόσμε
	cases := []utf8Case{
		{"6.2.1", true, "Hello-µ@ßöäüàá-UTF-8!!"},
		{"6.2.4", true, kosme},
		{"6.3.1", false, kosme + "\xed\xa0\x80" + "edited"},
	}
	type category struct {
		name string
		seqs []utf8Case // ids left empty, filled in below
	}
	v := func(s string) utf8Case { return utf8Case{valid: true, text: s} }
	x := func(s string) utf8Case { return utf8Case{valid: false, text: s} }
	var cats []category

	// Kuhn 1: some correct UTF-8 text.
	cats = append(cats, category{"Some valid UTF-8 sequences", []utf8Case{
		v("hello\x24world"), v("hello\xc2\xa2world"), v("hello\xe2\x82\xacworld"),
		v("hello\xf0\xa4\xad\xa2world"), v(kosme),
	}})
	// All prefixes of κόσμε: valid exactly when they end on a character boundary.
	var prefixes []utf8Case
	for i := 1; i <= len(kosme); i++ {
		prefixes = append(prefixes, utf8Case{valid: utf8.ValidString(kosme[:i]), text: kosme[:i]})
	}
	cats = append(cats, category{"All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes})
	// Kuhn 2.1, 2.2, 2.3: boundary cases.
	cats = append(cats,
		category{"First possible sequence of a certain length", []utf8Case{
			v("\x00"), v("\xc2\x80"), v("\xe0\xa0\x80"), v("\xf0\x90\x80\x80"),
		}},
		category{"First possible sequence length 5/6 (invalid codepoints)", []utf8Case{
			x("\xf8\x88\x80\x80\x80"), x("\xfc\x84\x80\x80\x80\x80"),
		}},
		category{"Last possible sequence of a certain length", []utf8Case{
			v("\x7f"), v("\xdf\xbf"), v("\xef\xbf\xbf"), v("\xf4\x8f\xbf\xbf"),
		}},
		category{"Last possible sequence length 4/5/6 (invalid codepoints)", []utf8Case{
			x("\xf7\xbf\xbf\xbf"), x("\xfb\xbf\xbf\xbf\xbf"), x("\xfd\xbf\xbf\xbf\xbf\xbf"),
		}},
		category{"Other boundary conditions", []utf8Case{
			v("\xed\x9f\xbf"), v("\xee\x80\x80"), v("\xef\xbf\xbd"), v("\xf4\x8f\xbf\xbf"), x("\xf4\x90\x80\x80"),
		}},
	)
	// Kuhn 3.1: unexpected continuation bytes.
	var allCont []byte
	for c := 0x80; c < 0xbf; c++ { // Autobahn's range stops before 0xbf
		allCont = append(allCont, byte(c))
	}
	cats = append(cats, category{"Unexpected continuation bytes", []utf8Case{
		x("\x80"), x("\xbf"), x("\x80\xbf"), x("\x80\xbf\x80"), x("\x80\xbf\x80\xbf"),
		x("\x80\xbf\x80\xbf\x80"), x("\x80\xbf\x80\xbf\x80\xbf"), x(string(allCont)),
	}})
	// Kuhn 3.2: lonely start characters, each followed by a space.
	var lonely []utf8Case
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s []byte
		for c := r[0]; c < r[1]; c++ {
			s = append(s, byte(c), 0x20)
		}
		lonely = append(lonely, x(string(s)))
	}
	cats = append(cats, category{"Lonely start characters", lonely})
	// Kuhn 3.3, 3.4: sequences with the last continuation byte missing, and all of them
	// concatenated.
	missing := []string{
		"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf",
	}
	var missingCases []utf8Case
	for _, s := range missing {
		missingCases = append(missingCases, x(s))
	}
	cats = append(cats,
		category{"Sequences with last continuation byte missing", missingCases},
		category{"Concatenation of incomplete sequences", []utf8Case{x(strings.Join(missing, ""))}},
		// Kuhn 3.5: impossible bytes.
		category{"Impossible bytes", []utf8Case{x("\xfe"), x("\xff"), x("\xfe\xfe\xff\xff")}},
		// Kuhn 4.1, 4.2, 4.3: overlong forms.
		category{"Examples of an overlong ASCII character", []utf8Case{
			x("\xc0\xaf"), x("\xe0\x80\xaf"), x("\xf0\x80\x80\xaf"), x("\xf8\x80\x80\x80\xaf"), x("\xfc\x80\x80\x80\x80\xaf"),
		}},
		category{"Maximum overlong sequences", []utf8Case{
			x("\xc1\xbf"), x("\xe0\x9f\xbf"), x("\xf0\x8f\xbf\xbf"), x("\xf8\x87\xbf\xbf\xbf"), x("\xfc\x83\xbf\xbf\xbf\xbf"),
		}},
		category{"Overlong representation of the NUL character", []utf8Case{
			x("\xc0\x80"), x("\xe0\x80\x80"), x("\xf0\x80\x80\x80"), x("\xf8\x80\x80\x80\x80"), x("\xfc\x80\x80\x80\x80\x80"),
		}},
		// Kuhn 5.1, 5.2: UTF-16 surrogates, which RFC 3629 §3 excludes.
		category{"Single UTF-16 surrogates", []utf8Case{
			x("\xed\xa0\x80"), x("\xed\xad\xbf"), x("\xed\xae\x80"), x("\xed\xaf\xbf"),
			x("\xed\xb0\x80"), x("\xed\xbe\x80"), x("\xed\xbf\xbf"),
		}},
		category{"Paired UTF-16 surrogates", []utf8Case{
			x("\xed\xa0\x80\xed\xb0\x80"), x("\xed\xa0\x80\xed\xbf\xbf"), x("\xed\xad\xbf\xed\xb0\x80"),
			x("\xed\xad\xbf\xed\xbf\xbf"), x("\xed\xae\x80\xed\xb0\x80"), x("\xed\xae\x80\xed\xbf\xbf"),
			x("\xed\xaf\xbf\xed\xb0\x80"), x("\xed\xaf\xbf\xed\xbf\xbf"),
		}},
	)
	// Kuhn 5.3: non-characters, which are valid UTF-8 (RFC 3629 has no notion of them).
	nonchars := []utf8Case{v("\xef\xbf\xbe"), v("\xef\xbf\xbf")}
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // above U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				if z1 == 0xf0 && z2 == 0x8f {
					continue // overlong
				}
				nonchars = append(nonchars, v(string([]byte{z1, z2, 0xbf, z3})))
			}
		}
	}
	cats = append(cats,
		category{"Non-character code points (valid UTF-8)", nonchars},
		category{"Unicode specials (i.e. replacement char)", []utf8Case{
			v("\xef\xbf\xb9"), v("\xef\xbf\xba"), v("\xef\xbf\xbb"), v("\xef\xbf\xbc"),
			v("\xef\xbf\xbd"), v("\xef\xbf\xbe"), v("\xef\xbf\xbf"),
		}},
	)
	for i, cat := range cats {
		for j, c := range cat.seqs {
			c.id = fmt.Sprintf("6.%d.%d", i+5, j+1)
			cases = append(cases, c)
		}
	}
	return cases
}

// firstInvalid returns the index of the first byte of b at which b stops being the prefix
// of any valid UTF-8 text, or -1 if there is none (b is valid, or valid but cut inside its
// last character). It is built on the standard library: utf8.FullRune reports a rune full
// as soon as a byte rules out every valid encoding.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			continue
		}
		if !utf8.FullRune(b[i:]) {
			return -1 // cut short at the end
		}
		k := 1
		for !utf8.FullRune(b[i : i+k]) {
			k++
		}
		return i + k - 1
	}
	return -1
}

func TestUTF8FirstInvalid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", -1}, {"abc", -1}, {"\xce", -1}, {"\xe1\xbd", -1}, {"\xf4\x8f\xbf", -1}, {"\xef\xbf\xbd", -1},
		{"\x80", 0}, {"\xc0\x80", 0}, {"\xc1", 0}, {"\xf5", 0}, {"\xff", 0},
		{"\xe0\x80\x80", 1}, {"\xed\xa0\x80", 1}, {"\xf0\x80\x80\x80", 1}, {"\xf4\x90\x80\x80", 1},
		{"\xe1\xbd\x41", 2}, {"\xf1\x80\x80\xc0", 3},
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited", 12}, // Autobahn 6.4.1
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", 12},     // Autobahn 6.3.1
	} {
		if got := firstInvalid([]byte(tc.in)); got != tc.want {
			t.Errorf("firstInvalid(% x) = %d, want %d", tc.in, got, tc.want)
		}
	}
	for _, c := range autobahnUTF8Cases() {
		bad := firstInvalid([]byte(c.text))
		if c.valid != utf8.ValidString(c.text) || c.valid && bad >= 0 {
			t.Errorf("%s: valid=%v but utf8.ValidString=%v, firstInvalid=%d", c.id, c.valid, utf8.ValidString(c.text), bad)
		}
	}
}

// TestUTF8Autobahn runs every payload of Autobahn section 6 (6.2.1, 6.2.4, 6.3.1, 6.5.x to
// 6.23.x) against the Conn as server and as client (RFC 6455 §8.1, §5.6, §5.4):
//   - as one frame, with the Conn reading whole, one byte at a time and half (6.2.1, 6.3.1,
//     6.x.y), the invalid ones sent only up to their first invalid byte before the close
//     is expected;
//   - one frame per byte (6.2.3, 6.2.4, 6.3.2), likewise cut after the invalid byte;
//   - split into two frames at every byte position, from an empty first frame to an empty
//     last one (6.2.2), with a ping after the first frame whose pong must come back when
//     the first frame holds no invalid byte and must not when it does; a second frame
//     holding the invalid byte is cut after it too.
//
// Valid text is echoed byte for byte; invalid text fails the connection with 1007.
func TestUTF8Autobahn(t *testing.T) {
	for _, tc := range autobahnUTF8Cases() {
		text := []byte(tc.text)
		bad := firstInvalid(text)
		for _, r := range roles {
			if !t.Run(tc.id+"/"+r.String(), func(t *testing.T) {
				t.Logf("payload % x (valid %v)", text, tc.valid)
				if tc.valid {
					for _, m := range echoModes {
						c, p := newPair(t, r, m, nil)
						errc := echo(c)
						p.send(true, 0x1, text)
						p.expectEcho(text)
						p.sendPerByte(text)
						p.expectEcho(text)
						for k := 0; k <= len(text); k++ {
							p.send(false, 0x1, text[:k])
							p.probe(fmt.Sprint("probe ", k))
							p.send(true, 0x0, text[k:])
							p.expectEcho(text)
						}
						p.closeNormally(errc)
					}
					return
				}
				// One frame, cut after the first invalid byte.
				for _, m := range echoModes {
					c, p := newPair(t, r, m, nil)
					errc := echo(c)
					frame := p.frame(true, 0, 0x1, text)
					cut := len(frame)
					if bad >= 0 {
						cut = len(frame) - len(text) + bad + 1
					}
					p.write(frame[:cut])
					p.expectFail(errc, ws.StatusInvalidFramePayload, frame[cut:])
				}
				// One frame per byte, cut after the frame with the invalid byte.
				{
					c, p := newPair(t, r, readWhole, nil)
					errc := echo(c)
					frames := p.perByteFrames(text)
					cut := len(frames)
					if bad >= 0 {
						cut = bad + 1
					}
					p.write(bytes.Join(frames[:cut], nil))
					p.expectFail(errc, ws.StatusInvalidFramePayload, bytes.Join(frames[cut:], nil))
				}
				// Two frames, split at every position.
				for k := 0; k <= len(text); k++ {
					c, p := newPair(t, r, readWhole, nil)
					errc := echo(c)
					p.send(false, 0x1, text[:k])
					second := p.frame(true, 0, 0x0, text[k:])
					if bad >= 0 && bad < k {
						p.write(p.frame(true, 0, 0x9, []byte("probe")))
						p.expectFail(errc, ws.StatusInvalidFramePayload, second)
						continue
					}
					p.probe("probe")
					// The second frame, too, only up to the invalid byte.
					cut := len(second)
					if bad >= 0 {
						cut = len(second) - (len(text) - k) + (bad - k) + 1
					}
					p.write(second[:cut])
					p.expectFail(errc, ws.StatusInvalidFramePayload, second[cut:])
				}
			}) {
				return // the first failure is enough: each would wait out a read deadline
			}
		}
	}
}

// perByteFrames returns text as a fragmented text message of one byte per frame.
func (p *rawPeer) perByteFrames(text []byte) [][]byte {
	frames := make([][]byte, len(text))
	for i := range text {
		op := byte(0x0)
		if i == 0 {
			op = 0x1
		}
		frames[i] = p.frame(i == len(text)-1, 0, op, text[i:i+1])
	}
	return frames
}

// sendPerByte sends text as a fragmented text message of one byte per frame.
func (p *rawPeer) sendPerByte(text []byte) {
	p.t.Helper()
	p.write(bytes.Join(p.perByteFrames(text), nil))
}

// Autobahn 6.4.1: the parts of a text message that becomes invalid in its second part, at
// byte 12 (0x90: F4 90 80 80 would be U+110000, above U+10FFFF).
const (
	failFast1 = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" // κόσμε
	failFast2 = "\xf4\x90\x80\x80"
	failFast3 = "\x65\x64\x69\x74\x65\x64" // "edited"
	failFast  = failFast1 + failFast2 + failFast3
)

// TestUTF8FailFast runs Autobahn 6.4.1–6.4.4 (RFC 6455 §8.1: "fail the WebSocket
// connection" on invalid UTF-8, which Autobahn wants at the first invalid byte): the peer
// sends a valid part, then the part that makes the text invalid, and sends the rest only
// once the close frame has arrived. 6.4.1 and 6.4.2 send the parts as frames (the second
// part whole, or only up to the invalid byte); 6.4.3 and 6.4.4 send the same parts as
// network chunks of one frame. The first part must be accepted: for frames, a ping after
// it is answered; for chunks, a Reader returns its bytes.
func TestUTF8FailFast(t *testing.T) {
	parts := map[string][3]string{
		"6.4.1": {failFast1, failFast2, failFast3},
		"6.4.2": {failFast[:12], failFast[12:13], failFast[13:]},
		"6.4.3": {failFast1, failFast2, failFast3},
		"6.4.4": {failFast[:12], failFast[12:13], failFast[13:]},
	}
	for _, id := range []string{"6.4.1", "6.4.2"} {
		part := parts[id]
		for _, r := range roles {
			for _, m := range echoModes {
				t.Run(id+"/"+r.String()+"/"+m.String(), func(t *testing.T) {
					c, p := newPair(t, r, m, nil)
					errc := echo(c)
					p.send(false, 0x1, []byte(part[0]))
					p.probe("A") // Autobahn's ("timeout", "A"): the first frame is accepted
					p.send(false, 0x0, []byte(part[1]))
					p.expectFail(errc, ws.StatusInvalidFramePayload, p.frame(true, 0, 0x0, []byte(part[2])))
				})
			}
		}
	}
	for _, id := range []string{"6.4.3", "6.4.4"} {
		part := parts[id]
		for _, r := range roles {
			for _, m := range readModes {
				// Through Read, as an echo server reads.
				t.Run(id+"/"+r.String()+"/"+m.String()+"/Read", func(t *testing.T) {
					c, p := newPair(t, r, m, nil)
					errc := echo(c)
					frame := p.frame(true, 0, 0x1, []byte(failFast))
					cut1 := len(frame) - len(failFast) + len(part[0])
					cut2 := cut1 + len(part[1])
					p.write(frame[:cut1])
					p.write(frame[cut1:cut2])
					p.expectFail(errc, ws.StatusInvalidFramePayload, frame[cut2:])
				})
				// Through Reader, which shows that the first chunk was accepted.
				t.Run(id+"/"+r.String()+"/"+m.String()+"/Reader", func(t *testing.T) {
					c, p := newPair(t, r, m, nil)
					frame := p.frame(true, 0, 0x1, []byte(failFast))
					cut1 := len(frame) - len(failFast) + len(part[0])
					cut2 := cut1 + len(part[1])
					p.write(frame[:cut1])
					ctx := context.Background()
					typ, rd, err := c.Reader(ctx)
					if err != nil || typ != ws.MessageText {
						t.Fatalf("Reader: %v %v", typ, err)
					}
					got := make([]byte, 0, len(part[0]))
					for len(got) < len(part[0]) {
						var buf [64]byte
						n, err := rd.Read(buf[:len(part[0])-len(got)])
						if err != nil {
							t.Fatalf("reading the first chunk: %v", err)
						}
						got = append(got, buf[:n]...)
					}
					if string(got) != part[0] {
						t.Fatalf("first chunk read as % x", got)
					}
					errc := make(chan error, 1)
					go func() {
						var buf [64]byte
						for {
							if _, err := rd.Read(buf[:]); err != nil {
								errc <- err
								return
							}
						}
					}()
					p.write(frame[cut1:cut2])
					p.expectFail(errc, ws.StatusInvalidFramePayload, frame[cut2:])
				})
			}
		}
	}
}

// TestUTF8IncompleteAtEnd checks that a text message must end on a character boundary
// (RFC 6455 §8.1, §5.6: the whole message is UTF-8): a sequence cut by the end of the
// message fails with 1007 at that end, even if the next message would complete it, while a
// sequence cut by a frame boundary, or by a control frame between fragments (§5.4), is
// fine. Autobahn 6.6.x and 6.14.x send such messages as one frame.
func TestUTF8IncompleteAtEnd(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String()+"/single-frame", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(true, 0x1, []byte("\xce\xba\xe1\xbd"))
			p.expectFail(errc, ws.StatusInvalidFramePayload, nil)
		})
		t.Run(r.String()+"/last-fragment", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(false, 0x1, []byte("\xce\xba\xe1"))
			p.probe("cut by a frame boundary is fine")
			p.send(true, 0x0, []byte("\xbd"))
			p.expectFail(errc, ws.StatusInvalidFramePayload, nil)
		})
		t.Run(r.String()+"/completed-by-next-message", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(true, 0x1, []byte("a\xce"))
			p.expectFail(errc, ws.StatusInvalidFramePayload, p.frame(true, 0, 0x1, []byte("\xbab")))
		})
		t.Run(r.String()+"/cut-by-close", func(t *testing.T) {
			// Autobahn 7.1.5 with a cut sequence: the message never ends, so its text is
			// never judged; the close frame is answered as usual.
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(false, 0x1, []byte("\xce"))
			p.send(true, 0x8, closePayload(1000, ""))
			p.expectClose(ws.StatusNormalClosure)
			p.nc.Close()
			if err := readErr(t, errc); ws.CloseStatus(err) != ws.StatusNormalClosure {
				t.Fatalf("reader ended with %v, want the peer's close 1000", err)
			}
		})
		t.Run(r.String()+"/control-frames-between", func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(false, 0x1, []byte("\xf0"))
			p.probe("one")
			p.send(false, 0x0, []byte("\x9f"))
			p.send(true, 0xA, []byte("unsolicited pong"))
			p.send(false, 0x0, []byte("\x98"))
			p.probe("two")
			p.send(true, 0x0, []byte("\x80"))
			p.expectEcho([]byte("😀"))
			p.closeNormally(errc)
		})
	}
}

// TestUTF8OnlyText checks that only text is UTF-8 (RFC 6455 §5.6): binary messages and the
// payloads of pings and pongs (§5.5.2, §5.5.3) are bytes, echoed as they are, even in the
// middle of a fragmented text message.
func TestUTF8OnlyText(t *testing.T) {
	var invalid []byte
	for _, tc := range autobahnUTF8Cases() {
		if !tc.valid {
			invalid = append(invalid, tc.text...)
		}
	}
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			p.send(true, 0x2, invalid)
			if f := p.mustReadFrame(); f.opcode != 0x2 || !bytes.Equal(f.payload, invalid) {
				t.Fatalf("binary echo: opcode %#x, %d bytes", f.opcode, len(f.payload))
			}
			p.send(false, 0x1, []byte("\xe2\x82"))
			p.probe("\xff\xfe\xed\xa0\x80\xc0\x80")
			p.send(true, 0x0, []byte("\xac"))
			p.expectEcho([]byte("€"))
			p.closeNormally(errc)
		})
	}
}

// TestUTF8CloseReason checks the reason of the peer's close frame, which must be UTF-8
// too (RFC 6455 §5.5.1, §7.1.6; Autobahn 7.5.1 sends κόσμε + ED A0 80 + "edited"): each
// Autobahn section 6 payload that fits (123 bytes at most) is sent as a close reason. A
// valid reason is reported by Read in the *ws.CloseError and the code echoed; an invalid
// one fails the connection with 1007.
func TestUTF8CloseReason(t *testing.T) {
	cases := append(autobahnUTF8Cases(), utf8Case{"7.5.1", false, failFast1 + "\xed\xa0\x80" + failFast3})
	for _, tc := range cases {
		if len(tc.text) > 123 {
			continue
		}
		for _, r := range roles {
			if !t.Run(tc.id+"/"+r.String(), func(t *testing.T) {
				c, p := newPair(t, r, readWhole, nil)
				errc := echo(c)
				p.send(true, 0x8, append([]byte{0x03, 0xe8}, tc.text...))
				if !tc.valid {
					p.expectFail(errc, ws.StatusInvalidFramePayload, nil)
					return
				}
				p.expectClose(ws.StatusNormalClosure)
				p.nc.Close()
				err := readErr(t, errc)
				var ce *ws.CloseError
				if !errors.As(err, &ce) || ce.Code != ws.StatusNormalClosure || ce.Reason != tc.text {
					t.Fatalf("reader ended with %v, want *ws.CloseError{1000, %q}", err, tc.text)
				}
			}) {
				return // the first failure is enough: each would wait out a read deadline
			}
		}
	}
}

// TestUTF8EmptyFragments runs Autobahn 6.1.1–6.1.3: empty text messages and empty
// fragments are valid UTF-8.
func TestUTF8EmptyFragments(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newPair(t, r, readWhole, nil)
			errc := echo(c)
			// 6.1.1: an empty text message.
			p.send(true, 0x1, nil)
			p.expectEcho(nil)
			// 6.1.2: three empty fragments.
			p.send(false, 0x1, nil)
			p.send(false, 0x0, nil)
			p.send(true, 0x0, nil)
			p.expectEcho(nil)
			// 6.1.3: empty first and last fragments around a non-empty one.
			p.send(false, 0x1, nil)
			p.send(false, 0x0, []byte("middle frame payload"))
			p.send(true, 0x0, nil)
			p.expectEcho([]byte("middle frame payload"))
			p.closeNormally(errc)
		})
	}
}

// newCompressedPair is newPair (reading whole) with permessage-deflate agreed in mode, with
// 15 window bits both ways (RFC 7692 §7.1.2), through ws.NewCompressedConnForTest.
func newCompressedPair(t testing.TB, r role, mode ws.CompressionMode) (*ws.Conn, *rawPeer) {
	t.Helper()
	a, b := tcpPair(t)
	c := ws.NewCompressedConnForTest(a, r == asClient, &ws.ConnOptions{CloseTimeout: 2 * time.Second}, mode, 15, 15)
	t.Cleanup(func() { c.CloseNow() })
	return c, &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: r == asServer, key: [4]byte{0x37, 0xfa, 0x21, 0x3d}}
}

// deflater compresses messages as a permessage-deflate peer does (RFC 7692 §7.2.1: a sync
// flush, then the final 00 00 FF FF removed), with context takeover or without.
type deflater struct {
	buf      bytes.Buffer
	w        *flate.Writer
	takeover bool
}

func (d *deflater) compress(t testing.TB, text []byte) []byte {
	t.Helper()
	if d.w == nil || !d.takeover {
		d.buf.Reset()
		w, err := flate.NewWriter(&d.buf, flate.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		d.w = w
	}
	d.buf.Reset()
	d.w.Write(text)
	d.w.Flush()
	out, ok := bytes.CutSuffix(d.buf.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
	if !ok {
		t.Fatalf("compress/flate output % x does not end with a sync flush", d.buf.Bytes())
	}
	return bytes.Clone(out)
}

// TestUTF8AutobahnCompressed runs the payloads of TestUTF8Autobahn as compressed messages
// (STYLE habit 14's compression modes; RFC 7692 §6.1, RFC 6455 §8.1: the text that must be
// UTF-8 is the decompressed payload), one frame with RSV1 each, with and without context
// takeover. Valid text is read back byte for byte, every message on one connection;
// invalid text fails the connection with 1007. Fail-fast inside a compressed message is
// TestDeflateUTF8FailFast's subject.
func TestUTF8AutobahnCompressed(t *testing.T) {
	cases := autobahnUTF8Cases()
	for _, mode := range []ws.CompressionMode{ws.CompressionNoContextTakeover, ws.CompressionContextTakeover} {
		takeover := mode == ws.CompressionContextTakeover
		for _, r := range roles {
			t.Run(fmt.Sprint(mode, "/", r, "/valid"), func(t *testing.T) {
				c, p := newCompressedPair(t, r, mode)
				results := readAll(context.Background(), c)
				d := &deflater{takeover: takeover}
				for _, tc := range cases {
					if !tc.valid {
						continue
					}
					p.write(p.frame(true, 0x40, 0x1, d.compress(t, []byte(tc.text))))
					if res := next(t, results); res.err != nil || res.typ != ws.MessageText || string(res.msg) != tc.text {
						t.Fatalf("%s: read %v % x %v, want % x", tc.id, res.typ, res.msg, res.err, tc.text)
					}
				}
				p.send(true, 0x8, closePayload(1000, ""))
				p.expectClose(ws.StatusNormalClosure)
				p.nc.Close()
				if res := next(t, results); ws.CloseStatus(res.err) != ws.StatusNormalClosure {
					t.Fatalf("reader ended with %v", res.err)
				}
			})
			if !t.Run(fmt.Sprint(mode, "/", r, "/invalid"), func(t *testing.T) {
				for _, tc := range cases {
					if tc.valid {
						continue
					}
					if !t.Run(tc.id, func(t *testing.T) {
						c, p := newCompressedPair(t, r, mode)
						errc := echo(c)
						d := &deflater{takeover: takeover}
						if takeover {
							// A valid message before, so that the window is not empty.
							p.write(p.frame(true, 0x40, 0x1, d.compress(t, []byte("valid, and "+strings.ToValidUTF8(tc.text, "?")))))
						}
						p.write(p.frame(true, 0x40, 0x1, d.compress(t, []byte(tc.text))))
						// The valid message's echo (compressed) comes first; skip it.
						f, err := p.readFrameWithin(failFastWithin)
						if err == nil && f.opcode == 0x1 {
							f, err = p.readFrameWithin(failFastWithin)
						}
						if err != nil || f.opcode != 0x8 || len(f.payload) < 2 || ws.StatusCode(binary.BigEndian.Uint16(f.payload)) != ws.StatusInvalidFramePayload {
							t.Fatalf("want a close frame with 1007, got %+v, %v", f, err)
						}
						p.expectEOF()
						p.nc.Close()
						wantProtocolError(t, readErr(t, errc), ws.StatusInvalidFramePayload)
					}) {
						return // the first failure is enough: each would wait out a read deadline
					}
				}
			}) {
				return
			}
		}
	}
}
