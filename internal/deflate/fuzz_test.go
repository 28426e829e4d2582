package deflate

import (
	"bytes"
	"testing"
)

// FuzzEncoder compresses fuzzer input, split into messages and Writes at fuzzer-chosen
// points, at a fuzzer-chosen window, with or without context takeover, and checks that
// compress/flate restores it and no match reaches past the window.
func FuzzEncoder(f *testing.F) {
	f.Add([]byte("Hello"), uint8(15), uint8(0), true)
	f.Add([]byte("abcabcabcabcabcabcabcabc"), uint8(8), uint8(3), false)
	f.Add(bytes.Repeat([]byte("websocket "), 500), uint8(9), uint8(100), true)
	f.Fuzz(func(t *testing.T, data []byte, windowBits, cut uint8, takeover bool) {
		e := NewEncoderLevel(int(windowBits%8)+MinWindowBits, 1+8*int(cut%2))
		window := 1 << e.WindowBits()
		chunk := int(cut) + 1
		var history, stream []byte
		// Three messages: the data, a copy of its second half, the data again.
		for _, msg := range [][]byte{data, data[len(data)/2:], data} {
			c := compressMessage(e, msg, chunk)
			if !takeover {
				history = nil
			}
			out, err := checkStream(c, window, history)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out[len(history):], msg) {
				t.Fatalf("decoded %d bytes, want %d", len(out)-len(history), len(msg))
			}
			history = out
			if takeover {
				stream = append(append(stream, c...), syncTail...)
			} else {
				if got := inflate(t, c); !bytes.Equal(got, msg) {
					t.Fatal("compress/flate disagrees")
				}
				e.Reset()
			}
		}
		if takeover {
			want := append(append(append([]byte{}, data...), data[len(data)/2:]...), data...)
			if got := inflate(t, stream[:len(stream)-len(syncTail)]); !bytes.Equal(got, want) {
				t.Fatal("compress/flate disagrees on the takeover stream")
			}
		}
	})
}
