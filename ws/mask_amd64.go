//go:build amd64 && !purego

package ws

// maskBlocks XORs b, whose length is a multiple of 64, with k (the key twice, as mask
// builds it).
func maskBlocks(k uint64, b []byte) { maskCopyBlocks(k, b, b) }

// maskCopyBlocks writes src XORed with k to dst, in one pass, 16 bytes an instruction
// (SSE2, which every amd64 has): mask_amd64.s. dst and src have the same length, a
// multiple of 64; they may be the same.
//
//go:noescape
func maskCopyBlocks(k uint64, dst, src []byte)
