package ws

import (
	"encoding/binary"
	"math/bits"
)

// mask XORs b in place with the masking key (RFC 6455 §5.3) and returns the key rotated so
// that it continues with the byte following b. The key is in the form described at
// [header]; masking again with the same key unmasks.
//
// Whole 64-byte blocks go to maskBlocks (16 bytes an instruction on amd64), then single
// words, then the last few bytes. A block is a multiple of the key's 4 bytes, so the key
// stays as it is across the blocks.
func mask(key uint32, b []byte) uint32 {
	k := uint64(key) | uint64(key)<<32
	if n := len(b) &^ 63; n > 0 {
		maskBlocks(k, b[:n])
		b = b[n:]
	}
	for len(b) >= 8 {
		v := (*[8]byte)(b)
		binary.LittleEndian.PutUint64(v[:], binary.LittleEndian.Uint64(v[:])^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(key)
		key = bits.RotateLeft32(key, -8)
	}
	return key
}

// maskCopy copies src into dst, XORed with the key, and returns the key rotated past the
// copied bytes. It copies min(len(dst), len(src)) bytes, the whole 64-byte blocks in one
// pass (maskCopyBlocks), the rest copied and masked in place.
func maskCopy(dst, src []byte, key uint32) (int, uint32) {
	n := min(len(dst), len(src))
	blocks := n &^ 63
	if blocks > 0 {
		maskCopyBlocks(uint64(key)|uint64(key)<<32, dst[:blocks], src[:blocks])
	}
	copy(dst[blocks:n], src[blocks:n])
	return n, mask(key, dst[blocks:n])
}
