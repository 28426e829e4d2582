package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"testing"
)

// stdInflate decompresses src with compress/flate, the reference Inflate is held to.
func stdInflate(src, dict []byte) ([]byte, error) {
	return io.ReadAll(flate.NewReaderDict(bytes.NewReader(src), dict))
}

// flateCompress compresses p with compress/flate at level, with a sync flush in the
// middle (as permessage-deflate ends each message) and a final block.
func flateCompress(t testing.TB, p, dict []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriterDict(&buf, level, dict)
	if err != nil {
		t.Fatal(err)
	}
	half := len(p) / 2
	w.Write(p[:half])
	w.Flush()
	w.Write(p[half:])
	w.Close()
	return buf.Bytes()
}

// testInputs are data of every kind a block type suits: nothing, a byte, random bytes
// (stored blocks), text (matches, dynamic codes), long runs (overlapping matches).
func testInputs() map[string][]byte {
	ins := inputs()
	random := ins["random-100k"]
	out := map[string][]byte{
		"empty":       nil,
		"one":         {'x'},
		"random-100k": random,
		"random-300":  random[:300],
		"run-70k":     bytes.Repeat([]byte{'a'}, 70_000),
		"period3-10k": bytes.Repeat([]byte("abc"), 3400),
		"text-200k":   ins["text-200k"],
		"text-1k":     ins["text-1k"],
		"mixed":       append(append(bytes.Repeat([]byte("hello "), 2000), random[:5000]...), ins["text-1k"]...),
	}
	return out
}

// TestInflateMatchesFlate decodes what compress/flate and this package's encoder produce,
// at every level, and compares with the input.
func TestInflateMatchesFlate(t *testing.T) {
	var f Inflater
	for name, in := range testInputs() {
		for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, 1, 5, 9} {
			comp := flateCompress(t, in, nil, level)
			got, err := f.Inflate([]byte("prefix"), comp, nil, -1)
			if err != nil || !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], in) {
				t.Fatalf("%s, flate level %d: error %v, output of %d bytes, want %d", name, level, err, len(got)-6, len(in))
			}
		}
		for _, level := range []int{1, 9} {
			for _, wb := range []int{8, 15} {
				e := NewEncoderLevel(wb, level)
				comp := e.Flush(e.Write(nil, in))
				comp = append(comp, syncTail+finalBlock...)
				got, err := f.Inflate(nil, comp, nil, -1)
				if err != nil || !bytes.Equal(got, in) {
					t.Fatalf("%s, encoder level %d window %d: error %v, output of %d bytes, want %d", name, level, wb, err, len(got), len(in))
				}
			}
		}
	}
}

// TestInflateDict decodes streams whose matches reach into a dictionary (context takeover):
// the whole of it, and no further.
func TestInflateDict(t *testing.T) {
	var f Inflater
	ins := inputs()
	dict := ins["text-200k"][:32<<10]
	msg := ins["text-200k"][50_000:52_000]
	for _, level := range []int{5, 9} { // compress/flate's level 1 ignores a dictionary
		comp := flateCompress(t, msg, dict, level)
		got, err := f.Inflate(nil, comp, dict, -1)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("level %d: %v, %d bytes", level, err, len(got))
		}
		// A stream made with the dictionary refers to it: without it, or with too little
		// of it, it must fail, never read outside what it was given.
		if _, err := f.Inflate(nil, comp, dict[len(dict)-100:], -1); err == nil {
			t.Errorf("level %d: decoded with a dictionary shorter than the one it refers to", level)
		}
	}
	// Overlapping matches that start in the dictionary and run on into the output.
	dict = []byte("xyzab")
	comp := fixedBlock(t, true, []sym{{length: 10, dist: 2}})
	got, err := f.Inflate(nil, comp, dict, -1)
	if err != nil || string(got) != "ababababab" {
		t.Fatalf("match into the dictionary: %q, %v", got, err)
	}
}

// sym is a symbol of a hand-made fixed-Huffman block: a literal, a match, or (as lit
// 256+) any literal/length code, defined or not.
type sym struct {
	lit          int // used when length is 0
	length, dist int
	rawDistCode  int // when dist is 0: this distance code, extra bits 0
}

// fixedBlock writes a fixed-Huffman block of syms, ended by its end-of-block code.
func fixedBlock(t testing.TB, final bool, syms []sym) []byte {
	var w bitWriter
	var out []byte
	bfinal := uint32(0)
	if final {
		bfinal = 1
	}
	w.writeBits(bfinal|1<<1, 3)
	for _, s := range syms {
		if s.length == 0 {
			w.writeBits(fixedLitCode[s.lit], fixedLitLen[s.lit])
		} else {
			lc := lengthCode(s.length)
			w.writeBits(fixedLitCode[257+lc], fixedLitLen[257+lc])
			w.writeBits(uint32(s.length-int(lengthBase[lc])), lengthExtra[lc])
			if s.dist == 0 {
				w.writeBits(uint32(reverse(s.rawDistCode, 5)), 5)
			} else {
				dc := distCode(s.dist)
				w.writeBits(uint32(fixedDistCode[dc]), 5)
				w.writeBits(uint32(s.dist-int(distBase[dc])), distExtra[dc])
			}
		}
		out = w.flushBytes(out)
	}
	w.writeBits(fixedLitCode[endOfBlock], fixedLitLen[endOfBlock])
	w.align()
	return w.flushBytes(out)
}

// TestInflateLimit stops at the limit: exactly the limit is fine, a byte more is not,
// whatever the block type; a small input that expands enormously stops there.
func TestInflateLimit(t *testing.T) {
	var f Inflater
	for name, in := range testInputs() {
		if len(in) < 2 {
			continue
		}
		for _, level := range []int{flate.NoCompression, 1, 9} {
			comp := flateCompress(t, in, nil, level)
			if got, err := f.Inflate(nil, comp, nil, len(in)); err != nil || !bytes.Equal(got, in) {
				t.Fatalf("%s level %d, limit = size: %v", name, level, err)
			}
			if got, err := f.Inflate(nil, comp, nil, len(in)-1); err != ErrTooLarge || len(got) > len(in)-1 {
				t.Fatalf("%s level %d, limit = size-1: %v with %d bytes", name, level, err, len(got))
			}
		}
	}
	bomb := flateCompress(t, make([]byte, 50<<20), nil, 9) // 50 MiB of zeros in ~50 KB
	got, err := f.Inflate(nil, bomb, nil, 1<<20)
	if err != ErrTooLarge || len(got) > 1<<20 {
		t.Fatalf("bomb: %v with %d bytes", err, len(got))
	}
}

// TestInflateTruncated fails every proper prefix of a stream, never succeeding or reading
// past its end.
func TestInflateTruncated(t *testing.T) {
	var f Inflater
	for name, in := range testInputs() {
		if len(in) > 5000 {
			in = in[:5000]
		}
		for _, level := range []int{flate.NoCompression, 1, 9} {
			comp := flateCompress(t, in, nil, level)
			for n := range len(comp) {
				if _, err := f.Inflate(nil, comp[:n:n], nil, -1); err == nil {
					t.Fatalf("%s level %d: a prefix of %d of %d bytes decoded", name, level, n, len(comp))
				}
			}
		}
	}
}

// TestInflateCorrupt names the ways a stream can be malformed (RFC 1951 §3.2).
func TestInflateCorrupt(t *testing.T) {
	// dyn writes a dynamic block's header, then calls rest to write more, with put, which
	// writes bits (flushing as it goes: bitWriter holds 64 at most).
	dyn := func(hlit, hdist, hclen int, clens []int, rest func(put func(v uint32, n uint8))) []byte {
		var w bitWriter
		var out []byte
		put := func(v uint32, n uint8) {
			w.writeBits(v, n)
			out = w.flushBytes(out)
		}
		put(1|2<<1, 3)
		put(uint32(hlit-257), 5)
		put(uint32(hdist-1), 5)
		put(uint32(hclen-4), 4)
		for _, l := range clens {
			put(uint32(l), 3)
		}
		if rest != nil {
			rest(put)
		}
		w.align()
		return w.flushBytes(out)
	}
	// Code length code lengths in clenOrder: 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1 15.
	cases := []struct {
		name string
		in   []byte
		want string // a substring of the error; "" for ErrUnexpectedEOF
	}{
		{"reserved block type", []byte{0x07}, "reserved block type"},
		{"stored length complement", []byte{0x01, 0x05, 0x00, 0xfa, 0xfe, 'h', 'e', 'l', 'l', 'o'}, "complement"},
		{"stored block cut short", []byte{0x01, 0x05, 0x00, 0xfa, 0xff, 'h', 'e'}, ""},
		{"empty", nil, ""},
		{"distance before the start", fixedBlock(t, true, []sym{{lit: 'a'}, {length: 3, dist: 2}}), "distance"},
		{"literal/length code 286", fixedBlock(t, true, []sym{{lit: 286}}), "literal/length"},
		{"literal/length code 287", fixedBlock(t, true, []sym{{lit: 287}}), "literal/length"},
		{"distance code 30", fixedBlock(t, true, []sym{{lit: 'a'}, {length: 3, rawDistCode: 30}}), "distance code"},
		{"distance code 31", fixedBlock(t, true, []sym{{lit: 'a'}, {length: 3, rawDistCode: 31}}), "distance code"},
		{"more than 286 literal/length codes", dyn(287, 1, 4, []int{0, 0, 0, 0}, nil), "286"},
		{"more than 30 distance codes", dyn(257, 31, 4, []int{0, 0, 0, 0}, nil), "30 distance"},
		// Three codes of length 1: over-subscribed.
		{"over-subscribed code length code", dyn(257, 1, 19, []int{0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, nil), "code length code"},
		// One code of length 2: incomplete, and not the single one-bit code zlib allows.
		{"incomplete code length code", dyn(257, 1, 4, []int{0, 0, 0, 2}, nil), "code length code"},
		// Code length code: symbols 0 (bit 0) and 16 (bit 1); the first length is a repeat.
		{"repeat with nothing before", dyn(257, 1, 4, []int{1, 0, 0, 1}, func(put func(uint32, uint8)) { put(1, 1); put(0, 2) }), "repeated"},
		// Symbols 0 (bit 0) and 18 (bit 1): 138 zeros, twice, is 276 lengths of 258.
		{"lengths overrun their count", dyn(257, 1, 4, []int{0, 0, 1, 1}, func(put func(uint32, uint8)) {
			put(1, 1)
			put(127, 7)
			put(1, 1)
			put(127, 7)
		}), "overrun"},
		// Symbols 0 and 18: 257+1 lengths all zero, so no end-of-block code.
		{"no end-of-block code", dyn(257, 1, 4, []int{0, 0, 1, 1}, func(put func(uint32, uint8)) {
			put(1, 1)
			put(127, 7) // 138
			put(1, 1)
			put(109, 7) // 120, 258 in all
		}), "end-of-block"},
	}
	var f Inflater
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Inflate(nil, tc.in, nil, -1)
			var ce *CorruptError
			switch {
			case tc.want == "" && err != ErrUnexpectedEOF:
				t.Fatalf("error %v, want ErrUnexpectedEOF", err)
			case tc.want != "" && (!errors.As(err, &ce) || !bytes.Contains([]byte(err.Error()), []byte(tc.want))):
				t.Fatalf("error %v, want a CorruptError about %q", err, tc.want)
			}
			if _, serr := stdInflate(tc.in, nil); serr == nil {
				t.Errorf("compress/flate accepts it")
			}
		})
	}
}

// TestInflateDegenerateCodes accepts what zlib and compress/flate accept: a distance code
// with a single one-bit code, and one with no code at all in a block of literals.
func TestInflateDegenerateCodes(t *testing.T) {
	// compress/flate's own encoder writes these for short inputs: one distance, or none.
	var f Inflater
	for _, in := range []string{"a", "abcdefgh", "aaaaaaaaaaaaaaaaaaaaaaaa", "abcabcabcabcabcabcxyzxyzxyzxyz"} {
		for _, level := range []int{flate.HuffmanOnly, 1, 9} {
			comp := flateCompress(t, []byte(in), nil, level)
			got, err := f.Inflate(nil, comp, nil, -1)
			if err != nil || string(got) != in {
				t.Fatalf("%q level %d: %q, %v", in, level, got, err)
			}
		}
	}
}

// TestInflateAllocs pins Inflate at no allocation once its tables and the output have
// grown.
func TestInflateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations cannot be counted under the race detector; .ci/run runs this without it")
	}
	in := inputs()["text-200k"][:64<<10]
	comp := flateCompress(t, in, nil, 6)
	var f Inflater
	out, _ := f.Inflate(nil, comp, nil, -1)
	if n := testing.AllocsPerRun(20, func() { out, _ = f.Inflate(out[:0], comp, nil, -1) }); n != 0 {
		t.Errorf("%v allocations per Inflate", n)
	}
}

// BenchmarkInflate decodes messages compressed by compress/flate at levels 1 and 6 and by
// this package's fast level (as "level0"), next to compress/flate decoding the same.
func BenchmarkInflate(b *testing.B) {
	for _, name := range []string{"prose-1k", "prose-64k", "text-1k", "text-200k", "random-100k"} {
		in := inputs()[name]
		for _, level := range []int{0, 1, 6} {
			var comp []byte
			if level == 0 {
				comp = append(compressMessage(NewEncoder(15), in, 0), syncTail+finalBlock...)
			} else {
				comp = flateCompress(b, in, nil, level)
			}
			b.Run(fmt.Sprintf("duplex/%s/level%d", name, level), func(b *testing.B) {
				var f Inflater
				out := make([]byte, 0, len(in))
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				for b.Loop() {
					out, _ = f.Inflate(out[:0], comp, nil, -1)
				}
			})
			b.Run(fmt.Sprintf("compress-flate/%s/level%d", name, level), func(b *testing.B) {
				r := flate.NewReader(bytes.NewReader(comp))
				out := make([]byte, len(in))
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				for b.Loop() {
					r.(flate.Resetter).Reset(bytes.NewReader(comp), nil)
					io.ReadFull(r, out)
				}
			})
		}
	}
}
