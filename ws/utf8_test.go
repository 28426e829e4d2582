package ws

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// These are unit tests of utf8Validator, the incremental UTF-8 check behind RFC 6455 §8.1.
// The conformance tests that drive it through a connection (Autobahn section 6) are in
// conformance_utf8_test.go.

// byteRange is an inclusive range of byte values.
type byteRange struct{ lo, hi byte }

func (r byteRange) has(c byte) bool { return r.lo <= c && c <= r.hi }

// rfc3629Forms transcribes the UTF8-char rule of RFC 3629 §4, one form per alternative:
//
//	UTF8-1 = %x00-7F
//	UTF8-2 = %xC2-DF UTF8-tail
//	UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
//	         %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
//	UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
//	         %xF4 %x80-8F 2( UTF8-tail )
//	UTF8-tail = %x80-BF
//
// It is the reference the validator is compared with, written independently of it.
var rfc3629Forms = func() [][]byteRange {
	tail := byteRange{0x80, 0xBF}
	return [][]byteRange{
		{{0x00, 0x7F}},
		{{0xC2, 0xDF}, tail},
		{{0xE0, 0xE0}, {0xA0, 0xBF}, tail},
		{{0xE1, 0xEC}, tail, tail},
		{{0xED, 0xED}, {0x80, 0x9F}, tail},
		{{0xEE, 0xEF}, tail, tail},
		{{0xF0, 0xF0}, {0x90, 0xBF}, tail, tail},
		{{0xF1, 0xF3}, tail, tail, tail},
		{{0xF4, 0xF4}, {0x80, 0x8F}, tail, tail},
	}
}()

// rfc3629Lead maps each byte to the form it begins, if any.
var rfc3629Lead = func() (lead [256][]byteRange) {
	for c := range 256 {
		for _, f := range rfc3629Forms {
			if f[0].has(byte(c)) {
				lead[c] = f
				break
			}
		}
	}
	return lead
}()

// refFirstBad returns the index of the first byte of b at which b stops being a prefix of
// any valid UTF-8 string, or -1 if there is none; complete reports whether b, having no
// such byte, also ends at a character boundary.
func refFirstBad(b []byte) (bad int, complete bool) {
	for i := 0; i < len(b); {
		form := rfc3629Lead[b[i]]
		if form == nil {
			return i, false
		}
		for k := 1; k < len(form); k++ {
			if i+k == len(b) {
				return -1, false
			}
			if !form[k].has(b[i+k]) {
				return i + k, false
			}
		}
		i += len(form)
	}
	return -1, true
}

// checkPieces writes b to a fresh validator in the given pieces and checks it against the
// reference: the write that fails must be the one holding the first invalid byte, every
// write after it must fail too, and a validator that never failed must be complete exactly
// when b is valid UTF-8. cuts are the piece boundaries, ascending, within [0, len(b)].
func checkPieces(t *testing.T, b []byte, cuts []int) {
	t.Helper()
	bad, complete := reference(t, b)
	checkPiecesRef(t, b, cuts, bad, complete)
}

// reference returns refFirstBad(b), having checked that it agrees with utf8.Valid.
func reference(t *testing.T, b []byte) (bad int, complete bool) {
	bad, complete = refFirstBad(b)
	if valid := utf8.Valid(b); valid != (bad < 0 && complete) {
		t.Fatalf("% x: reference disagrees with utf8.Valid (%v): bad=%d complete=%v", b, valid, bad, complete)
	}
	return bad, complete
}

// checkPiecesRef is checkPieces with the reference's verdict already known.
func checkPiecesRef(t *testing.T, b []byte, cuts []int, bad int, complete bool) {
	var v utf8Validator
	failed := false
	start := 0
	for i := 0; i <= len(cuts); i++ {
		end := len(b)
		if i < len(cuts) {
			end = cuts[i]
		}
		ok := v.write(b[start:end])
		wantOK := bad < 0 || bad >= end
		if ok != wantOK {
			t.Fatalf("% x in pieces ending at %v: write of [%d:%d] returned %v, want %v (first invalid byte at %d)", b, cuts, start, end, ok, wantOK, bad)
		}
		failed = !ok
		start = end
	}
	if !failed && v.complete() != complete {
		t.Fatalf("% x in pieces ending at %v: complete() = %v, want %v", b, cuts, v.complete(), complete)
	}
	if failed {
		if v.write([]byte("a")) {
			t.Fatalf("% x: validator accepted more bytes after failing", b)
		}
		if v.complete() {
			t.Fatalf("% x: failed validator reports complete", b)
		}
	}
}

// TestUTF8ValidatorReference checks the reference itself on RFC 3629 §7 examples and the
// Autobahn 6.4.1 payload.
func TestUTF8ValidatorReference(t *testing.T) {
	for _, tc := range []struct {
		in       string
		bad      int
		complete bool
	}{
		{"\x41\xE2\x89\xA2\xCE\x91\x2E", -1, true}, // RFC 3629 §7: "A<NOT IDENTICAL TO><ALPHA>."
		{"\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4", -1, true},
		{"\xEF\xBB\xBF\xF0\xA3\x8E\xB4", -1, true},
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64", 12, false}, // Autobahn 6.4.1: fails on byte 12 (0x90)
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", 12, false},     // Autobahn 7.5.1 reason: fails on 0xA0
		{"\xe1\xbd", -1, false},
		{"\xc0\x80", 0, false},
		{"\xf0\x80\x80\x80", 1, false},
		{"\xed\xa0\x80", 1, false},
		{"\xf4\x90\x80\x80", 1, false},
		{"\xf7\xbf\xbf\xbf", 0, false},
		{"\x80", 0, false},
	} {
		bad, complete := refFirstBad([]byte(tc.in))
		if bad != tc.bad || complete != tc.complete {
			t.Errorf("refFirstBad(% x) = %d, %v; want %d, %v", tc.in, bad, complete, tc.bad, tc.complete)
		}
	}
}

// TestUTF8ValidatorExhaustive compares the validator with the reference and utf8.Valid on
// every sequence of one, two and three bytes, written whole, in every split into two
// pieces, and a byte at a time (RFC 6455 §8.1 fail-fast, Autobahn 6.3, 6.4).
func TestUTF8ValidatorExhaustive(t *testing.T) {
	var b [3]byte
	for c0 := range 256 {
		b[0] = byte(c0)
		checkPieces(t, b[:1], nil)
		for c1 := range 256 {
			b[1] = byte(c1)
			checkPieces(t, b[:2], nil)
			checkPieces(t, b[:2], []int{1})
		}
	}
	// Three bytes: 16M sequences, in two halves that run in parallel. The expected outcome
	// of each write follows from the reference; the validator's own state after the first
	// two bytes is reused so that the byte-at-a-time writes cost one step each.
	for half := range 2 {
		t.Run(fmt.Sprint("three-bytes-", half), func(t *testing.T) {
			t.Parallel()
			checkThreeBytes(t, half*128, half*128+128)
		})
	}
}

// checkThreeBytes checks every three-byte sequence whose first byte is in [from, to).
func checkThreeBytes(t *testing.T, from, to int) {
	var b [3]byte
	for c0 := from; c0 < to; c0++ {
		for c1 := range 256 {
			b[0], b[1] = byte(c0), byte(c1)
			var v0 utf8Validator
			ok0 := v0.write(b[:1])
			v01 := v0
			ok01 := ok0 && v01.write(b[1:2])
			v2 := utf8Validator{}
			ok2 := v2.write(b[:2]) // pieces [0:2] + [2:3]
			for c2 := range 256 {
				b[2] = byte(c2)
				bad, complete := refFirstBad(b[:])
				valid := bad < 0 && complete
				if utf8.Valid(b[:]) != valid {
					t.Fatalf("% x: reference %d %v disagrees with utf8.Valid", b, bad, complete)
				}
				// Whole.
				var w utf8Validator
				if ok := w.write(b[:]); ok != (bad < 0) || ok && w.complete() != complete {
					t.Fatalf("% x written whole: write %v complete %v; want first invalid byte %d, complete %v", b, ok, w.complete(), bad, complete)
				}
				// A byte at a time, and [0:1] + [1:3].
				if ok0 != (bad < 0 || bad >= 1) || ok01 != (bad < 0 || bad >= 2) {
					t.Fatalf("% x byte by byte: writes returned %v %v, first invalid byte %d", b, ok0, ok01, bad)
				}
				v := v01
				if ok := ok01 && v.write(b[2:3]); ok != (bad < 0) || ok && v.complete() != complete {
					t.Fatalf("% x byte by byte: last write %v complete %v; want first invalid byte %d, complete %v", b, ok, v.complete(), bad, complete)
				}
				v = v0
				if ok := ok0 && v.write(b[1:3]); ok != (bad < 0) || ok && v.complete() != complete {
					t.Fatalf("% x as [0:1]+[1:3]: %v %v; want first invalid byte %d, complete %v", b, ok, v.complete(), bad, complete)
				}
				v = v2
				if ok2 != (bad < 0 || bad >= 2) {
					t.Fatalf("% x as [0:2]+[2:3]: first write %v; first invalid byte %d", b, ok2, bad)
				}
				if ok := ok2 && v.write(b[2:3]); ok != (bad < 0) || ok && v.complete() != complete {
					t.Fatalf("% x as [0:2]+[2:3]: %v %v; want first invalid byte %d, complete %v", b, ok, v.complete(), bad, complete)
				}
			}
		}
	}
}

// interestingBytes are the byte values at the edges of the ranges of RFC 3629 §4.
var interestingBytes = []byte{
	0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
	0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF,
}

// TestUTF8ValidatorFourBytes checks every four-byte sequence of interesting bytes, in every
// way of cutting it into pieces.
func TestUTF8ValidatorFourBytes(t *testing.T) {
	var b [4]byte
	for _, c0 := range interestingBytes {
		for _, c1 := range interestingBytes {
			for _, c2 := range interestingBytes {
				for _, c3 := range interestingBytes {
					b = [4]byte{c0, c1, c2, c3}
					bad, complete := reference(t, b[:])
					for _, cuts := range fourByteSplits {
						checkPiecesRef(t, b[:], cuts, bad, complete)
					}
				}
			}
		}
	}
}

// TestUTF8ValidatorRandomFourBytes checks uniformly random four-byte sequences, in every
// way of cutting them into pieces.
func TestUTF8ValidatorRandomFourBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	var b [4]byte
	for range 100000 {
		v := r.Uint32()
		b = [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
		// Bias towards valid lead bytes, so that the later bytes matter.
		if r.IntN(2) == 0 {
			b[0] = 0xC2 + byte(r.IntN(0xF5-0xC2))
		}
		bad, complete := reference(t, b[:])
		for _, cuts := range fourByteSplits {
			checkPiecesRef(t, b[:], cuts, bad, complete)
		}
	}
}

// fourByteSplits are the 8 ways to cut four bytes: the subsets of the 3 inner boundaries.
var fourByteSplits = func() [][]int {
	var splits [][]int
	for mask := range 8 {
		cuts := []int{}
		for k := 1; k <= 3; k++ {
			if mask&(1<<(k-1)) != 0 {
				cuts = append(cuts, k)
			}
		}
		splits = append(splits, cuts)
	}
	return splits
}()

// randomText returns text made mostly of valid characters from every length class,
// sometimes with a byte replaced, dropped or inserted.
func randomText(r *rand.Rand) []byte {
	var b []byte
	n := r.IntN(40)
	for range n {
		var c rune
		switch r.IntN(5) {
		case 0:
			c = rune(r.IntN(0x80))
		case 1:
			c = rune(0x80 + r.IntN(0x800-0x80))
		case 2:
			c = rune(0x800 + r.IntN(0x10000-0x800))
			if 0xD800 <= c && c <= 0xDFFF {
				c = 0xFFFD
			}
		default:
			c = rune(0x10000 + r.IntN(0x110000-0x10000))
		}
		b = utf8.AppendRune(b, c)
	}
	if len(b) > 0 {
		switch r.IntN(4) {
		case 0:
			b[r.IntN(len(b))] = interestingBytes[r.IntN(len(interestingBytes))]
		case 1:
			i := r.IntN(len(b))
			b = append(b[:i], b[i+1:]...)
		case 2:
			i := r.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{interestingBytes[r.IntN(len(interestingBytes))]}, b[i:]...)...)
		}
	}
	return b
}

// TestUTF8ValidatorRandom checks random text, valid and not, written whole, in every split
// into two pieces, a byte at a time and in random pieces.
func TestUTF8ValidatorRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(6455, 3629))
	var one [1]int
	for range 3000 {
		b := randomText(r)
		bad, complete := reference(t, b)
		checkPiecesRef(t, b, nil, bad, complete)
		for k := 0; k <= len(b); k++ {
			one[0] = k
			checkPiecesRef(t, b, one[:], bad, complete)
		}
		every := make([]int, 0, len(b))
		for k := 1; k < len(b); k++ {
			every = append(every, k)
		}
		checkPiecesRef(t, b, every, bad, complete)
		var cuts []int
		for k := 1; k < len(b); k++ {
			if r.IntN(3) == 0 {
				cuts = append(cuts, k)
			}
		}
		checkPiecesRef(t, b, cuts, bad, complete)
	}
}

// TestUTF8ValidatorLong checks long valid text, which the validator hands to utf8.Valid in
// bulk, with one bad byte placed at every position of interest, in pieces of many sizes.
func TestUTF8ValidatorLong(t *testing.T) {
	var text []byte
	for _, s := range []string{"Hello-µ@ßöäüàá-UTF-8!!", "κόσμε", "\U0010FFFF\uFFFD\U00010000\u0800\u0080"} {
		text = append(text, s...)
	}
	for len(text) < 3000 {
		text = append(text, text...)
	}
	for _, piece := range []int{1, 2, 3, 5, 7, 64, 511, 4096} {
		cuts := func(n int) []int {
			var c []int
			for k := piece; k < n; k += piece {
				c = append(c, k)
			}
			return c
		}
		t.Run(fmt.Sprint("piece=", piece), func(t *testing.T) {
			checkPieces(t, text, cuts(len(text)))
			for _, pos := range []int{0, 1, 2, 3, 100, 1000, 2047, 2048, 2049, len(text) - 1} {
				for _, bad := range []byte{0x80, 0xC0, 0xED, 0xF4, 0xFF} {
					b := append([]byte(nil), text...)
					b[pos] = bad
					checkPieces(t, b, cuts(len(b)))
				}
				// Cut short: the text ends inside a sequence.
				checkPieces(t, text[:pos+1], cuts(pos+1))
			}
		})
	}
}

// TestUTF8ValidatorReset checks that reset makes a failed or incomplete validator new.
func TestUTF8ValidatorReset(t *testing.T) {
	var v utf8Validator
	if !v.complete() {
		t.Fatal("zero value is not at a sequence boundary")
	}
	if v.write([]byte{0xFF}) {
		t.Fatal("0xFF accepted")
	}
	v.reset()
	if !v.write([]byte{0xE2, 0x82}) || v.complete() {
		t.Fatal("incomplete sequence after reset")
	}
	v.reset()
	if !v.write([]byte("€")) || !v.complete() {
		t.Fatal("valid text after reset")
	}
	if !v.write(nil) || !v.complete() {
		t.Fatal("empty write changed the state")
	}
}
