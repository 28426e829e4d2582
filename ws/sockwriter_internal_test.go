//go:build unix

package ws

import (
	"bytes"
	"testing"
)

// TestSockWriterAdvance: after a write of n bytes of a header and a payload (a sendmsg
// that wrote part of them), what is left to write is the rest of the two, in order,
// whatever n, and the count of bytes written grows by n (rawwrite_unix.go).
func TestSockWriterAdvance(t *testing.T) {
	hdr := []byte{0x82, 0x7e, 0x01, 0x00}
	payload := bytes.Repeat([]byte("0123456789"), 26)
	want := append(append([]byte{}, hdr...), payload...)
	for _, second := range []bool{true, false} {
		for n := 0; n <= len(want); n++ {
			w := &sockWriter{bufs: [2][]byte{hdr, payload}, n: 7}
			if !second {
				w.bufs = [2][]byte{want, nil}
			}
			w.advance(n)
			left := append(append([]byte{}, w.bufs[0]...), w.bufs[1]...)
			if !bytes.Equal(left, want[n:]) || w.n != 7+n {
				t.Fatalf("two buffers %v, advance(%d): %d bytes left, n = %d; want %d, %d", second, n, len(left), w.n, len(want)-n, 7+n)
			}
			if len(w.bufs[0]) == 0 && len(w.bufs[1]) > 0 {
				t.Fatalf("two buffers %v, advance(%d): the first buffer is empty and the second is not", second, n)
			}
		}
	}
}
