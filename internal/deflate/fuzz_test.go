package deflate

import (
	"bytes"
	"compress/flate"
	"io"
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

// FuzzInflate decodes fuzzer input with Inflate and with compress/flate, with a
// fuzzer-chosen dictionary and limit, and requires them to agree: the same output where
// compress/flate succeeds within the limit, an error where it fails, and where the output
// is longer an error (ErrTooLarge, or one about input that would fail later) with no more
// than the limit. Seeds are valid streams of each block
// type, for the fuzzer to mutate.
func FuzzInflate(f *testing.F) {
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, 1, 9} {
		f.Add(flateCompress(f, []byte("Hello, hello, hello world! abcabcabcabc"), nil, level), []byte(nil), uint16(1000))
		f.Add(flateCompress(f, bytes.Repeat([]byte("websocket deflate "), 40), []byte("socket deflate"), level), []byte("socket deflate"), uint16(100))
	}
	f.Fuzz(func(t *testing.T, src, dict []byte, limit uint16) {
		if len(dict) > 32<<10 {
			dict = dict[len(dict)-32<<10:]
		}
		var inf Inflater
		got, err := inf.Inflate([]byte("x"), src, dict, int(limit))
		if len(got) > 1+int(limit) || string(got[:1]) != "x" {
			t.Fatalf("%d bytes of output past a limit of %d, or the prefix lost", len(got)-1, limit)
		}
		got = got[1:]
		want, werr := io.ReadAll(io.LimitReader(flate.NewReaderDict(bytes.NewReader(src), dict), int64(limit)+1))
		switch {
		case werr == nil && len(want) > int(limit):
			if err == nil || !bytes.HasPrefix(want, got) {
				t.Fatalf("output over the limit: error %v, %d bytes that compress/flate's do not start with", err, len(got))
			}
		case werr == nil:
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("compress/flate decodes %d bytes; Inflate: %v, %d bytes", len(want), err, len(got))
			}
		case err == nil:
			t.Fatalf("compress/flate fails (%v); Inflate decodes %d bytes", werr, len(got))
		}
	})
}
