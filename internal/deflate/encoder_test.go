package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// The tail RFC 7692 §7.2.2 appends before decompressing, then a final empty stored block
// so that compress/flate ends cleanly.
const syncTail = "\x00\x00\xff\xff"
const finalBlock = "\x01\x00\x00\xff\xff"

// inputs returns test messages: empty, tiny, text, repetitive, random, and long.
func inputs() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100_000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	var text bytes.Buffer
	words := []string{"alpha ", "beta ", "gamma ", "{\"type\":\"message\",\"text\":\"", "duplex ", "\"}\n", "κόσμε ", "websocket "}
	for text.Len() < 200_000 {
		text.WriteString(words[r.IntN(len(words))])
	}
	return map[string][]byte{
		"prose-1k":    prose(1024),
		"prose-64k":   prose(64 << 10),
		"empty":       {},
		"one":         []byte("a"),
		"hello":       []byte("Hello"),
		"short-rep":   []byte("abcabcabcabcabcabc"),
		"zeros-64k":   make([]byte, 65536),
		"zeros-300k":  make([]byte, 300_000),
		"text-1k":     text.Bytes()[:1024],
		"text-200k":   text.Bytes(),
		"random-100k": random,
		"random-10":   random[:10],
		"mixed":       append(append([]byte{}, random[:5000]...), text.Bytes()[:50_000]...),
	}
}

// prose returns n bytes of words drawn at random from an English paragraph (RFC 6455
// §1.5's): text that repeats words, not phrases, as chat messages do; the fast level
// compresses 1 KiB of it with the fixed codes to about 0.7.
func prose(n int) []byte {
	words := strings.Fields(`The WebSocket Protocol is designed on the principle that there should be
minimal framing (the only framing that exists is to make the protocol frame-based instead of
stream-based and to support a distinction between Unicode text and binary frames). It is
expected that metadata would be layered on top of WebSocket by the application layer, in
the same way that metadata is layered on top of TCP by the application layer (e.g., HTTP).
Conceptually, WebSocket is really just a layer on top of TCP that does the following: adds a
web origin-based security model for browsers; adds an addressing and protocol naming
mechanism to support multiple services on one port and multiple host names on one IP
address; layers a framing mechanism on top of TCP to get back to the IP packet mechanism
that TCP is built on, but without length limits; includes an additional closing handshake
in-band that is designed to work in the presence of proxies and other intermediaries.`)
	r := rand.New(rand.NewPCG(3, 4))
	p := make([]byte, 0, n+32)
	for len(p) < n {
		p = append(p, words[r.IntN(len(words))]...)
		p = append(p, ' ')
	}
	return p[:n]
}

// compressMessage compresses p as one message, in Writes of chunk bytes (all at once if 0).
func compressMessage(e *Encoder, p []byte, chunk int) []byte {
	var out []byte
	if chunk <= 0 {
		chunk = max(len(p), 1)
	}
	for len(p) > 0 {
		n := min(chunk, len(p))
		out = e.Write(out, p[:n])
		p = p[n:]
	}
	return e.Flush(out)
}

func inflate(t *testing.T, compressed []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(compressed), bytes.NewReader([]byte(syncTail+finalBlock))))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// TestRoundTrip compresses every input, whole and in chunks, at every window size, and
// checks that compress/flate restores it and that no match reaches past the window.
func TestRoundTrip(t *testing.T) {
	for name, in := range inputs() {
		for wb := MinWindowBits; wb <= MaxWindowBits; wb++ {
			for _, chunk := range []int{0, 1, 1000, 70_000} {
				if chunk == 1 && len(in) > 5000 {
					continue
				}
				for _, level := range []int{1, 9} {
					t.Run(fmt.Sprintf("%s/w%d/chunk%d/level%d", name, wb, chunk, level), func(t *testing.T) {
						e := NewEncoderLevel(wb, level)
						c := compressMessage(e, in, chunk)
						if got := inflate(t, c); !bytes.Equal(got, in) {
							t.Fatalf("round trip: got %d bytes, want %d", len(got), len(in))
						}
						if _, err := checkStream(c, 1<<wb, nil); err != nil {
							t.Fatal(err)
						}
					})
				}
			}
		}
	}
}

// TestFixedBlockChoices writes one message in short chunks that alternate between text and
// random bytes, so that the fast level's fixed block, kept open across chunks, is closed
// for a stored block when a chunk's fixed codes would take more room (its bits already
// written taken back), and opened again after.
func TestFixedBlockChoices(t *testing.T) {
	ins := inputs()
	text, random := ins["prose-64k"], ins["random-100k"]
	var msg []byte
	for i := range 6 {
		msg = append(msg, text[i*700:(i+1)*700]...)
		msg = append(msg, random[i*700:(i+1)*700]...)
	}
	e := NewEncoder(15)
	c := compressMessage(e, msg, 700)
	if got := inflate(t, c); !bytes.Equal(got, msg) {
		t.Fatalf("round trip: got %d bytes, want %d", len(got), len(msg))
	}
	if _, err := checkStream(c, 1<<15, nil); err != nil {
		t.Fatal(err)
	}
	// Each random chunk is stored: 700 bytes and a 5-byte header, at most a byte of
	// padding, where the fixed codes would take about 760.
	e.Reset()
	stored := len(compressMessage(e, random[:700], 0))
	if stored > 700+5+1+1 {
		t.Errorf("700 random bytes took %d bytes, not a stored block", stored)
	}
	if max := 6*stored + 6*700; len(c) > max {
		t.Errorf("compressed to %d bytes, over %d", len(c), max)
	}
}

// TestContextTakeover compresses several messages with one Encoder, as with context
// takeover: each message may refer to earlier ones, within the window, and the
// concatenated stream decompresses to the concatenated messages.
func TestContextTakeover(t *testing.T) {
	ins := inputs()
	msgs := [][]byte{ins["text-1k"], ins["hello"], ins["text-1k"], ins["empty"], ins["random-10"], ins["text-200k"], ins["text-1k"], ins["zeros-64k"], ins["text-1k"]}
	for wb := MinWindowBits; wb <= MaxWindowBits; wb++ {
		for _, level := range []int{1, 9} {
			t.Run(fmt.Sprintf("w%d/level%d", wb, level), func(t *testing.T) {
				e := NewEncoderLevel(wb, level)
				var stream, want []byte
				var history []byte
				for i, m := range msgs {
					c := compressMessage(e, m, 0)
					// Each message must decode with only the window of earlier output.
					var err error
					history, err = checkStream(c, 1<<wb, history)
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					stream = append(append(stream, c...), syncTail...)
					want = append(want, m...)
				}
				if got := inflate(t, stream[:len(stream)-len(syncTail)]); !bytes.Equal(got, want) {
					t.Fatalf("takeover stream: got %d bytes, want %d", len(got), len(want))
				}
				// The second text-1k message should cost far less than the first.
				e2 := NewEncoder(15)
				first := len(compressMessage(e2, ins["text-1k"], 0))
				second := len(compressMessage(e2, ins["text-1k"], 0))
				if second*2 > first {
					t.Errorf("repeated message: %d bytes then %d; takeover should shrink it", first, second)
				}
			})
		}
	}
}

// TestLevels checks that the thorough levels compress text smaller than the fast ones,
// and that levels are clamped.
func TestLevels(t *testing.T) {
	in := inputs()["text-200k"]
	fast := len(compressMessage(NewEncoderLevel(15, 1), in, 0))
	best := len(compressMessage(NewEncoderLevel(15, 9), in, 0))
	t.Logf("200 KB of text: level 1 %d bytes, level 9 %d bytes", fast, best)
	if best >= fast {
		t.Errorf("level 9 gave %d bytes, level 1 %d: the thorough level should be smaller", best, fast)
	}
	for _, c := range []struct{ in, want int }{{-1, 1}, {0, 1}, {3, 1}, {4, 9}, {9, 9}, {12, 9}} {
		if got := NewEncoderLevel(15, c.in).Level(); got != c.want {
			t.Errorf("NewEncoderLevel(15, %d).Level() = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestReset checks that after Reset nothing refers to earlier messages: each message
// decodes on its own.
func TestReset(t *testing.T) {
	ins := inputs()
	e := NewEncoder(15)
	for i := range 5 {
		c := compressMessage(e, ins["text-1k"], 0)
		if _, err := checkStream(c, 1<<15, nil); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got := inflate(t, c); !bytes.Equal(got, ins["text-1k"]) {
			t.Fatalf("message %d: round trip failed", i)
		}
		e.Reset()
	}
}

// TestRFC7692Examples checks the byte sequences of RFC 7692 §7.2.3.
func TestRFC7692Examples(t *testing.T) {
	// §7.2.3.1: "Hello" compresses to f2 48 cd c9 c9 07 00 (fixed Huffman, no matches).
	e := NewEncoder(15)
	if got := compressMessage(e, []byte("Hello"), 0); !bytes.Equal(got, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}) {
		t.Errorf(`"Hello": % x, want f2 48 cd c9 c9 07 00`, got)
	}
	// §7.2.3.2: with context takeover the second "Hello" refers to the first. The RFC's
	// encoder gives f2 00 11 00 00 (a literal and a 4-byte match); ours matches all five
	// bytes. Either must decode to "Hello" given the first message as history, and be
	// shorter than the first.
	second := compressMessage(e, []byte("Hello"), 0)
	out, err := checkStream(second, 1<<15, []byte("Hello"))
	if err != nil || string(out) != "HelloHello" || len(second) >= 7 {
		t.Errorf(`second "Hello": % x decodes to %q, %v`, second, out, err)
	}
	if out, err := checkStream([]byte{0xf2, 0x00, 0x11, 0x00, 0x00}, 1<<15, []byte("Hello")); err != nil || string(out) != "HelloHello" {
		t.Errorf("the RFC's second message decodes to %q, %v", out, err)
	}
	// Without the first message as history, its match reaches before the output's start:
	// the checker must say so.
	if _, err := checkStream([]byte{0xf2, 0x00, 0x11, 0x00, 0x00}, 1<<15, nil); err == nil {
		t.Error("the RFC's second message decoded without its history")
	}
	// §7.2.3.6 (empty message): a lone 00.
	e.Reset()
	if got := compressMessage(e, nil, 0); !bytes.Equal(got, []byte{0x00}) {
		t.Errorf("empty message: % x, want 00", got)
	}
}

func TestWindowBitsClamp(t *testing.T) {
	for _, c := range []struct{ in, want int }{{0, 8}, {8, 8}, {12, 12}, {15, 15}, {20, 15}} {
		if got := NewEncoder(c.in).WindowBits(); got != c.want {
			t.Errorf("NewEncoder(%d).WindowBits() = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestCodes(t *testing.T) {
	for n := 3; n <= 258; n++ {
		c := lengthCode(n)
		if n < int(lengthBase[c]) || n >= int(lengthBase[c])+1<<lengthExtra[c] && c != 28 {
			t.Fatalf("length %d: code %d covers [%d, %d)", n, c, lengthBase[c], int(lengthBase[c])+1<<lengthExtra[c])
		}
	}
	for d := 1; d <= 32768; d++ {
		c := distCode(d)
		if d < int(distBase[c]) || d >= int(distBase[c])+1<<distExtra[c] {
			t.Fatalf("distance %d: code %d covers [%d, %d)", d, c, distBase[c], int(distBase[c])+1<<distExtra[c])
		}
	}
}

// checkStream decodes a message's compressed bytes (as Flush leaves them, without the
// 00 00 ff ff tail) independently of compress/flate: it understands the stored and fixed
// Huffman blocks the Encoder writes, and fails if a match reaches further back than window
// or than the output so far (history being what earlier messages left). It returns the
// history extended by this message.
func checkStream(c []byte, window int, history []byte) ([]byte, error) {
	br := &bitReader{b: append(append([]byte{}, c...), syncTail...)}
	out := history
	for {
		final := br.bits(1)
		typ := br.bits(2)
		if br.err != nil {
			return out, br.err
		}
		switch typ {
		case 0:
			br.alignByte()
			n := br.bits(16)
			nn := br.bits(16)
			if br.err != nil {
				return out, br.err
			}
			if n != ^nn&0xffff {
				return out, fmt.Errorf("stored block LEN %d NLEN %d", n, nn)
			}
			for range n {
				out = append(out, byte(br.bits(8)))
			}
			if n == 0 && br.pos == len(br.b) {
				if final != 0 {
					return out, errors.New("final block")
				}
				return out, br.err // the sync marker: the message's end
			}
		case 1:
			var err error
			if out, err = br.decodeBlock(out, window, br.fixedLit, func() int { return reverseBits(br.bits(5), 5) }); err != nil {
				return out, err
			}
		case 2:
			lit, dist, err := br.dynamicHeader()
			if err != nil {
				return out, err
			}
			nextLit := func() int { return br.decode(lit) }
			nextDist := func() int { return br.decode(dist) }
			if out, err = br.decodeBlock(out, window, nextLit, nextDist); err != nil {
				return out, err
			}
		default:
			return out, fmt.Errorf("block type %d", typ)
		}
		if final != 0 {
			return out, errors.New("final block")
		}
	}
}

// decodeBlock decodes a Huffman block's symbols, read with nextLit and nextDist, up to its
// end, appending to out, and fails on a match reaching past window or before out's start.
func (r *bitReader) decodeBlock(out []byte, window int, nextLit, nextDist func() int) ([]byte, error) {
	for {
		sym := nextLit()
		switch {
		case r.err != nil:
			return out, r.err
		case sym < 256:
			out = append(out, byte(sym))
		case sym == 256:
			return out, nil
		default:
			lc := sym - 257
			n := int(lengthBase[lc]) + r.bits(uint(lengthExtra[lc]))
			dc := nextDist()
			if r.err != nil {
				return out, r.err
			}
			d := int(distBase[dc]) + r.bits(uint(distExtra[dc]))
			if d > window {
				return out, fmt.Errorf("distance %d beyond the %d-byte window", d, window)
			}
			if d > len(out) {
				return out, fmt.Errorf("distance %d beyond the %d bytes of output", d, len(out))
			}
			for range n {
				out = append(out, out[len(out)-d])
			}
		}
	}
}

type bitReader struct {
	b   []byte
	pos int
	bit uint
	err error
}

func (r *bitReader) bits(n uint) int {
	v := 0
	for i := range n {
		if r.pos >= len(r.b) {
			r.err = io.ErrUnexpectedEOF
			return 0
		}
		v |= int(r.b[r.pos]>>r.bit&1) << i
		if r.bit++; r.bit == 8 {
			r.bit, r.pos = 0, r.pos+1
		}
	}
	return v
}

func (r *bitReader) alignByte() {
	if r.bit != 0 {
		r.bit, r.pos = 0, r.pos+1
	}
}

// fixedLit reads a fixed-Huffman literal/length symbol, MSB of the code first.
func (r *bitReader) fixedLit() int {
	code := 0
	for n := 1; n <= 9; n++ {
		code = code<<1 | r.bits(1)
		switch {
		case n == 7 && code <= 0x17:
			return 256 + code
		case n == 8 && code >= 0x30 && code <= 0xBF:
			return code - 0x30
		case n == 8 && code >= 0xC0 && code <= 0xC7:
			return 280 + code - 0xC0
		case n == 9 && code >= 0x190:
			return 144 + code - 0x190
		}
	}
	r.err = errors.New("bad fixed code")
	return 0
}

func reverseBits(v int, n uint) int {
	r := 0
	for range n {
		r = r<<1 | v&1
		v >>= 1
	}
	return r
}

// TestRemember checks that bytes added with Remember become history that later messages
// may refer to, and that the stream stays decodable for a peer that received them.
func TestRemember(t *testing.T) {
	ins := inputs()
	for _, wb := range []int{8, 15} {
		e := NewEncoder(wb)
		first := compressMessage(e, ins["text-1k"], 0)
		history, err := checkStream(first, 1<<wb, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A message the peer got compressed by someone else, with no history.
		e.Remember(ins["text-200k"][:3000])
		history = append(history, ins["text-200k"][:3000]...)
		second := compressMessage(e, ins["text-1k"], 0)
		out, err := checkStream(second, 1<<wb, history)
		if err != nil {
			t.Fatalf("w%d: %v", wb, err)
		}
		if !bytes.Equal(out[len(history):], ins["text-1k"]) {
			t.Fatalf("w%d: round trip failed", wb)
		}
	}
}

// huffDecoder maps a code, read MSB first, and its length to a symbol.
type huffDecoder map[[2]int]int

func newHuffDecoder(lengths []uint8) huffDecoder {
	codes := make([]uint32, len(lengths))
	canonicalCodes(lengths, codes) // bit-reversed
	d := huffDecoder{}
	for s, l := range lengths {
		if l != 0 {
			d[[2]int{reverseBits(int(codes[s]), uint(l)), int(l)}] = s
		}
	}
	return d
}

func (r *bitReader) decode(d huffDecoder) int {
	code := 0
	for l := 1; l <= 15; l++ {
		code = code<<1 | r.bits(1)
		if s, ok := d[[2]int{code, l}]; ok {
			return s
		}
	}
	if r.err == nil {
		r.err = errors.New("bad Huffman code")
	}
	return 0
}

// dynamicHeader reads a dynamic block's header (RFC 1951 §3.2.7) and returns the decoders
// of its literal/length and distance codes.
func (r *bitReader) dynamicHeader() (lit, dist huffDecoder, err error) {
	hlit := r.bits(5) + 257
	hdist := r.bits(5) + 1
	hclen := r.bits(4) + 4
	clLen := make([]uint8, 19)
	for i := range hclen {
		clLen[codeLengthOrder[i]] = uint8(r.bits(3))
	}
	cl := newHuffDecoder(clLen)
	lengths := make([]uint8, 0, hlit+hdist)
	for len(lengths) < hlit+hdist && r.err == nil {
		switch sym := r.decode(cl); {
		case sym < 16:
			lengths = append(lengths, uint8(sym))
		case sym == 16:
			if len(lengths) == 0 {
				return nil, nil, errors.New("repeat with no previous length")
			}
			prev := lengths[len(lengths)-1]
			for range 3 + r.bits(2) {
				lengths = append(lengths, prev)
			}
		case sym == 17:
			lengths = append(lengths, make([]uint8, 3+r.bits(3))...)
		default:
			lengths = append(lengths, make([]uint8, 11+r.bits(7))...)
		}
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	if len(lengths) != hlit+hdist {
		return nil, nil, fmt.Errorf("code lengths overrun: %d, want %d", len(lengths), hlit+hdist)
	}
	return newHuffDecoder(lengths[:hlit]), newHuffDecoder(lengths[hlit:]), nil
}
