package ws

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Benchmarks of the hot paths. Each reports allocations and throughput; masking and
// UTF-8 validation run next to copy and utf8.Valid on the same bytes, so that their
// GB/s compare directly:
//
//	go test ./ws -run XXX -bench . -benchtime 200ms
//
// The allocation pins of the same paths are in alloc_test.go.

// sizeName names a benchmark size: 16B, 1KiB, 64KiB, 1MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func BenchmarkFrameHeader(b *testing.B) {
	const key = 0x3d21fa37
	for _, tc := range []struct {
		name   string
		length int
		masked bool
	}{
		{"7bit-masked", 125, true},
		{"16bit-masked", 1 << 10, true},
		{"64bit", 1 << 20, false},
	} {
		hdr := appendHeader(nil, true, 0, opBinary, tc.length, tc.masked, key)
		b.Run("encode/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(hdr)))
			var buf [maxHeaderSize]byte
			for b.Loop() {
				appendHeader(buf[:0], true, 0, opBinary, tc.length, tc.masked, key)
			}
		})
		b.Run("decode/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(hdr)))
			for b.Loop() {
				if _, n, err := parseHeader(hdr); n != len(hdr) || err != nil {
					b.Fatalf("parseHeader = %d, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkMask masks a payload in place, and with maskCopy as client writes do, next to
// a plain copy of the same size.
func BenchmarkMask(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		src := make([]byte, size)
		dst := make([]byte, size)
		b.Run(sizeName(size)+"/mask", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			key := uint32(0x3d21fa37)
			for b.Loop() {
				key = mask(key, dst)
			}
		})
		b.Run(sizeName(size)+"/maskCopy", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			key := uint32(0x3d21fa37)
			for b.Loop() {
				_, key = maskCopy(dst, src, key)
			}
		})
		b.Run(sizeName(size)+"/copy", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

// BenchmarkUTF8 validates text with utf8Validator, as text messages are read, next to
// utf8.Valid on the same bytes.
func BenchmarkUTF8(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, tc := range []struct{ name, unit string }{
			{"ascii", "The quick brown fox jumps over the lazy dog. "},
			{"multibyte", "κόσμε — 世界 🙂 ünïcödé "},
		} {
			text := []byte(strings.Repeat(tc.unit, size/len(tc.unit)+1))[:size]
			for !utf8.Valid(text) {
				text = text[:len(text)-1] // end at a rune boundary
			}
			b.Run(sizeName(size)+"/"+tc.name+"/validator", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(text)))
				var v utf8Validator
				for b.Loop() {
					v.reset()
					if !v.write(text) || !v.complete() {
						b.Fatal("validator rejected valid text")
					}
				}
			})
			b.Run(sizeName(size)+"/"+tc.name+"/utf8.Valid", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					if !utf8.Valid(text) {
						b.Fatal("utf8.Valid rejected valid text")
					}
				}
			})
		}
	}
}

// BenchmarkEcho sends a message over loopback TCP to a server that echoes it and reads
// the echo, both sides reading with ReadAppend into a reused buffer. Bytes per second
// count the message once.
func BenchmarkEcho(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		var buf []byte
		for {
			typ, msg, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
			buf = msg
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			ctx := context.Background()
			c, _, err := Dial(ctx, url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(StatusNormalClosure, "")
			msg := bytes.Repeat([]byte("x"), size)
			buf := make([]byte, 0, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := c.Write(ctx, MessageBinary, msg); err != nil {
					b.Fatal(err)
				}
				if _, buf, err = c.ReadAppend(ctx, buf[:0]); err != nil || len(buf) != size {
					b.Fatalf("ReadAppend = %d bytes, %v", len(buf), err)
				}
			}
		})
	}
}

// discardConn is a net.Conn that throws away what is written to it and has nothing to
// read.
type discardConn struct{}

func (discardConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) LocalAddr() net.Addr              { return discardAddr }
func (discardConn) RemoteAddr() net.Addr             { return discardAddr }
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

var discardAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}

// replayConn is a net.Conn whose reads return the same frames over and over.
type replayConn struct {
	discardConn
	frames []byte
	off    int
}

func (r *replayConn) Read(p []byte) (int, error) {
	n := copy(p, r.frames[r.off:])
	r.off = (r.off + n) % len(r.frames)
	return n, nil
}

// BenchmarkWrite writes a message as a server (one unmasked frame) and as a client (a
// masked frame, masked while copied) to a connection that discards it.
func BenchmarkWrite(b *testing.B) {
	for _, client := range []bool{false, true} {
		for _, size := range []int{16, 1 << 10, 64 << 10} {
			b.Run(roleName(client)+"/"+sizeName(size), func(b *testing.B) {
				c := newConn(discardConn{}, client, "", nil, nil, nil)
				defer c.CloseNow()
				msg := bytes.Repeat([]byte("x"), size)
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := c.Write(ctx, MessageBinary, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkReadAppend reads messages into a reused buffer from a connection that replays
// the same frame: masked for a server, unmasked for a client.
func BenchmarkReadAppend(b *testing.B) {
	for _, client := range []bool{false, true} {
		for _, size := range []int{16, 1 << 10, 64 << 10} {
			b.Run(roleName(client)+"/"+sizeName(size), func(b *testing.B) {
				payload := bytes.Repeat([]byte("x"), size)
				const key = 0x3d21fa37
				frame := appendHeader(nil, true, 0, opBinary, size, !client, key)
				start := len(frame)
				frame = append(frame, payload...)
				if !client {
					mask(key, frame[start:])
				}
				c := newConn(&replayConn{frames: frame}, client, "", nil, nil, nil)
				defer c.CloseNow()
				buf := make([]byte, 0, size)
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					var err error
					if _, buf, err = c.ReadAppend(ctx, buf[:0]); err != nil || len(buf) != size {
						b.Fatalf("ReadAppend = %d bytes, %v", len(buf), err)
					}
				}
			})
		}
	}
}

func roleName(client bool) string {
	if client {
		return "client"
	}
	return "server"
}
