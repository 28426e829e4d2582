package deflate

import (
	"math/bits"
	"slices"
)

// This file builds dynamic Huffman blocks (RFC 1951 §3.2.7): codes
// fitted to a chunk's own symbol frequencies, which shrink text well below what the fixed
// codes give, at the cost of a header of 30 to 100 bytes per block.

const (
	maxCodeBits    = 15 // literal/length and distance codes
	maxCodeLenBits = 7  // the code-length code
)

// codeLengthOrder is the order code-length code lengths are sent in (§3.2.7).
var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// huffNode is a node of a Huffman tree under construction: a leaf (left < 0) or the
// parent of two earlier nodes.
type huffNode struct {
	freq        int
	left, right int32
	sym         int32
}

// huffScratch holds what building codes needs, reused from block to block.
type huffScratch struct {
	nodes          []huffNode
	leaves, merged []int32
	depth          []uint8
}

// lengths sets lengths[s] to the code length of symbol s for the given frequencies, none
// longer than maxBits: the lengths of a Huffman tree, with any too-long code shortened as
// zlib does (moving leaves up and fixing the Kraft sum). Symbols of frequency 0 get length
// 0. A single used symbol gets length 1, as a decoder needs a code of at least one bit.
func (h *huffScratch) lengths(freq []int, maxBits int, lengths []uint8) {
	clear(lengths)
	h.nodes = h.nodes[:0]
	h.leaves = h.leaves[:0]
	for s, f := range freq {
		if f > 0 {
			h.nodes = append(h.nodes, huffNode{freq: f, left: -1, right: -1, sym: int32(s)})
			h.leaves = append(h.leaves, int32(len(h.nodes)-1))
		}
	}
	switch len(h.leaves) {
	case 0:
		return
	case 1:
		lengths[h.nodes[0].sym] = 1
		return
	}
	nodes := h.nodes
	slices.SortStableFunc(h.leaves, func(a, b int32) int { return nodes[a].freq - nodes[b].freq })
	// Two-queue construction: leaves in frequency order, and merged nodes, which are made
	// in frequency order too.
	h.merged = h.merged[:0]
	li, mi := 0, 0
	pick := func() int32 {
		if li < len(h.leaves) && (mi >= len(h.merged) || h.nodes[h.leaves[li]].freq <= h.nodes[h.merged[mi]].freq) {
			li++
			return h.leaves[li-1]
		}
		mi++
		return h.merged[mi-1]
	}
	for len(h.leaves)-li+len(h.merged)-mi > 1 {
		a, b := pick(), pick()
		h.nodes = append(h.nodes, huffNode{freq: h.nodes[a].freq + h.nodes[b].freq, left: a, right: b, sym: -1})
		h.merged = append(h.merged, int32(len(h.nodes)-1))
	}
	// Depths, from the root down: a parent comes after its children in nodes.
	h.depth = slices.Grow(h.depth[:0], len(h.nodes))[:len(h.nodes)]
	h.depth[len(h.nodes)-1] = 0
	var count [maxCodeBits + 1]int
	overflow := 0
	for n := len(h.nodes) - 1; n >= 0; n-- {
		nd := h.nodes[n]
		if nd.left >= 0 {
			h.depth[nd.left] = h.depth[n] + 1
			h.depth[nd.right] = h.depth[n] + 1
			continue
		}
		d := int(h.depth[n])
		if d > maxBits {
			d = maxBits
			overflow++
		}
		count[d]++
	}
	// Fix the Kraft sum broken by clamping (zlib's gen_bitlen): move a leaf from a shorter
	// length down one level, which makes room for two, as long as codes overflow.
	for overflow > 0 {
		b := maxBits - 1
		for count[b] == 0 {
			b--
		}
		count[b]--
		count[b+1] += 2
		count[maxBits]--
		overflow -= 2
	}
	// Give the longest codes to the least frequent symbols (leaves is in frequency order).
	i := 0
	for l := maxBits; l >= 1; l-- {
		for range count[l] {
			lengths[h.nodes[h.leaves[i]].sym] = uint8(l)
			i++
		}
	}
}

// canonicalCodes sets codes to the canonical codes for code lengths (§3.2.2), bit-reversed
// for the LSB-first bit stream.
func canonicalCodes(lengths []uint8, codes []uint32) {
	var count [maxCodeBits + 2]int
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeBits + 2]int
	code := 0
	for l := 1; l <= maxCodeBits+1; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range lengths {
		codes[s] = 0
		if l != 0 {
			codes[s] = uint32(bits.Reverse16(uint16(next[l])) >> (16 - l))
			next[l]++
		}
	}
}

// dynamicBlock is a chunk's dynamic Huffman block: its codes and the encoded header. An
// Encoder keeps one and refits it for each chunk.
type dynamicBlock struct {
	litFreq   [286]int
	distFreq  [30]int
	clFreq    [19]int
	litLen    [286]uint8
	litCodes  [286]uint32
	distLen   [30]uint8
	distCodes [30]uint32
	clLen     [19]uint8
	clCodes   [19]uint32
	hlit      int
	hdist     int
	hclen     int
	all       []uint8 // both alphabets' code lengths, in a row
	rle       []uint8 // code-length symbols with their repeat counts after 16/17/18
	bits      int     // the whole block's size in bits, header and end of block included
	scratch   huffScratch
}

// count counts the symbols of tokens, for fixedBits and build.
func (d *dynamicBlock) count(tokens []token) {
	clear(d.litFreq[:])
	clear(d.distFreq[:])
	for _, t := range tokens {
		if t.length == 0 {
			d.litFreq[t.value]++
			continue
		}
		d.litFreq[257+lengthCode(int(t.length))]++
		d.distFreq[distCode(int(t.value))]++
	}
}

// fixedBits is the size of the counted symbols in a fixed-Huffman block, without its
// header and end of block.
func (d *dynamicBlock) fixedBits() int {
	n := 0
	for s, f := range d.litFreq[:endOfBlock] {
		n += f * int(fixedLitLen[s])
	}
	for lc, f := range d.litFreq[endOfBlock+1:] {
		n += f * (int(fixedLitLen[endOfBlock+1+lc]) + int(lengthExtra[lc]))
	}
	for dc, f := range d.distFreq {
		n += f * (5 + int(distExtra[dc]))
	}
	return n
}

// build fits codes to the counted symbols and computes the block's size, header and end
// of block included.
func (d *dynamicBlock) build() {
	clear(d.clFreq[:])
	d.litFreq[endOfBlock] = 1
	d.scratch.lengths(d.litFreq[:], maxCodeBits, d.litLen[:])
	d.scratch.lengths(d.distFreq[:], maxCodeBits, d.distLen[:])
	// HLIT counts at least 257 codes, HDIST at least one (a block with no matches sends
	// one distance code length of 0, §3.2.7).
	d.hlit = 257
	for s := 285; s >= 257; s-- {
		if d.litLen[s] != 0 {
			d.hlit = s + 1
			break
		}
	}
	d.hdist = 1
	for s := 29; s >= 1; s-- {
		if d.distLen[s] != 0 {
			d.hdist = s + 1
			break
		}
	}
	canonicalCodes(d.litLen[:], d.litCodes[:])
	canonicalCodes(d.distLen[:], d.distCodes[:])

	// Run-length encode the code lengths of both alphabets, as one sequence (§3.2.7).
	d.all = append(append(d.all[:0], d.litLen[:d.hlit]...), d.distLen[:d.hdist]...)
	d.rle = d.rle[:0]
	all := d.all
	for i := 0; i < len(all); {
		l := all[i]
		run := 1
		for i+run < len(all) && all[i+run] == l {
			run++
		}
		switch {
		case l == 0 && run >= 11:
			n := min(run, 138)
			d.rle = append(d.rle, 18, uint8(n-11))
			d.clFreq[18]++
			i += n
		case l == 0 && run >= 3:
			n := min(run, 10)
			d.rle = append(d.rle, 17, uint8(n-3))
			d.clFreq[17]++
			i += n
		case l != 0 && run >= 4:
			// The length once, then repeats of it, 3 to 6 at a time.
			d.rle = append(d.rle, l)
			d.clFreq[l]++
			n := min(run-1, 6)
			d.rle = append(d.rle, 16, uint8(n-3))
			d.clFreq[16]++
			i += 1 + n
		default:
			d.rle = append(d.rle, l)
			d.clFreq[l]++
			i++
		}
	}
	d.scratch.lengths(d.clFreq[:], maxCodeLenBits, d.clLen[:])
	canonicalCodes(d.clLen[:], d.clCodes[:])
	d.hclen = 4
	for i := 18; i >= 4; i-- {
		if d.clLen[codeLengthOrder[i]] != 0 {
			d.hclen = i + 1
			break
		}
	}

	// Size: header, code-length codes, RLE'd lengths, the tokens, end of block.
	n := 3 + 5 + 5 + 4 + 3*d.hclen
	for i := 0; i < len(d.rle); i++ {
		sym := d.rle[i]
		n += int(d.clLen[sym])
		switch sym {
		case 16:
			n += 2
			i++
		case 17:
			n += 3
			i++
		case 18:
			n += 7
			i++
		}
	}
	for s, f := range d.litFreq[:endOfBlock] {
		n += f * int(d.litLen[s])
	}
	for lc, f := range d.litFreq[endOfBlock+1:] {
		n += f * (int(d.litLen[endOfBlock+1+lc]) + int(lengthExtra[lc]))
	}
	for dc, f := range d.distFreq {
		n += f * (int(d.distLen[dc]) + int(distExtra[dc]))
	}
	d.litFreq[endOfBlock] = 0 // for fixedBits, which counts no end of block
	d.bits = n + int(d.litLen[endOfBlock])
}

// write writes the whole block, not final, with its end-of-block code.
func (d *dynamicBlock) write(e *Encoder, dst []byte, tokens []token) []byte {
	bw := &e.bw
	bw.writeBits(2<<1, 3) // BFINAL 0, BTYPE 10
	bw.writeBits(uint32(d.hlit-257), 5)
	bw.writeBits(uint32(d.hdist-1), 5)
	bw.writeBits(uint32(d.hclen-4), 4)
	dst = bw.flushBytes(dst) // the 64-bit accumulator holds less than the whole header
	for i := 0; i < d.hclen; i++ {
		bw.writeBits(uint32(d.clLen[codeLengthOrder[i]]), 3)
		dst = bw.flushBytes(dst)
	}
	for i := 0; i < len(d.rle); i++ {
		sym := d.rle[i]
		bw.writeBits(d.clCodes[sym], d.clLen[sym])
		switch sym {
		case 16:
			i++
			bw.writeBits(uint32(d.rle[i]), 2)
		case 17:
			i++
			bw.writeBits(uint32(d.rle[i]), 3)
		case 18:
			i++
			bw.writeBits(uint32(d.rle[i]), 7)
		}
		if bw.n >= 32 {
			dst = bw.flushBytes(dst)
		}
	}
	dst = e.writeTokens(dst, tokens, d.litCodes[:], d.litLen[:], d.distCodes[:], d.distLen[:])
	bw.writeBits(d.litCodes[endOfBlock], d.litLen[endOfBlock])
	return bw.flushBytes(dst)
}
