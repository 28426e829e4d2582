package ws

import (
	"encoding/binary"
	"math/bits"
)

// mask XORs b in place with the masking key (RFC 6455 §5.3) and returns the key rotated so
// that it continues with the byte following b. The key is in the form described at
// [header]; masking again with the same key unmasks.
//
// It works a machine word at a time: eight 64-bit XORs per 64-byte block, then single
// words, then the last few bytes.
func mask(key uint32, b []byte) uint32 {
	if len(b) >= 8 {
		k := uint64(key) | uint64(key)<<32
		for len(b) >= 64 {
			v := (*[64]byte)(b)
			binary.LittleEndian.PutUint64(v[0:8], binary.LittleEndian.Uint64(v[0:8])^k)
			binary.LittleEndian.PutUint64(v[8:16], binary.LittleEndian.Uint64(v[8:16])^k)
			binary.LittleEndian.PutUint64(v[16:24], binary.LittleEndian.Uint64(v[16:24])^k)
			binary.LittleEndian.PutUint64(v[24:32], binary.LittleEndian.Uint64(v[24:32])^k)
			binary.LittleEndian.PutUint64(v[32:40], binary.LittleEndian.Uint64(v[32:40])^k)
			binary.LittleEndian.PutUint64(v[40:48], binary.LittleEndian.Uint64(v[40:48])^k)
			binary.LittleEndian.PutUint64(v[48:56], binary.LittleEndian.Uint64(v[48:56])^k)
			binary.LittleEndian.PutUint64(v[56:64], binary.LittleEndian.Uint64(v[56:64])^k)
			b = b[64:]
		}
		for len(b) >= 8 {
			v := (*[8]byte)(b)
			binary.LittleEndian.PutUint64(v[:], binary.LittleEndian.Uint64(v[:])^k)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= byte(key)
		key = bits.RotateLeft32(key, -8)
	}
	return key
}

// maskCopy copies src into dst, XORed with the key, and returns the key rotated past the
// copied bytes. It copies min(len(dst), len(src)) bytes; the copy is one pass for the
// common case and then masked in place while the bytes are still in cache.
func maskCopy(dst, src []byte, key uint32) (int, uint32) {
	n := copy(dst, src)
	return n, mask(key, dst[:n])
}
