package ws

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// refMask is RFC 6455 §5.3 as written: octet i of the payload is XORed with octet i mod 4
// of the masking key. key holds the key's first octet in its low byte ([header]).
func refMask(key uint32, off int, p []byte) []byte {
	out := make([]byte, len(p))
	for i, b := range p {
		out[i] = b ^ byte(key>>(8*((off+i)%4)))
	}
	return out
}

// TestMask checks mask and maskCopy (64-byte blocks in assembly on amd64, in Go with the
// purego tag or elsewhere) against refMask, for every length up to a few blocks past 256,
// at every alignment of the buffer, and in pieces, whose returned key must carry on.
func TestMask(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]byte, 600)
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	for n := range 330 {
		for align := range 16 {
			key := r.Uint32()
			want := refMask(key, 0, src[:n])

			buf := make([]byte, n+align)[align:]
			copy(buf, src)
			if got := mask(key, buf); got != keyAfter(key, n) {
				t.Fatalf("mask(len %d, align %d) returned key %08x, want %08x", n, align, got, keyAfter(key, n))
			}
			if !bytes.Equal(buf, want) {
				t.Fatalf("mask(len %d, align %d) = % x, want % x", n, align, buf, want)
			}

			dst := make([]byte, n+align+7)[align:]
			m, k := maskCopy(dst, src[align:align+n], key)
			if m != n || k != keyAfter(key, n) || !bytes.Equal(dst[:n], refMask(key, 0, src[align:align+n])) {
				t.Fatalf("maskCopy(len %d, align %d) = %d, %08x, % x", n, align, m, k, dst[:n])
			}
			if !bytes.Equal(dst[n:], make([]byte, 7)) {
				t.Fatalf("maskCopy(len %d, align %d) wrote past %d bytes: % x", n, align, n, dst[n:])
			}

			// In two pieces, the second with the key the first returned.
			cut := r.IntN(n + 1)
			copy(buf, src)
			mask(mask(key, buf[:cut]), buf[cut:])
			if !bytes.Equal(buf, want) {
				t.Fatalf("mask in pieces at %d (len %d, align %d) = % x, want % x", cut, n, align, buf, want)
			}
		}
	}
	// maskCopy copies as much as the shorter of its arguments holds.
	dst := make([]byte, 100)
	if m, _ := maskCopy(dst, src[:300], 0x01020304); m != 100 || !bytes.Equal(dst, refMask(0x01020304, 0, src[:100])) {
		t.Fatalf("maskCopy into a shorter dst = %d", m)
	}
}

// keyAfter is key rotated past n payload octets: the key for octet n onwards.
func keyAfter(key uint32, n int) uint32 {
	s := 8 * uint(n%4)
	return key>>s | key<<(32-s)
}
