package deflate

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"slices"
)

// This file is the decompressor: a whole DEFLATE stream (RFC 1951) held in memory,
// decoded in one call into a slice. Having all of the input at hand is what makes it fast:
// its bit reader takes eight bytes at a time, and one refill covers a whole literal or
// length-distance pair, so the inner loop has no case for running out of input.

// Errors Inflate returns. Any other malformed input is ErrCorrupt, with detail.
var (
	// ErrTooLarge is returned when the output would exceed the limit.
	ErrTooLarge = errors.New("deflate: output exceeds the limit")
	// ErrUnexpectedEOF is returned when the input ends inside a block.
	ErrUnexpectedEOF = errors.New("deflate: input ends inside a block")
)

// CorruptError describes input that is not a DEFLATE stream.
type CorruptError struct{ What string }

func (e *CorruptError) Error() string { return "deflate: corrupt input: " + e.What }

func corrupt(what string) error { return &CorruptError{what} }

const (
	litRootBits  = 9 // primary table index bits of the literal/length code
	distRootBits = 7 // and of the distance code
	clenRootBits = 7 // the code length code's longest code: no second level

	// Table entries. The low 4 bits are the code's length in bits, the next 4 the extra
	// bits that follow it, then the kind; the top 16 bits are the value: a literal byte, a
	// length or distance base, or, for a link, the offset of a second-level table, whose
	// index bits are then in the extra bits' place.
	entryLiteral = 1 << 8
	entryBase    = 2 << 8 // a length (or distance) with base value and extra bits
	entryEnd     = 3 << 8 // end of block
	entryLink    = 4 << 8
	entryKind    = 7 << 8
	// An entry of 0 is a code no symbol has (an incomplete code's hole) or a symbol
	// DEFLATE does not define (literal/length 286 and 287, distance 30 and 31).
)

// Inflater holds a decompressor's code tables between calls, so that decoding allocates
// nothing once they have grown. The zero value is ready to use; it is not safe for
// concurrent use.
type Inflater struct {
	lit  []uint32 // the block's literal/length table
	dist []uint32 // and its distance table
	clen []uint32 // a dynamic block's code length table
}

// fixed tables, built once (RFC 1951 §3.2.6).
var fixedLit, fixedDist = buildFixed()

func buildFixed() ([]uint32, []uint32) {
	var lengths [288 + 32]uint8
	for i := range 288 {
		switch {
		case i < 144:
			lengths[i] = 8
		case i < 256:
			lengths[i] = 9
		case i < 280:
			lengths[i] = 7
		default:
			lengths[i] = 8
		}
	}
	for i := range 32 {
		lengths[288+i] = 5
	}
	lit, ok1 := buildTable(nil, lengths[:288], litRootBits, litEntries[:])
	dist, ok2 := buildTable(nil, lengths[288:], distRootBits, distEntries[:])
	if !ok1 || !ok2 {
		panic("deflate: fixed tables")
	}
	return lit, dist
}

// litEntry is the table entry of literal/length symbol sym, without its code length.
func litEntry(sym int) uint32 {
	switch {
	case sym < 256:
		return entryLiteral | uint32(sym)<<16
	case sym == 256:
		return entryEnd
	case sym < 286:
		i := sym - 257
		return entryBase | uint32(lengthExtra[i])<<4 | uint32(lengthBase[i])<<16
	}
	return 0
}

// distEntry is the table entry of distance symbol sym, without its code length.
func distEntry(sym int) uint32 {
	if sym < 30 {
		return entryBase | uint32(distExtra[sym])<<4 | uint32(distBase[sym])<<16
	}
	return 0
}

// clenEntry is the table entry of code length symbol sym: the symbol itself.
func clenEntry(sym int) uint32 { return entryLiteral | uint32(sym)<<16 }

// The entries of every symbol of each code, without their code lengths, for buildTable.
var litEntries, distEntries, clenEntries = func() (lit [288]uint32, dist [32]uint32, clen [19]uint32) {
	for s := range lit {
		lit[s] = litEntry(s)
	}
	for s := range dist {
		dist[s] = distEntry(s)
	}
	for s := range clen {
		clen[s] = clenEntry(s)
	}
	return lit, dist, clen
}()

// buildTable builds, into t's storage, the two-level decoding table of the canonical
// Huffman code with the given code lengths (RFC 1951 §3.2.2), whose symbols' entries
// (without their code lengths) are entries: a primary table indexed by
// the next rootBits bits of input, whose entries for longer codes link to second-level
// tables. It reports false if the lengths are not a code: over-subscribed, or incomplete,
// which RFC 1951 does not allow except, as zlib accepts, for one code of one bit, and for no
// code at all (an empty distance code, for a block of literals). Bit sequences that no code
// has decode to an entry of 0.
func buildTable(t []uint32, lengths []uint8, rootBits uint, entries []uint32) ([]uint32, bool) {
	// Counted in four arrays, a length in four going to each, so that runs of one length
	// do not wait on one counter's increments.
	var counts [4][16]int
	maxLen := uint8(0)
	i := 0
	for ; i+4 <= len(lengths); i += 4 {
		l := lengths[i : i+4 : i+4]
		counts[0][l[0]&15]++
		counts[1][l[1]&15]++
		counts[2][l[2]&15]++
		counts[3][l[3]&15]++
		maxLen = max(maxLen, l[0], l[1], l[2], l[3])
	}
	for ; i < len(lengths); i++ {
		counts[0][lengths[i]&15]++
		maxLen = max(maxLen, lengths[i])
	}
	var count [16]int
	for n := 1; n < 16; n++ {
		count[n] = counts[0][n] + counts[1][n] + counts[2][n] + counts[3][n]
	}
	var next [16]int
	code := 0
	for n := 1; n <= int(maxLen); n++ {
		code <<= 1
		next[n] = code
		code += count[n]
	}
	if maxLen > 0 && code != 1<<maxLen && !(code == 1 && maxLen == 1) || maxLen > 15 {
		return t, false
	}
	root := 1 << rootBits
	t = append(t[:0], make([]uint32, root)...)
	// Codes longer than the root need second-level tables, one per root prefix, as wide as
	// the longest code with that prefix. Their sizes come first; codes are assigned in
	// canonical order, so a prefix's codes are consecutive and the longest come last.
	if int(maxLen) > int(rootBits) {
		c := next
		for _, n := range lengths {
			if int(n) <= int(rootBits) {
				continue
			}
			rev := reverse(c[n], n)
			c[n]++
			prefix := rev & (root - 1)
			sub := uint32(n) - uint32(rootBits)
			if e := t[prefix]; e&entryKind != entryLink || sub > e>>4&15 {
				t[prefix] = entryLink | sub<<4 // the offset is set below
			}
		}
		for prefix := range root {
			if e := t[prefix]; e&entryKind == entryLink {
				off := len(t)
				t = append(t, make([]uint32, 1<<(e>>4&15))...)
				t[prefix] = e | uint32(off)<<16
			}
		}
	}
	for sym, n := range lengths {
		if n == 0 {
			continue
		}
		rev := reverse(next[n], n)
		next[n]++
		e := entries[sym]
		if e != 0 {
			e |= uint32(n)
		}
		if int(n) <= int(rootBits) {
			for i := rev; i < root; i += 1 << n {
				t[i] = e
			}
			continue
		}
		link := t[rev&(root-1)]
		off, sub := int(link>>16), int(link>>4&15)
		step := 1 << (int(n) - int(rootBits))
		for i := rev >> rootBits; i < 1<<sub; i += step {
			t[off+i] = e
		}
	}
	return t, true
}

// reverse returns the n-bit code c with its bits reversed: DEFLATE sends Huffman codes
// most significant bit first into a stream read least significant bit first.
func reverse(c int, n uint8) int {
	return int(bits.Reverse16(uint16(c)) >> (16 - n))
}

// Inflate appends to dst the decompression of src, a DEFLATE stream that ends with a final
// block; what follows that block in src is ignored. Back-references may reach before the
// start of the output into dict, the bytes that preceded it (permessage-deflate's context
// takeover), up to DEFLATE's 32 KiB. It fails with ErrTooLarge as soon as the output passes
// limit bytes (if limit is not negative), so that a small input cannot grow without bound,
// with ErrUnexpectedEOF if src ends first, and with a *CorruptError if src is not DEFLATE.
// On error, the returned slice is dst with some or all of the output so far.
func (f *Inflater) Inflate(dst, src, dict []byte, limit int) ([]byte, error) {
	d := decoder{src: src, out: dst, start: len(dst), dict: dict, max: len(dst) + limit}
	if limit < 0 || d.max < 0 {
		d.max = math.MaxInt
	}
	for {
		d.refill()
		if d.nb < 3+d.pad {
			return d.out, ErrUnexpectedEOF
		}
		final := d.b&1 == 1
		typ := d.b >> 1 & 3
		d.consume(3)
		var err error
		switch typ {
		case 0:
			err = d.stored()
		case 1:
			err = d.block(fixedLit, fixedDist)
		case 2:
			if err = f.readCodes(&d); err == nil {
				err = d.block(f.lit, f.dist)
			}
		default:
			err = corrupt("reserved block type")
		}
		if err != nil {
			return d.out, err
		}
		if final {
			return d.out, nil
		}
	}
}

// decoder is the state of one Inflate.
type decoder struct {
	src []byte
	pos int    // the next byte of src the bit buffer takes
	b   uint64 // the bit buffer: its nb low bits are the next of the stream
	nb  uint
	pad uint // how many of the buffer's top bits are zeros past the end of src

	out   []byte
	start int // where this stream's output starts in out
	dict  []byte
	max   int // the length out may reach
}

// refill tops the bit buffer up to at least 56 bits, past the end of src with zeros,
// which pad counts.
func (d *decoder) refill() {
	if d.pos+8 <= len(d.src) {
		d.b |= binary.LittleEndian.Uint64(d.src[d.pos:]) << d.nb
		d.pos += int(63-d.nb) >> 3
		d.nb |= 56
		return
	}
	for d.nb <= 56 {
		if d.pos < len(d.src) {
			d.b |= uint64(d.src[d.pos]) << d.nb
			d.pos++
		} else {
			d.pad += 8
		}
		d.nb += 8
	}
}

func (d *decoder) consume(n uint) {
	d.b >>= n
	d.nb -= n
}

// stored copies a stored block (RFC 1951 §3.2.4).
func (d *decoder) stored() error {
	if d.nb < d.pad {
		return ErrUnexpectedEOF
	}
	// Skip to a byte boundary, then give back the whole bytes the bit buffer holds.
	d.consume(d.nb & 7)
	d.pos -= int(d.nb-d.pad) >> 3
	d.b, d.nb, d.pad = 0, 0, 0
	if len(d.src)-d.pos < 4 {
		return ErrUnexpectedEOF
	}
	n := int(binary.LittleEndian.Uint16(d.src[d.pos:]))
	if ^uint16(n) != binary.LittleEndian.Uint16(d.src[d.pos+2:]) {
		return corrupt("stored block length does not match its complement")
	}
	d.pos += 4
	if len(d.src)-d.pos < n {
		return ErrUnexpectedEOF
	}
	if len(d.out)+n > d.max {
		return ErrTooLarge
	}
	d.out = append(d.out, d.src[d.pos:d.pos+n]...)
	d.pos += n
	return nil
}

// readCodes reads a dynamic block's code lengths (RFC 1951 §3.2.7) and builds its tables.
func (f *Inflater) readCodes(d *decoder) error {
	d.refill()
	nlit := int(d.b&31) + 257
	ndist := int(d.b>>5&31) + 1
	nclen := int(d.b>>10&15) + 4
	d.consume(14)
	if nlit > 286 {
		return corrupt("more than 286 literal/length codes")
	}
	if ndist > 30 {
		return corrupt("more than 30 distance codes")
	}
	var clens [19]uint8
	for i := range nclen {
		if d.nb < 3 {
			d.refill()
		}
		clens[clenOrder[i]] = uint8(d.b & 7)
		d.consume(3)
	}
	var ok bool
	if f.clen, ok = buildTable(f.clen, clens[:], clenRootBits, clenEntries[:]); !ok {
		return corrupt("invalid code length code")
	}
	var lengths [286 + 30]uint8
	n := nlit + ndist
	for i := 0; i < n; {
		if d.nb < 14 {
			d.refill()
		}
		if d.nb < d.pad {
			return ErrUnexpectedEOF
		}
		e := f.clen[d.b&(1<<clenRootBits-1)]
		if e == 0 {
			return corrupt("invalid code length")
		}
		d.consume(uint(e & 15))
		sym := e >> 16
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return corrupt("repeated code length with none before")
			}
			rep, v = 3+int(d.b&3), lengths[i-1]
			d.consume(2)
		case 17:
			rep = 3 + int(d.b&7)
			d.consume(3)
		case 18:
			rep = 11 + int(d.b&127)
			d.consume(7)
		default:
			lengths[i] = uint8(sym)
			i++
			continue
		}
		if i+rep > n {
			return corrupt("code lengths overrun their count")
		}
		for ; rep > 0; rep-- {
			lengths[i] = v
			i++
		}
	}
	if d.nb < d.pad {
		return ErrUnexpectedEOF
	}
	if lengths[256] == 0 {
		return corrupt("no end-of-block code")
	}
	if f.lit, ok = buildTable(f.lit, lengths[:nlit], litRootBits, litEntries[:]); !ok {
		return corrupt("invalid literal/length code")
	}
	if f.dist, ok = buildTable(f.dist, lengths[nlit:n], distRootBits, distEntries[:]); !ok {
		return corrupt("invalid distance code")
	}
	return nil
}

// clenOrder is the order in which a dynamic block sends the code length code's lengths.
var clenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// block decodes the compressed data of a block with the given tables, to its end-of-block
// code.
func (d *decoder) block(lit, dist []uint32) (err error) {
	// The bit buffer and the output live in locals through the loop. The output is
	// written into out's capacity, at o, with slack past what a symbol needs, so that
	// matches copy eight bytes at a time; stop is where the slack or the limit begins.
	src, pos, b, nb, pad := d.src, d.pos, d.b, d.nb, d.pad
	buf, o := d.out[:cap(d.out)], len(d.out)
	stop := min(len(buf)-copySlack, d.max)
	const litMask = 1<<litRootBits - 1
	const distMask = 1<<distRootBits - 1
decode:
	for {
		if nb < pad {
			err = ErrUnexpectedEOF
			break decode
		}
		// One refill holds a whole length-distance pair: at most 15+5+15+13 = 48 bits.
		// (decoder.refill, written out on the locals, which a call would send to memory.)
		if nb < 48 {
			if pos+8 <= len(src) {
				b |= binary.LittleEndian.Uint64(src[pos:]) << nb
				pos += int(63-nb) >> 3
				nb |= 56
			} else {
				for nb <= 56 {
					if pos < len(src) {
						b |= uint64(src[pos]) << nb
						pos++
					} else {
						pad += 8
					}
					nb += 8
				}
			}
		}
		e := lit[b&litMask]
		if e&entryKind == entryLink {
			e = lit[int(e>>16)+int(b>>litRootBits&(1<<(e>>4&15)-1))]
		}
		kind := e & entryKind
		b >>= e & 15
		nb -= uint(e & 15)
		if kind == entryLiteral {
			if o >= stop {
				if o >= d.max {
					err = ErrTooLarge
					break decode
				}
				buf, stop = d.grow(buf, o, 1)
			}
			buf[o] = byte(e >> 16)
			o++
			// Literals come in runs: while the bits held cover any code (at most 15),
			// decode the next symbol here, and if it is a literal, write it without
			// going round the loop's checks and refill. Anything else is left for the
			// loop to decode again.
			for nb >= 15 && o < stop {
				e = lit[b&litMask]
				if e&entryKind != entryLiteral {
					break
				}
				b >>= e & 15
				nb -= uint(e & 15)
				buf[o] = byte(e >> 16)
				o++
			}
			continue
		}
		if kind != entryBase {
			if kind == entryEnd {
				if nb < pad {
					err = ErrUnexpectedEOF
				}
				break decode
			}
			err = corrupt("invalid literal/length code")
			break decode
		}
		extra := e >> 4 & 15
		length := int(e>>16) + int(b&(1<<extra-1))
		b >>= extra
		nb -= uint(extra)

		e = dist[b&distMask]
		if e&entryKind == entryLink {
			e = dist[int(e>>16)+int(b>>distRootBits&(1<<(e>>4&15)-1))]
		}
		if e&entryKind != entryBase {
			err = corrupt("invalid distance code")
			break decode
		}
		b >>= e & 15
		nb -= uint(e & 15)
		extra = e >> 4 & 15
		distance := int(e>>16) + int(b&(1<<extra-1))
		b >>= extra
		nb -= uint(extra)
		if nb < pad {
			err = ErrUnexpectedEOF
			break decode
		}

		if o+length > stop {
			if o+length > d.max {
				err = ErrTooLarge
				break decode
			}
			buf, stop = d.grow(buf, o, length)
		}
		from := o - distance
		switch {
		case from >= d.start && distance >= 8:
			// Eight bytes at a time, each read from bytes already written; the last
			// store may run up to seven bytes past the match, into the slack.
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(buf[o+i:], binary.LittleEndian.Uint64(buf[from+i:]))
			}
			o += length
		case from >= d.start:
			// Overlapping: the bytes from from on repeat with the distance's period, so
			// copying all that exists doubles them at every pass.
			for end := o + length; o < end; {
				o += copy(buf[o:end], buf[from:o])
			}
		default:
			// The match starts in the dictionary, and may run on into the output.
			back := d.start - from
			if back > len(d.dict) {
				err = corrupt("distance reaches before the start of the data")
				break decode
			}
			n := copy(buf[o:o+length], d.dict[len(d.dict)-back:])
			o += n
			for end := o + length - n; o < end; {
				o += copy(buf[o:end], buf[d.start:o])
			}
		}
	}
	d.pos, d.b, d.nb, d.pad, d.out = pos, b, nb, pad, buf[:o]
	return err
}

// copySlack is the room block keeps past the output: the overrun of its eight-byte copies.
const copySlack = 8

// grow makes room in buf for n more bytes at o, and slack, and returns it and the new stop.
func (d *decoder) grow(buf []byte, o, n int) ([]byte, int) {
	buf = slices.Grow(buf[:o], n+copySlack)
	buf = buf[:cap(buf)]
	return buf, min(len(buf)-copySlack, d.max)
}
