package ws

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/deflate"
)

// TestInflateWindow8FromZlib checks that a connection that agreed 8 window bits for the
// peer's compression, with context takeover, still reads messages compressed with a 9-bit
// window: zlib, which most peers use, cannot compress with 8 bits and silently uses 9, so
// its messages may refer 512 bytes back into the previous one (RFC 7692 §7.1.2.2).
func TestInflateWindow8FromZlib(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := net.Pipe()
	defer b.Close()
	c := newConn(a, true, "", nil, nil, newDeflateState(deflateParams{readTakeover: true, readWindowBits: 8, writeWindowBits: 15}, 0, 1))
	defer c.CloseNow()

	// The first message is 512 random bytes; the second repeats its start, which a
	// 9-bit compressor finds exactly 512 bytes back.
	r := rand.New(rand.NewPCG(7, 8))
	first := make([]byte, 512)
	for i := range first {
		first[i] = byte(r.Uint32())
	}
	msgs := [][]byte{first, first[:300]}
	go func() {
		enc := deflate.NewEncoder(9)
		for _, m := range msgs {
			payload := enc.Flush(enc.Write(nil, m))
			frame := appendHeader(nil, true, rsv1Bit, opBinary, len(payload), false, 0)
			b.Write(append(frame, payload...))
		}
	}()
	for i, want := range msgs {
		_, got, err := c.Read(ctx)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}
}
