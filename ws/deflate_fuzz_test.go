package ws

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzInflateLimit is the read limit of the connections FuzzInflate drives: small, so that
// the fuzzer can cross it with a few bytes of DEFLATE.
const fuzzInflateLimit = 1000

// FuzzInflate sends two messages of arbitrary compressed payload (RSV1 set, RFC 7692 §6)
// in frames of a size the fuzzer picks, the bytes fed in pieces, to a server Conn over
// net.Pipe, with and without context takeover, and reads them with Read or Reader. The
// outcome must be what compress/flate makes of the same payload with the §7.2.2 tail: the
// same message, within the read limit and, for text, valid UTF-8; otherwise a
// *ProtocolError with 1007 (invalid data or UTF-8) or 1009 (over the limit). Never a
// panic, and a read that does not end within seconds is a hang.
//
//	go test ./ws -run XXX -fuzz FuzzInflate -fuzztime 60s
func FuzzInflate(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg1, msg2, cuts []byte, frameSize uint8, flags uint8) {
		takeover, text, streaming := flags&1 != 0, flags&2 != 0, flags&4 != 0
		mode := CompressionNoContextTakeover
		if takeover {
			mode = CompressionContextTakeover
		}
		local, peer := net.Pipe()
		c := NewCompressedConnForTest(local, false, &ConnOptions{
			ReadLimit:      fuzzInflateLimit,
			ReadBufferSize: minReadBufferSize,
			CloseTimeout:   time.Second,
		}, mode, 15, 15)

		// The wire: each message in frames of frameSize+1 bytes, masked with a zero key
		// (so the payload is as given), RSV1 on the first.
		op := byte(opBinary)
		if text {
			op = byte(opText)
		}
		var wire []byte
		for _, m := range [][]byte{msg1, msg2} {
			size := int(frameSize) + 1
			for i := 0; i == 0 || i < len(m); i += size {
				b0 := byte(opContinuation)
				if i == 0 {
					b0 = op | rsv1Bit
				}
				if i+size >= len(m) {
					b0 |= 0x80
				}
				wire = append(wire, encodeTestFrame(b0, m[i:min(i+size, len(m))])...)
			}
		}

		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(io.Discard, peer) }) // the close frame, if any
		wg.Go(func() {
			for _, p := range pieces(wire, cuts) {
				if _, err := peer.Write(p); err != nil {
					return
				}
			}
		})
		stop := sync.OnceFunc(func() {
			c.CloseNow()
			peer.Close()
			wg.Wait()
		})
		defer stop()

		var dict []byte
		for i, m := range [][]byte{msg1, msg2} {
			want, wantErr := inflateOracle(m, dict, text)
			if takeover {
				dict = append(dict, want...)
				dict = dict[max(0, len(dict)-1<<15):]
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			got, err := fuzzReadMessage(ctx, c, streaming)
			hung := ctx.Err() != nil
			cancel()
			if hung {
				t.Fatalf("message %d: read hangs", i)
			}
			if len(got) > fuzzInflateLimit {
				t.Fatalf("message %d: %d bytes delivered, over the limit of %d", i, len(got), fuzzInflateLimit)
			}
			if wantErr == 0 {
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("message %d: got %q, %v; want %q", i, got, err, want)
				}
				continue
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("message %d: got %q, %v; want a *ProtocolError (%d)", i, got, err, wantErr)
			}
			// Which of two faults shows first, the limit or the data, depends on how the
			// decompressor's output is cut: either code is right when the oracle found
			// both.
			if pe.Code != wantErr && !(wantErr == StatusMessageTooBig && pe.Code == StatusInvalidFramePayload) &&
				!(wantErr == StatusInvalidFramePayload && pe.Code == StatusMessageTooBig && len(want) > fuzzInflateLimit) {
				t.Fatalf("message %d: %v; want code %d", i, err, wantErr)
			}
			return
		}
	})
}

// encodeTestFrame encodes a client frame with a zero masking key.
func encodeTestFrame(b0 byte, payload []byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	out = append(out, 0, 0, 0, 0)
	return append(out, payload...)
}

// inflateOracle decompresses a message payload with compress/flate as RFC 7692 §7.2.2
// says, and returns what a reader with fuzzInflateLimit must deliver, or the close code it
// must fail with. A payload whose compressed size alone is over the limit's margin fails
// at the frame header.
func inflateOracle(payload, dict []byte, text bool) ([]byte, StatusCode) {
	if len(payload) > fuzzInflateLimit+fuzzInflateLimit>>10+1024 {
		return nil, StatusMessageTooBig
	}
	src := io.MultiReader(bytes.NewReader(payload), bytes.NewReader(syncTail[:]))
	out, err := io.ReadAll(io.LimitReader(flate.NewReaderDict(src, dict), fuzzInflateLimit+1))
	switch {
	case len(out) > fuzzInflateLimit:
		return out, StatusMessageTooBig
	case err != nil:
		return out, StatusInvalidFramePayload
	case text && !utf8.Valid(out):
		return out, StatusInvalidFramePayload
	}
	return out, 0
}

// fuzzReadMessage reads a message with Read or with Reader.
func fuzzReadMessage(ctx context.Context, c *Conn, streaming bool) ([]byte, error) {
	if !streaming {
		_, msg, err := c.Read(ctx)
		return msg, err
	}
	_, r, err := c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
