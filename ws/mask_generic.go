//go:build !amd64 || purego

package ws

import "encoding/binary"

// maskBlocks XORs b, whose length is a multiple of 64, with k (the key twice, as mask
// builds it): eight 64-bit XORs a block.
func maskBlocks(k uint64, b []byte) {
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
}

// maskCopyBlocks is copy(dst, src) followed by maskBlocks(k, dst): dst and src have the
// same length, a multiple of 64.
func maskCopyBlocks(k uint64, dst, src []byte) {
	copy(dst, src)
	maskBlocks(k, dst)
}
