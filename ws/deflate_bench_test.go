//go:build !race

// The race detector drops a quarter of what is put in a sync.Pool, which the compressor and
// decompressor are pooled in, so allocation counts mean nothing under it; nor do timings.

package ws

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
)

// Benchmarks of permessage-deflate: compression and decompression throughput and
// allocations per message for each mode and window, and the memory a connection keeps
// once it has exchanged a compressed message.
//
//	go test ./ws -run XXX -bench Deflate -benchtime 1s
//	go test ./ws -run XXX -bench DeflateConnMemory -benchtime 3x

// benchDeflateMode is a compression setting of both ends.
type benchDeflateMode struct {
	name string
	mode CompressionMode
	bits int
}

var benchDeflateModes = []benchDeflateMode{
	{"off", CompressionDisabled, 15},
	{"no-takeover-9", CompressionNoContextTakeover, 9},
	{"no-takeover-15", CompressionNoContextTakeover, 15},
	{"takeover-9", CompressionContextTakeover, 9},
	{"takeover-15", CompressionContextTakeover, 15},
}

// benchMessages returns count messages of n bytes each: consecutive pieces of a stream of
// JSON-like records that differ in their values, the compressible traffic
// permessage-deflate is for. With context takeover each message finds the ones before
// similar, not equal.
func benchMessages(count, n int) [][]byte {
	all := benchJSON(count * n)
	msgs := make([][]byte, count)
	for i := range msgs {
		msgs[i] = all[i*n : (i+1)*n]
	}
	return msgs
}

// benchJSON returns n bytes of JSON-like records.
func benchJSON(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"seq":%d,"type":"price","symbol":"%s","bid":%d.%02d,"ask":%d.%02d,"volume":%d},`,
			i, []string{"AAPL", "MSFT", "GOOG", "AMZN"}[i*7%4], 100+i*37%50, i*13%100, 100+i*41%50, i*29%100, i*7919%100000)
	}
	return b.Bytes()[:n]
}

// countingDiscardConn counts what is written to it.
type countingDiscardConn struct {
	discardConn
	n int64
}

func (c *countingDiscardConn) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// recordConn keeps what is written to it.
type recordConn struct {
	discardConn
	buf bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error) { return c.buf.Write(p) }

// BenchmarkDeflateWrite compresses messages as a server to a connection that discards them
// (MB/s of message, allocations per message), and reports the bytes on the wire per byte
// of message as "ratio".
func BenchmarkDeflateWrite(b *testing.B) {
	for _, m := range benchDeflateModes {
		for _, size := range []int{1 << 10, 64 << 10} {
			b.Run(m.name+"/"+sizeName(size), func(b *testing.B) {
				nc := &countingDiscardConn{}
				c := NewCompressedConnForTest(nc, false, nil, m.mode, 15, m.bits)
				defer c.CloseNow()
				msgs := benchMessages(64, size)
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(int64(size))
				n := 0
				for b.Loop() {
					if err := c.Write(ctx, MessageText, msgs[n%len(msgs)]); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(nc.n)/float64(n*size), "ratio")
			})
		}
	}
}

// BenchmarkDeflateRead decompresses, as a client, messages that a server Conn compressed
// (MB/s of decompressed message, allocations per message). With context takeover each
// message depends on the ones before, so a recorded stream of them is read by a new Conn
// each time round, outside the timer.
func BenchmarkDeflateRead(b *testing.B) {
	for _, m := range benchDeflateModes {
		for _, size := range []int{1 << 10, 64 << 10} {
			b.Run(m.name+"/"+sizeName(size), func(b *testing.B) {
				count := max(16, (4<<20)/size) // messages in the recorded stream
				msgs := benchMessages(count, size)
				rec := &recordConn{}
				w := NewCompressedConnForTest(rec, false, nil, m.mode, 15, m.bits)
				for _, msg := range msgs {
					if err := w.Write(context.Background(), MessageText, msg); err != nil {
						b.Fatal(err)
					}
				}
				stream := rec.buf.Bytes()
				ctx := context.Background()
				buf := make([]byte, 0, size)
				var c *Conn
				i := 0
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if i%count == 0 {
						b.StopTimer()
						if c != nil {
							c.CloseNow()
						}
						c = NewCompressedConnForTest(&replayConn{frames: stream}, true, nil, m.mode, m.bits, 15)
						b.StartTimer()
					}
					var err error
					if _, buf, err = c.ReadAppend(ctx, buf[:0]); err != nil || len(buf) != size {
						b.Fatalf("ReadAppend = %d bytes, %v", len(buf), err)
					}
					i++
				}
				c.CloseNow()
			})
		}
	}
}

// BenchmarkDeflateConnMemory makes 1000 connections over net.Pipe, a server and a client
// Conn each, exchanges a 1 KiB compressed message both ways on each, and reports the heap
// in use per Conn once they are idle ("B/conn", the pipes' own memory included, which the
// "off" row shows alone).
func BenchmarkDeflateConnMemory(b *testing.B) {
	const pairs = 1000
	msg := benchJSON(1 << 10)
	for _, m := range benchDeflateModes {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(2 * pairs * len(msg)))
			var perConn float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				conns := make([]*Conn, 0, 2*pairs)
				for range pairs {
					a, z := net.Pipe()
					s := NewCompressedConnForTest(a, false, nil, m.mode, m.bits, m.bits)
					c := NewCompressedConnForTest(z, true, nil, m.mode, m.bits, m.bits)
					conns = append(conns, s, c)
					benchExchange(b, c, s, msg)
					benchExchange(b, s, c, msg)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perConn = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(len(conns))
				for _, c := range conns {
					c.CloseNow()
				}
			}
			b.ReportMetric(perConn, "B/conn")
		})
	}
}

// benchExchange sends msg from one Conn to the other over their net.Pipe.
func benchExchange(b *testing.B, from, to *Conn, msg []byte) {
	var wg sync.WaitGroup
	var err error
	wg.Go(func() { err = from.Write(context.Background(), MessageText, msg) })
	_, got, rerr := to.Read(context.Background())
	wg.Wait()
	if err != nil || rerr != nil || len(got) != len(msg) {
		b.Fatalf("exchange: %v, %v, %d bytes", err, rerr, len(got))
	}
}

// TestDeflateAllocs pins the allocations of compressed messages once a connection is warm:
// none for Write, none for ReadAppend into a buffer that is large enough, with and without
// context takeover.
func TestDeflateAllocs(t *testing.T) {
	for _, m := range benchDeflateModes[1:] {
		t.Run(m.name, func(t *testing.T) {
			msgs := benchMessages(300, 1<<10)
			rec := &recordConn{}
			w := NewCompressedConnForTest(rec, false, nil, m.mode, 15, m.bits)
			defer w.CloseNow()
			ctx := context.Background()
			i := 0
			write := func() {
				if err := w.Write(ctx, MessageText, msgs[i%len(msgs)]); err != nil {
					t.Fatal(err)
				}
				i++
			}
			for range 10 {
				write()
			}
			if n := testing.AllocsPerRun(100, write); n > 0 {
				t.Errorf("Write: %.1f allocations per message; want 0", n)
			}
			for i < len(msgs) {
				write()
			}
			r := NewCompressedConnForTest(&replayConn{frames: rec.buf.Bytes()}, true, nil, m.mode, m.bits, 15)
			defer r.CloseNow()
			buf := make([]byte, 0, 1<<10)
			j := 0
			read := func() {
				var err error
				if _, buf, err = r.ReadAppend(ctx, buf[:0]); err != nil || !bytes.Equal(buf, msgs[j]) {
					t.Fatalf("message %d: %d bytes, %v", j, len(buf), err)
				}
				j++
			}
			for range 10 {
				read()
			}
			if n := testing.AllocsPerRun(100, read); n > 0 {
				t.Errorf("ReadAppend: %.1f allocations per message; want 0", n)
			}
		})
	}
}
