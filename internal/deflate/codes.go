package deflate

import "math/bits"

const endOfBlock = 256

// The fixed Huffman codes of RFC 1951 §3.2.6, bit-reversed for an LSB-first bit stream,
// and their lengths.
var (
	fixedLitCode, fixedLitLen = fixedLitCodes()
	fixedDistCode             = fixedDistCodes()
	// The same, in the form writeTokens takes.
	fixedDistCode32, fixedDistLen = func() (code [30]uint32, length [30]uint8) {
		for d := range 30 {
			code[d], length[d] = uint32(fixedDistCode[d]), 5
		}
		return code, length
	}()
)

// fixedLitEntry and fixedLenEntry are the fixed codes as writeFixed writes them: the bits
// (for a match length, its code's and then its extra bits) in the low 24 bits, their count
// in the top 8.
var (
	fixedLitEntry = func() (t [256]uint32) {
		for c := range 256 {
			t[c] = fixedLitCode[c] | uint32(fixedLitLen[c])<<24
		}
		return t
	}()
	fixedLenEntry = func() (t [maxMatch + 1]uint32) {
		for n := minMatch; n <= maxMatch; n++ {
			lc := lengthCodes[n]
			nb := uint32(fixedLitLen[endOfBlock+1+int(lc)])
			v := fixedLitCode[endOfBlock+1+int(lc)] | uint32(n-int(lengthBase[lc]))<<nb
			t[n] = v | (nb+uint32(lengthExtra[lc]))<<24
		}
		return t
	}()
)

func fixedLitCodes() (code [288]uint32, length [288]uint8) {
	for v := range 288 {
		var c, n int
		switch {
		case v < 144:
			c, n = 0x30+v, 8
		case v < 256:
			c, n = 0x190+v-144, 9
		case v < 280:
			c, n = v-256, 7
		default:
			c, n = 0xC0+v-280, 8
		}
		code[v] = uint32(bits.Reverse16(uint16(c)) >> (16 - n))
		length[v] = uint8(n)
	}
	return code, length
}

func fixedDistCodes() (code [30]uint8) {
	for d := range 30 {
		code[d] = bits.Reverse8(uint8(d)) >> 3
	}
	return code
}

// Length codes 257..285 (here 0..28): base lengths and extra bits (RFC 1951 §3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// lengthCodes maps a match length in [3, 258] to the index of its length code.
var lengthCodes = func() (t [maxMatch + 1]uint8) {
	c := 0
	for n := 3; n <= maxMatch; n++ {
		for c < 28 && int(lengthBase[c+1]) <= n {
			c++
		}
		t[n] = uint8(c)
	}
	return t
}()

// lengthCode returns the index of the length code for a match length in [3, 258].
func lengthCode(n int) int { return int(lengthCodes[n]) }

// distCode returns the distance code for a distance in [1, 32768].
func distCode(d int) int {
	if d <= 4 {
		return d - 1
	}
	// Codes come in pairs per power of two: 2*(log2(d-1)) plus the next bit.
	l := bits.Len(uint(d-1)) - 1
	return 2*l + int((d-1)>>(l-1)&1)
}

// bitWriter packs bits LSB first, as DEFLATE orders them (RFC 1951 §3.1.1). It holds at
// most 64 bits: writers call flushBytes before that many accumulate.
type bitWriter struct {
	bits uint64
	n    uint
}

func (w *bitWriter) reset() { *w = bitWriter{} }

func (w *bitWriter) writeBits(v uint32, n uint8) {
	w.bits |= uint64(v) << w.n
	w.n += uint(n)
}

// align pads to a byte boundary with zero bits.
func (w *bitWriter) align() { w.n = (w.n + 7) &^ 7 }

// flushBytes appends the complete bytes held and keeps the rest.
func (w *bitWriter) flushBytes(dst []byte) []byte {
	for w.n >= 8 {
		dst = append(dst, byte(w.bits))
		w.bits >>= 8
		w.n -= 8
	}
	return dst
}
