// Package deflate is a DEFLATE (RFC 1951) compressor and decompressor made for
// permessage-deflate (RFC 7692). The compressor's sliding window is exactly the negotiated size, from 256 bytes (8 window bits) to
// 32 KiB (15), so it never references data the peer's decompressor has let go of; its
// state is small, and sized by that window; and it ends each message with the sync flush
// that RFC 7692 §7.2.1 builds on.
//
// The standard library's compress/flate always uses a 32 KiB window and about a megabyte
// of state per writer, which rules it out for small windows and for per-connection
// context takeover. Decompression needs no such care (compress/flate reads any window),
// but gains from having the whole message at hand: Inflate decodes a stream held in
// memory, eight bytes a refill, at 1.5 to 2 times compress/flate's speed; ws uses it for
// messages it reads whole, and compress/flate for those it streams.
//
// The encoder is an LZ77 matcher over a hash table of 4-byte sequences. Each chunk (at
// most a window) becomes the smallest of a fixed-Huffman block (RFC 1951 §3.2.6), a
// dynamic Huffman block fitted to it (§3.2.7; at the fast levels, for chunks of 2 KiB or
// more) and a stored block, for data that does not compress.
package deflate

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

const (
	// MinWindowBits and MaxWindowBits bound the window sizes permessage-deflate
	// negotiates (RFC 7692 §7.1.2).
	MinWindowBits = 8
	MaxWindowBits = 15

	minMatch      = 4 // the matcher hashes 4 bytes; DEFLATE allows 3
	maxMatch      = 258
	maxStoredSize = 65535
	maxTableBits  = 13
	// maxOffset bounds the positions the table records, relative to base; past it the
	// table is cleared and positions start again, long before int32 overflows.
	maxOffset = 1 << 30
)

// Encoder compresses the messages of one direction of a connection. A message is any
// number of Write calls followed by Flush. Without context takeover, call Reset after
// each message (or take a fresh Encoder from a pool); with it, the window carries over.
//
// An Encoder holds up to two windows of input (the window a chunk may refer to, and the
// chunk, which is at most a window long) and a hash table of a window's size: 96 KiB in
// all for a 32 KiB window, 768 bytes for a 256-byte one, allocated once.
type Encoder struct {
	window int // bytes a match may reach back
	// hist holds the input of which the window is the tail. Positions in the hash table
	// are indexes into hist plus base.
	hist      []byte
	base      int32
	table     []int32 // a position+1 per 4-byte hash, 0 for none
	hashShift uint32
	thorough  bool          // try every position, with lazy matching (levels 4 to 9)
	dyn       *dynamicBlock // the thorough levels' dynamic Huffman block, refitted per chunk

	bw        bitWriter
	inBlock   bool // a fixed-Huffman block is open
	blockBits int  // bits written since the block opened (for the stored comparison)
	tokens    []token
}

// NewEncoder returns an Encoder whose matches reach back at most 1<<windowBits bytes, at
// the fast level. windowBits outside [MinWindowBits, MaxWindowBits] is clamped to that
// range.
func NewEncoder(windowBits int) *Encoder { return NewEncoderLevel(windowBits, 1) }

// NewEncoderLevel is NewEncoder with a compression level from 1 to 9, as compress/flate
// numbers them. Levels 1 to 3 skip quickly over data that does not match, and fit Huffman
// codes to chunks of 2 KiB or more (RFC 1951 §3.2.7); shorter ones use the fixed codes.
// Levels 4 to 9 try every position, look one byte ahead for a longer match (lazy matching)
// and fit codes to every chunk: at about a third of the speed, text comes out about a tenth
// smaller under 2 KiB, a few percent above. Other levels are clamped to that range.
func NewEncoderLevel(windowBits, level int) *Encoder {
	windowBits = min(max(windowBits, MinWindowBits), MaxWindowBits)
	tableBits := min(windowBits-2, maxTableBits)
	return &Encoder{
		thorough:  level >= 4,
		window:    1 << windowBits,
		base:      1,
		table:     make([]int32, 1<<tableBits),
		hashShift: uint32(32 - tableBits),
	}
}

// Level returns the encoder's level: 1 (fast) or 9 (thorough); levels in between behave as
// the one on their side of 4.
func (e *Encoder) Level() int {
	if e.thorough {
		return 9
	}
	return 1
}

// WindowBits returns the base-2 logarithm of the window.
func (e *Encoder) WindowBits() int { return bits.Len(uint(e.window)) - 1 }

// Reset forgets the window, as permessage-deflate without context takeover does at every
// message's end. Clearing the table is avoided: positions recorded before the reset fall
// below the new base and are ignored.
func (e *Encoder) Reset() {
	e.advanceBase(len(e.hist))
	e.hist = e.hist[:0]
	e.bw.reset()
	e.inBlock = false
}

// advanceBase moves the table's origin past n bytes being dropped from hist.
func (e *Encoder) advanceBase(n int) {
	if int(e.base)+n+maxMatch+e.window >= maxOffset {
		clear(e.table)
		e.base = 1
		return
	}
	e.base += int32(n)
}

// Write compresses p and appends the complete bytes produced to dst; a few bits may be
// held back until the next Write or Flush.
func (e *Encoder) Write(dst, p []byte) []byte {
	for len(p) > 0 {
		// Compress in chunks of at most a window, so that hist never outgrows two
		// windows and a chunk that does not compress fits one stored block.
		chunk := p[:min(len(p), e.window)]
		p = p[len(chunk):]
		dst = e.writeChunk(dst, chunk)
	}
	return dst
}

func (e *Encoder) writeChunk(dst, p []byte) []byte {
	if e.hist == nil {
		e.hist = make([]byte, 0, 2*e.window)
	}
	// Keep only the window of history before the new input.
	if drop := len(e.hist) - e.window; drop > 0 {
		e.shiftTable(drop)
		e.hist = append(e.hist[:0], e.hist[drop:]...)
	}
	start := len(e.hist)
	e.hist = append(e.hist, p...)
	if e.dyn == nil {
		e.dyn = new(dynamicBlock)
	}
	if !e.thorough && len(p) < minDynamicChunk {
		if out, ok := e.writeFixed(dst, start); ok {
			return out
		}
		return e.writeStored(dst, p)
	}
	dyn := e.dyn
	if e.thorough {
		e.tokens = e.match(e.tokens[:0], start)
		dyn.count(e.tokens)
	} else {
		e.tokens = e.matchFast(e.tokens[:0], start) // counts as it goes
	}

	// The smallest of a fixed-Huffman block (RFC 1951 §3.2.6), a dynamic one fitted to
	// this chunk (§3.2.7) and a stored block (§3.2.4). Chunks too short for a dynamic
	// block's header to pay are not fitted.
	fixedBits := dyn.fixedBits()
	storedBits := (len(p) + 5) * 8
	if !e.inBlock {
		fixedBits += 3
	}
	if len(e.tokens) > 0 && (e.thorough || len(p) >= minDynamicChunk) {
		if dyn.build(); dyn.bits < fixedBits && dyn.bits < storedBits {
			if e.inBlock {
				e.bw.writeBits(fixedLitCode[endOfBlock], fixedLitLen[endOfBlock])
				e.inBlock = false
			}
			return dyn.write(e, dst, e.tokens)
		}
	}
	if fixedBits > storedBits {
		return e.writeStored(dst, p)
	}
	if !e.inBlock {
		e.bw.writeBits(1<<1, 3) // BFINAL 0, BTYPE 01
		e.inBlock = true
	}
	return e.writeTokens(dst, e.tokens, fixedLitCode[:], fixedLitLen[:], fixedDistCode32[:], fixedDistLen[:])
}

// writeStored writes p as a stored block (RFC 1951 §3.2.4), closing the open fixed block
// first.
func (e *Encoder) writeStored(dst, p []byte) []byte {
	if e.inBlock {
		e.bw.writeBits(fixedLitCode[endOfBlock], fixedLitLen[endOfBlock])
		e.inBlock = false
	}
	e.bw.writeBits(0, 3) // BFINAL 0, BTYPE 00
	e.bw.align()
	var h [4]byte
	binary.LittleEndian.PutUint16(h[0:], uint16(len(p)))
	binary.LittleEndian.PutUint16(h[2:], ^uint16(len(p)))
	dst = e.bw.flushBytes(dst)
	dst = append(dst, h[:]...)
	return append(dst, p...)
}

// writeFixed is the fast level for a chunk too short for a dynamic block, hist[start:]: it
// matches as matchFast does, but writes each literal and match in the fixed codes (RFC 1951
// §3.2.6) as it finds it, with no tokens to keep or symbols to count, into the open fixed
// block or a new one. It reports false, having written nothing but the complete bytes
// held, if the chunk came out larger than a stored block would be.
//
// Its search is matchFast's, written out in each: as a function, called once per match,
// it cost matchFast 8% at 64 KiB of text, spilling the caller's registers every call.
//
// Every symbol's bits are stored eight bytes at a time at the end of dst, whose capacity
// it first grows by what a stored block would take and 18 bytes: it gives up as soon as
// the output passes the stored block's size.
func (e *Encoder) writeFixed(dst []byte, start int) ([]byte, bool) {
	src := e.hist
	end := len(src)
	dst = e.bw.flushBytes(dst)
	// A stored block would take the chunk and 5 bytes: past that, give up. Between checks
	// at most 36 bits are added (four literals), and a store writes eight bytes.
	lim := len(dst) + end - start + 5
	dst = slices.Grow(dst, end-start+5+5+8)
	buf := dst[:cap(dst)]
	o := len(dst)
	b, n := e.bw.bits, e.bw.n // e.bw keeps them, for a stored block instead
	if !e.inBlock {
		b |= 1 << 1 << n // BFINAL 0, BTYPE 01
		n += 3
	}
	table, shift, base, window := e.table, e.hashShift, e.base, e.window
	lit := start
	limit := end - minMatch + 1
	i := start
	skip := 32
	for i < limit {
		v := binary.LittleEndian.Uint32(src[i:])
		h := v * 0x1e35a7bd >> shift
		cand := int(table[h]) - 1 - int(base)
		table[h] = int32(i) + base + 1
		if cand < 0 || cand >= i || i-cand > window || binary.LittleEndian.Uint32(src[cand:]) != v {
			i += skip >> 5
			skip++
			continue
		}
		m := matchLen(src, cand, i, min(maxMatch, end-i))
		if o, b, n = putLiterals(buf, o, b, n, src[lit:i], lim); o > lim {
			return dst, false
		}
		x := fixedLenEntry[m]
		b |= uint64(x&0xffffff) << n
		n += uint(x >> 24)
		dist := i - cand
		dc := distCode(dist)
		b |= uint64(uint32(fixedDistCode[dc])|uint32(dist-int(distBase[dc]))<<5) << n
		n += 5 + uint(distExtra[dc])
		binary.LittleEndian.PutUint64(buf[o:], b)
		k := n >> 3
		o += int(k)
		b >>= k << 3
		n &= 7
		if o > lim {
			return dst, false
		}
		// Index the match's last position, for later matches.
		if p := i + m - 1; p < limit {
			table[binary.LittleEndian.Uint32(src[p:])*0x1e35a7bd>>shift] = int32(p) + base + 1
		}
		i += m
		lit = i
		skip = 32
	}
	o, b, n = putLiterals(buf, o, b, n, src[lit:end], lim)
	if fixedBits := (o-len(dst))*8 + int(n) - int(e.bw.n); fixedBits > (end-start+5)*8 {
		return dst, false
	}
	e.bw.bits, e.bw.n = b, n
	e.inBlock = true
	return buf[:o], true
}

// putLiterals writes lits in the fixed codes after the n bits b holds, storing complete
// bytes eight at a time at buf[o:], and returns the new o, b and n (n < 8); it stops early
// once o is past lim. It joins four literals' codes (at most 36 bits) before adding them to
// b, so that only every fourth waits for the one before.
func putLiterals(buf []byte, o int, b uint64, n uint, lits []byte, lim int) (int, uint64, uint) {
	for ; len(lits) >= 4 && o <= lim; lits = lits[4:] {
		x0, x1, x2, x3 := fixedLitEntry[lits[0]], fixedLitEntry[lits[1]], fixedLitEntry[lits[2]], fixedLitEntry[lits[3]]
		n0, n1, n2 := x0>>24, x1>>24, x2>>24
		c := uint64(x0&0xffffff) | uint64(x1&0xffffff)<<n0 | uint64(x2&0xffffff)<<(n0+n1) | uint64(x3&0xffffff)<<(n0+n1+n2)
		b |= c << n
		n += uint(n0 + n1 + n2 + x3>>24)
		binary.LittleEndian.PutUint64(buf[o:], b)
		k := n >> 3
		o += int(k)
		b >>= k << 3
		n &= 7
	}
	for _, c := range lits {
		if o > lim {
			break
		}
		x := fixedLitEntry[c]
		b |= uint64(x&0xffffff) << n
		n += uint(x >> 24)
		binary.LittleEndian.PutUint64(buf[o:], b)
		k := n >> 3
		o += int(k)
		b >>= k << 3
		n &= 7
	}
	return o, b, n
}

// matchLen returns how many bytes, from minMatch up to most, src[i:] repeats of src[cand:],
// whose first minMatch bytes are known to match; it compares eight bytes at a time.
func matchLen(src []byte, cand, i, most int) int {
	n := minMatch
	for n+8 <= most {
		if x := binary.LittleEndian.Uint64(src[i+n:]) ^ binary.LittleEndian.Uint64(src[cand+n:]); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < most && src[cand+n] == src[i+n] {
		n++
	}
	return n
}

// minDynamicChunk is the shortest chunk the fast levels fit a dynamic Huffman block to:
// below it, the block's header (30 to 100 bytes) and the time to build its codes outweigh
// what it saves.
const minDynamicChunk = 2048

// writeTokens writes tokens with the given codes and appends the complete bytes to dst.
// It stores eight bytes at a time at the end of dst, which it grows only when fewer than
// eight bytes of capacity are left, and keeps the bit buffer below 16 bits between tokens:
// a match takes at most 15+5+15+13 = 48 bits.
func (e *Encoder) writeTokens(dst []byte, tokens []token, litCodes []uint32, litLen []uint8, distCodes []uint32, distLen []uint8) []byte {
	dst = e.bw.flushBytes(dst)
	b, n := e.bw.bits, e.bw.n
	for _, t := range tokens {
		if t.length == 0 {
			b |= uint64(litCodes[t.value]) << n
			n += uint(litLen[t.value])
		} else {
			lc := lengthCodes[t.length]
			b |= uint64(litCodes[257+int(lc)]) << n
			n += uint(litLen[257+int(lc)])
			b |= uint64(int(t.length)-int(lengthBase[lc])) << n
			n += uint(lengthExtra[lc])
			dc := distCode(int(t.value))
			b |= uint64(distCodes[dc]) << n
			n += uint(distLen[dc])
			b |= uint64(int(t.value)-int(distBase[dc])) << n
			n += uint(distExtra[dc])
		}
		if n >= 16 {
			if cap(dst)-len(dst) < 8 {
				dst = slices.Grow(dst, 8)
			}
			l := len(dst)
			binary.LittleEndian.PutUint64(dst[l:l+8], b)
			k := n >> 3
			dst = dst[:l+int(k)]
			b >>= k << 3
			n &= 7
		}
	}
	e.bw.bits, e.bw.n = b, n
	return dst
}

// Flush ends the message: it closes the open block and writes an empty stored block,
// whose last four bytes, 00 00 ff ff, it leaves out (RFC 7692 §7.2.1). The output then
// ends on a byte boundary, and the next message starts afresh.
func (e *Encoder) Flush(dst []byte) []byte {
	if e.inBlock {
		e.bw.writeBits(fixedLitCode[endOfBlock], fixedLitLen[endOfBlock])
		e.inBlock = false
	}
	e.bw.writeBits(0, 3) // an empty stored block: BFINAL 0, BTYPE 00, then 00 00 ff ff
	e.bw.align()
	return e.bw.flushBytes(dst)
}

// Remember adds p to the window as if it had been compressed and sent, without compressing
// it: for a message the peer decompressed from bytes compressed elsewhere (a message
// prepared once for many connections, say), which the peer's window now holds. The bytes
// are not indexed, so later messages only match them by chance of a shared hash.
func (e *Encoder) Remember(p []byte) {
	if e.hist == nil {
		e.hist = make([]byte, 0, 2*e.window)
	}
	if len(p) > e.window {
		p = p[len(p)-e.window:]
	}
	if drop := len(e.hist) + len(p) - 2*e.window; drop > 0 {
		e.shiftTable(drop)
		e.hist = append(e.hist[:0], e.hist[drop:]...)
	}
	e.hist = append(e.hist, p...)
}

// shiftTable accounts for dropping n bytes from the front of hist.
func (e *Encoder) shiftTable(n int) { e.advanceBase(n) }

// match finds matches in hist[start:], reaching back into hist[:start] no further than
// the window, and returns the literals and matches that encode hist[start:].
func (e *Encoder) match(tokens []token, start int) []token {
	src := e.hist
	end := len(src)
	lit := start // the first byte not yet in a token
	// Positions before start were indexed when they were written, so a match may begin at
	// any position with four bytes after it.
	limit := end - minMatch + 1
	i := start
	skip := 32
	for i < limit {
		n, dist := e.longest(i, limit)
		if n == 0 {
			if e.thorough {
				i++
				continue
			}
			// No match: step further the longer matches have been missing (as Snappy
			// does), which skips quickly over data that does not compress.
			i += skip >> 5
			skip++
			continue
		}
		if e.thorough && i+1 < limit {
			// Lazy matching: a longer match starting at the next byte is worth a literal.
			if n2, d2 := e.longest(i+1, limit); n2 > n {
				i++
				n, dist = n2, d2
			}
		}
		for ; lit < i; lit++ {
			tokens = append(tokens, literal(src[lit]))
		}
		tokens = append(tokens, match(n, dist))
		// Index positions inside the match, for later matches: the last one when fast,
		// every one when thorough.
		from := i + n - 1
		if e.thorough {
			from = i + 1
		}
		for p := from; p < i+n && p < limit; p++ {
			e.table[binary.LittleEndian.Uint32(src[p:])*0x1e35a7bd>>e.hashShift] = int32(p) + e.base + 1
		}
		i += n
		lit = i
		skip = 32
	}
	for ; lit < end; lit++ {
		tokens = append(tokens, literal(src[lit]))
	}
	return tokens
}

// matchFast is match for the fast levels, written for speed: it finds the one candidate
// the table holds for each position, extends matches eight bytes at a time, steps further
// the longer matches have been missing (as Snappy does), which skips quickly over data that
// does not compress, and counts the symbols for the block's codes as it goes.
func (e *Encoder) matchFast(tokens []token, start int) []token {
	src := e.hist
	end := len(src)
	d := e.dyn
	clear(d.litFreq[:])
	clear(d.distFreq[:])
	tokens = slices.Grow(tokens[:0], end-start)
	table, shift, base, window := e.table, e.hashShift, e.base, e.window
	lit := start
	limit := end - minMatch + 1
	i := start
	skip := 32
	for i < limit {
		v := binary.LittleEndian.Uint32(src[i:])
		h := v * 0x1e35a7bd >> shift
		cand := int(table[h]) - 1 - int(base)
		table[h] = int32(i) + base + 1
		if cand < 0 || cand >= i || i-cand > window || binary.LittleEndian.Uint32(src[cand:]) != v {
			i += skip >> 5
			skip++
			continue
		}
		n := matchLen(src, cand, i, min(maxMatch, end-i))
		for _, b := range src[lit:i] {
			tokens = append(tokens, token{value: uint16(b)})
			d.litFreq[b]++
		}
		tokens = append(tokens, token{length: uint16(n), value: uint16(i - cand)})
		d.litFreq[257+int(lengthCodes[n])]++
		d.distFreq[distCode(i-cand)]++
		// Index the match's last position, for later matches.
		if p := i + n - 1; p < limit {
			table[binary.LittleEndian.Uint32(src[p:])*0x1e35a7bd>>shift] = int32(p) + base + 1
		}
		i += n
		lit = i
		skip = 32
	}
	for _, b := range src[lit:end] {
		tokens = append(tokens, token{value: uint16(b)})
		d.litFreq[b]++
	}
	return tokens
}

// longest records position i in the table and returns the match found there: its length
// and distance, or 0 when the table's candidate does not match or is out of the window.
func (e *Encoder) longest(i, limit int) (n, dist int) {
	src := e.hist
	v := binary.LittleEndian.Uint32(src[i:])
	h := v * 0x1e35a7bd >> e.hashShift
	cand := int(e.table[h]) - 1 - int(e.base)
	e.table[h] = int32(i) + e.base + 1
	if cand < 0 || i-cand > e.window || cand >= i || binary.LittleEndian.Uint32(src[cand:]) != v {
		return 0, 0
	}
	n = minMatch
	for n < maxMatch && i+n < len(src) && src[cand+n] == src[i+n] {
		n++
	}
	return n, i - cand
}

// token is a literal byte or a match: for a literal, the byte; for a match, its length
// and distance.
type token struct {
	length uint16 // 0 for a literal
	value  uint16 // the literal byte, or the match distance
}

func literal(b byte) token         { return token{value: uint16(b)} }
func match(length, dist int) token { return token{length: uint16(length), value: uint16(dist)} }
