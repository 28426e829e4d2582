package deflate

import (
	"compress/flate"
	"fmt"
	"io"
	"testing"
)

// BenchmarkEncode compresses messages without context takeover (Reset after each), next to
// compress/flate at BestSpeed reset per message, the way a pooled standard-library writer is
// used.
func BenchmarkEncode(b *testing.B) {
	ins := inputs()
	for _, name := range []string{"prose-1k", "prose-64k", "text-1k", "text-200k", "random-100k"} {
		in := ins[name]
		b.Run(fmt.Sprintf("duplex/%s", name), func(b *testing.B) {
			e := NewEncoder(15)
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				out = e.Flush(e.Write(out[:0], in))
				e.Reset()
			}
			b.ReportMetric(float64(len(out))/float64(len(in)), "ratio")
		})
		b.Run(fmt.Sprintf("duplex-level9/%s", name), func(b *testing.B) {
			e := NewEncoderLevel(15, 9)
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				out = e.Flush(e.Write(out[:0], in))
				e.Reset()
			}
			b.ReportMetric(float64(len(out))/float64(len(in)), "ratio")
		})
		b.Run(fmt.Sprintf("compress-flate/%s", name), func(b *testing.B) {
			var cw countWriter
			w, _ := flate.NewWriter(&cw, flate.BestSpeed)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				cw = 0
				w.Reset(&cw)
				w.Write(in)
				w.Flush()
			}
			b.ReportMetric(float64(cw)/float64(len(in)), "ratio")
		})
	}
}

// BenchmarkEncodeTakeover compresses a stream of 1 KiB messages with context takeover.
func BenchmarkEncodeTakeover(b *testing.B) {
	in := inputs()["text-200k"]
	for _, wb := range []int{9, 15} {
		b.Run(fmt.Sprintf("w%d", wb), func(b *testing.B) {
			e := NewEncoder(wb)
			var out []byte
			b.ReportAllocs()
			b.SetBytes(1024)
			i := 0
			for b.Loop() {
				msg := in[i : i+1024]
				i = (i + 1024) % (len(in) - 1024)
				out = e.Flush(e.Write(out[:0], msg))
			}
		})
	}
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
