package ws_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Conformance tests of permessage-deflate's data path (RFC 7692 §6, §7.2): the examples of
// §7.2.3 fed raw to a server and a client Conn, the RSV rules, the bytes the writer
// produces, and the limits on decompression. A Conn under test is made with
// ws.NewCompressedConnForTest, as if the handshake had agreed compression; the far end is a
// rawPeer (rawpeer_test.go) whose DEFLATE comes from compress/flate or the RFC's bytes.

// deflateTail is what §7.2.1 has a sender remove from the end of each message, and §7.2.2
// a receiver append: an empty stored block's LEN and NLEN.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// deflateModes are the modes a compressed Conn under test runs in.
var deflateModes = []ws.CompressionMode{ws.CompressionNoContextTakeover, ws.CompressionContextTakeover}

// newDeflatePair is newPair with permessage-deflate agreed in mode: the raw peer
// compresses with readBits, the Conn under test with writeBits. under, if not nil, wraps
// the Conn's end of the connection.
func newDeflatePair(t testing.TB, r role, rm readMode, opts *ws.ConnOptions, mode ws.CompressionMode, readBits, writeBits int, under func(net.Conn) net.Conn) (*ws.Conn, *rawPeer) {
	t.Helper()
	a, b := tcpPair(t)
	o := ws.ConnOptions{}
	if opts != nil {
		o = *opts
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = 2 * time.Second
	}
	var nc net.Conn = a
	if rm != readWhole {
		nc = chunkedConn{a, rm}
	}
	if under != nil {
		nc = under(nc)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	c := ws.NewCompressedConnForTest(nc, r == asClient, &o, mode, readBits, writeBits)
	if r == asClient {
		ws.SetMaskKeyForTest(c, key)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: r == asServer, key: key}
}

// rfcFrames parses frames written as in RFC 7692 §7.2.3, "c1 07 f2 48 …": a first byte,
// a 7-bit length and the payload, unmasked, for the peer to send (masking them if it is
// the client).
func (p *rawPeer) rfcFrames(s string) []byte {
	p.t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		p.t.Fatal(err)
	}
	var out []byte
	for len(b) > 0 {
		if len(b) < 2 || int(b[1]) > len(b)-2 || b[1] > 125 {
			p.t.Fatalf("bad frame in %q", s)
		}
		out = append(out, p.frame(b[0]&0x80 != 0, b[0]&0x70, b[0]&0x0f, b[2:2+b[1]])...)
		b = b[2+b[1]:]
	}
	return out
}

// deflateMessages compresses each message with compress/flate as a peer would (§7.2.1:
// sync flush, tail removed), keeping the window across them.
func deflateMessages(t testing.TB, msgs ...[]byte) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		buf.Reset()
		w.Write(m)
		w.Flush()
		c := buf.Bytes()
		if !bytes.HasSuffix(c, deflateTail) {
			t.Fatalf("compress/flate output % x does not end with a sync flush", c)
		}
		out = append(out, bytes.Clone(c[:len(c)-4]))
	}
	return out
}

// inflateMessage decompresses a message's payload as §7.2.2 says, given the window of the
// messages before (nil without context takeover).
func inflateMessage(payload, dict []byte) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(payload), bytes.NewReader(deflateTail), bytes.NewReader([]byte{0x01, 0x00, 0x00, 0xff, 0xff}))
	return io.ReadAll(flate.NewReaderDict(src, dict))
}

// deflateWireTests are raw frames in, messages and close codes out. The hex is written as
// in RFC 7692 §7.2.3: server frames, unmasked; the peer masks them when it is the client.
var deflateWireTests = []struct {
	name  string
	modes []ws.CompressionMode // nil for both deflateModes
	wire  []string
	want  []string      // messages read, in order
	pong  string        // a pong the Conn must send first, if not ""
	code  ws.StatusCode // the close code the Conn then fails with, 0 for none
}{
	{name: "§7.2.3.1 one compressed DEFLATE block", wire: []string{"c1 07 f2 48 cd c9 c9 07 00"}, want: []string{"Hello"}},
	{name: "§7.2.3.1 the same in two frames", wire: []string{"41 03 f2 48 cd", "80 04 c9 c9 07 00"}, want: []string{"Hello"}},
	{name: "§7.2.3.2 sharing the LZ77 window", modes: []ws.CompressionMode{ws.CompressionContextTakeover},
		wire: []string{"c1 07 f2 48 cd c9 c9 07 00", "c1 05 f2 00 11 00 00"}, want: []string{"Hello", "Hello"}},
	{name: "§7.2.3.2 no window to share without context takeover", modes: []ws.CompressionMode{ws.CompressionNoContextTakeover},
		wire: []string{"c1 07 f2 48 cd c9 c9 07 00", "c1 05 f2 00 11 00 00"}, want: []string{"Hello"}, code: ws.StatusInvalidFramePayload},
	{name: "§7.2.3.2 a message may share nothing, with context takeover", modes: []ws.CompressionMode{ws.CompressionContextTakeover},
		wire: []string{"c1 07 f2 48 cd c9 c9 07 00", "c1 07 f2 48 cd c9 c9 07 00"}, want: []string{"Hello", "Hello"}},
	{name: "§7.2.3.2 uncompressed messages are not in the window", modes: []ws.CompressionMode{ws.CompressionContextTakeover},
		wire: []string{"c1 07 f2 48 cd c9 c9 07 00", "81 05 57 6f 72 6c 64", "c1 05 f2 00 11 00 00"}, want: []string{"Hello", "World", "Hello"}},
	{name: "§7.2.3.3 a DEFLATE block with no compression", wire: []string{"c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00"}, want: []string{"Hello"}},
	{name: "§7.2.3.4 a DEFLATE block with BFINAL set", wire: []string{"c1 08 f3 48 cd c9 c9 07 00 00", "c1 07 f2 48 cd c9 c9 07 00"}, want: []string{"Hello", "Hello"}},
	{name: "§7.2.3.4 the window survives a BFINAL block", modes: []ws.CompressionMode{ws.CompressionContextTakeover},
		wire: []string{"c1 08 f3 48 cd c9 c9 07 00 00", "c1 05 f2 00 11 00 00"}, want: []string{"Hello", "Hello"}},
	{name: "§7.2.3.4 bytes after the final block are dropped", wire: []string{"c1 0a f3 48 cd c9 c9 07 00 00 ab cd", "81 02 6f 6b"}, want: []string{"Hello", "ok"}},
	{name: "§7.2.3.5 two DEFLATE blocks in one message", wire: []string{"c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00"}, want: []string{"Hello"}},
	{name: "§7.2.3.5 two blocks, split inside the sync marker", wire: []string{"41 05 f2 48 05 00 00", "00 02 00 ff", "80 06 ff ca c9 c9 07 00"}, want: []string{"Hello"}},
	{name: "§7.2.3.6 the empty message", wire: []string{"c1 01 00", "c1 01 00"}, want: []string{"", ""}},
	{name: "§7.2.3.6 an empty message between two, with takeover", modes: []ws.CompressionMode{ws.CompressionContextTakeover},
		wire: []string{"c1 07 f2 48 cd c9 c9 07 00", "c1 01 00", "c1 05 f2 00 11 00 00"}, want: []string{"Hello", "", "Hello"}},
	{name: "§7.2.2 tail appended after empty fragments", wire: []string{"41 00", "00 02 f2 48", "00 00", "00 01 cd", "00 03 c9 c9 07", "00 00", "80 01 00"}, want: []string{"Hello"}},
	{name: "§7.2.2 tail appended after a last empty frame", wire: []string{"41 07 f2 48 cd c9 c9 07 00", "80 00"}, want: []string{"Hello"}},
	{name: "§7.2.2 one byte per frame", wire: []string{"41 01 f2", "00 01 48", "00 01 cd", "00 01 c9", "00 01 c9", "00 01 07", "80 01 00"}, want: []string{"Hello"}},
	{name: "§6 RSV1 clear: not compressed", wire: []string{"81 05 48 65 6c 6c 6f", "82 00"}, want: []string{"Hello", ""}},
	{name: "§6 RSV1 binary message", wire: []string{"c2 07 f2 48 cd c9 c9 07 00"}, want: []string{"Hello"}},
	{name: "RFC 6455 §5.4 a ping between compressed fragments", wire: []string{"41 03 f2 48 cd", "89 02 68 69", "80 04 c9 c9 07 00"}, want: []string{"Hello"}, pong: "hi"},

	// §6.1: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control frames
	// and non-first fragments of a data message"; RFC 6455 §5.2: other RSV bits without
	// an extension defining them fail the connection.
	{name: "§6.1 RSV1 on a continuation frame", wire: []string{"41 03 f2 48 cd", "c0 04 c9 c9 07 00"}, code: ws.StatusProtocolError},
	{name: "§6.1 RSV1 on a continuation of an uncompressed message", wire: []string{"01 02 48 65", "c0 03 6c 6c 6f"}, code: ws.StatusProtocolError},
	{name: "§6.1 RSV1 on a ping", wire: []string{"c9 00"}, code: ws.StatusProtocolError},
	{name: "§6.1 RSV1 on a pong", wire: []string{"ca 00"}, code: ws.StatusProtocolError},
	{name: "§6.1 RSV1 on a close", wire: []string{"c8 02 03 e8"}, code: ws.StatusProtocolError},
	{name: "§6.1 RSV1 on a ping inside a message", wire: []string{"41 03 f2 48 cd", "c9 00"}, code: ws.StatusProtocolError},
	{name: "§6 RSV2 with deflate agreed", wire: []string{"a1 05 48 65 6c 6c 6f"}, code: ws.StatusProtocolError},
	{name: "§6 RSV3 with deflate agreed", wire: []string{"91 05 48 65 6c 6c 6f"}, code: ws.StatusProtocolError},
	{name: "§6 RSV1 and RSV2", wire: []string{"e1 07 f2 48 cd c9 c9 07 00"}, code: ws.StatusProtocolError},
	{name: "§6 RSV1 without deflate agreed", modes: []ws.CompressionMode{ws.CompressionDisabled},
		wire: []string{"c1 07 f2 48 cd c9 c9 07 00"}, code: ws.StatusProtocolError},

	// §7.2.2: what does not decompress is invalid frame payload data (RFC 6455 §7.4.1).
	{name: "§7.2.2 reserved block type", wire: []string{"c1 03 ff ff ff"}, code: ws.StatusInvalidFramePayload},
	{name: "§7.2.2 stored block with bad NLEN", wire: []string{"c1 0b 00 05 00 fa fe 48 65 6c 6c 6f 00"}, code: ws.StatusInvalidFramePayload},
	{name: "§7.2.2 distance before the start of the data", wire: []string{"c1 05 f2 00 11 00 00"}, code: ws.StatusInvalidFramePayload},
	// An RSV1 message with no payload at all lacks even the block header that a sync
	// flush leaves (the empty message is "00", §7.2.3.6).
	{name: "§7.2.2 no DEFLATE data at all", wire: []string{"c1 00"}, code: ws.StatusInvalidFramePayload},
	{name: "§7.2.2 invalid data after a valid message", wire: []string{"c1 07 f2 48 cd c9 c9 07 00", "c1 03 ff ff ff"}, want: []string{"Hello"}, code: ws.StatusInvalidFramePayload},
	// RFC 6455 §8.1: a text message is checked once decompressed.
	{name: "§8.1 decompressed text not UTF-8", wire: []string{"c1 08 00 02 00 fd ff ff fe 00"}, code: ws.StatusInvalidFramePayload},
}

// expectDeflateFailed expects the Conn under test to fail the connection with code: its close
// frame, the end of the TCP connection (after which the peer hangs up too, as a client
// does once the server has closed, RFC 6455 §7.1.1), and a *ws.ProtocolError from its read.
func expectDeflateFailed(t testing.TB, p *rawPeer, results <-chan result, code ws.StatusCode) {
	t.Helper()
	p.expectClose(code)
	p.nc.Close()
	wantProtocolError(t, next(t, results).err, code)
}

// TestDeflateWire feeds every row to a server and a client Conn, reading whole, a byte at
// a time and in halves.
func TestDeflateWire(t *testing.T) {
	for _, tt := range deflateWireTests {
		modes := tt.modes
		if modes == nil {
			modes = deflateModes
		}
		for _, mode := range modes {
			for _, r := range roles {
				for _, rm := range readModes {
					t.Run(fmt.Sprintf("%s/%v/%v/%v", tt.name, mode, r, rm), func(t *testing.T) {
						t.Parallel()
						c, p := newDeflatePair(t, r, rm, nil, mode, 15, 15, nil)
						results := readAll(context.Background(), c)
						for _, w := range tt.wire {
							p.write(p.rfcFrames(w))
						}
						if tt.pong != "" {
							if f := p.mustReadFrame(); f.opcode != 0xA || string(f.payload) != tt.pong || f.rsv != 0 {
								t.Fatalf("got frame %+v; want a pong %q", f, tt.pong)
							}
						}
						for i, want := range tt.want {
							res := next(t, results)
							if res.err != nil || string(res.msg) != want {
								t.Fatalf("message %d: %q, %v; want %q", i, res.msg, res.err, want)
							}
						}
						if tt.code == 0 {
							return
						}
						expectDeflateFailed(t, p, results, tt.code)
					})
				}
			}
		}
	}
}

// TestDeflateWriteRFC7692 checks the bytes the writer produces for "Hello" (§7.2.3.1), with
// every window, and the second "Hello": with context takeover it refers to the first
// (§7.2.3.2) and decodes given it; without, it is the same bytes again.
func TestDeflateWriteRFC7692(t *testing.T) {
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	for _, mode := range deflateModes {
		for _, r := range roles {
			for _, bits := range []int{8, 9, 15} {
				t.Run(fmt.Sprintf("%v/%v/%d", mode, r, bits), func(t *testing.T) {
					c, p := newDeflatePair(t, r, readWhole, nil, mode, 15, bits, nil)
					ctx := context.Background()
					for i := range 3 {
						if err := c.WriteCompressed(ctx, ws.MessageText, []byte("Hello"), true); err != nil {
							t.Fatal(err)
						}
						f := p.mustReadFrame()
						if !f.fin || f.rsv != 0x40 || f.opcode != 0x1 {
							t.Fatalf("frame %+v; want FIN, RSV1, text", f)
						}
						switch {
						case i == 0 || mode == ws.CompressionNoContextTakeover:
							if !bytes.Equal(f.payload, hello) {
								t.Fatalf("message %d: % x; want % x", i, f.payload, hello)
							}
						default:
							got, err := inflateMessage(f.payload, []byte(strings.Repeat("Hello", i)))
							if err != nil || string(got) != "Hello" || len(f.payload) >= len(hello) {
								t.Fatalf("message %d: % x decodes to %q, %v; want a shorter \"Hello\"", i, f.payload, got, err)
							}
						}
					}
					// Below the threshold (128 bytes by default), Write does not compress.
					if err := c.Write(ctx, ws.MessageText, []byte("Hello")); err != nil {
						t.Fatal(err)
					}
					if f := p.mustReadFrame(); f.rsv != 0 || string(f.payload) != "Hello" {
						t.Fatalf("frame %+v; want \"Hello\" uncompressed", f)
					}
				})
			}
		}
	}
}

// TestDeflateWriteThreshold checks the default threshold of Write (128 bytes) and that
// WriteCompressed decides whatever the size.
func TestDeflateWriteThreshold(t *testing.T) {
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newDeflatePair(t, r, readWhole, nil, ws.CompressionContextTakeover, 15, 15, nil)
			ctx := context.Background()
			for _, tt := range []struct {
				n        int
				compress int // -1 Write, 0/1 WriteCompressed false/true
				rsv      byte
			}{{127, -1, 0}, {128, -1, 0x40}, {5000, -1, 0x40}, {5000, 0, 0}, {1, 1, 0x40}, {0, 1, 0x40}} {
				msg := bytes.Repeat([]byte("a"), tt.n)
				var err error
				if tt.compress < 0 {
					err = c.Write(ctx, ws.MessageBinary, msg)
				} else {
					err = c.WriteCompressed(ctx, ws.MessageBinary, msg, tt.compress == 1)
				}
				if err != nil {
					t.Fatal(err)
				}
				f := p.mustReadFrame()
				if f.rsv != tt.rsv {
					t.Fatalf("%d bytes (%d): RSV %#x; want %#x", tt.n, tt.compress, f.rsv, tt.rsv)
				}
			}
		})
	}
}

// readMessageFrames reads the frames of one data message from the Conn under test and
// returns its payload, checking that only the first frame has RSV1 (§6.1).
func (p *rawPeer) readMessageFrames() (op byte, rsv1 bool, payload []byte, frames int) {
	p.t.Helper()
	for {
		f := p.mustReadFrame()
		if f.opcode >= 0x8 {
			continue // control frames may come between
		}
		if frames == 0 {
			op, rsv1 = f.opcode, f.rsv == 0x40
			if f.rsv&^0x40 != 0 {
				p.t.Fatalf("first frame with RSV %#x", f.rsv)
			}
		} else if f.rsv != 0 || f.opcode != 0 {
			p.t.Fatalf("frame %d: RSV %#x, opcode %#x; want a plain continuation (§6.1)", frames, f.rsv, f.opcode)
		}
		frames++
		payload = append(payload, f.payload...)
		if f.fin {
			return op, rsv1, payload, frames
		}
	}
}

// deflatePayload returns a message of n bytes: text-like and compressible, or random.
func deflatePayload(n int, random bool, seed uint64) []byte {
	b := make([]byte, n)
	if random {
		rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(n), byte(n >> 8), byte(n >> 16)}).Read(b)
		return b
	}
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	words := []string{"websocket ", "deflate ", "message ", "context ", "window ", "{\"id\":", "42, ", "\"name\": \"duplex\"}\n"}
	for i := 0; i < n; {
		i += copy(b[i:], words[r.IntN(len(words))])
	}
	return b
}

// TestDeflateWriteTail checks what the writer sends, decoded independently with
// compress/flate: each message's payload, from Write and from a Writer streaming in small
// frames, has the §7.2.1 tail removed (it never ends with 00 00 ff ff: the empty stored
// block's header bits are its last byte) and decompresses once it is appended (§7.2.2),
// with the window of the messages before only under context takeover, limited to the
// negotiated window bits.
func TestDeflateWriteTail(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 4, 5, 10, 127, 128, 1000, 4096, 65535, 65536, 200000}
	for _, mode := range deflateModes {
		for _, r := range roles {
			for _, bits := range []int{8, 9, 15} {
				t.Run(fmt.Sprintf("%v/%v/%d", mode, r, bits), func(t *testing.T) {
					t.Parallel()
					c, p := newDeflatePair(t, r, readWhole, &ws.ConnOptions{WriteBufferSize: 512}, mode, 15, bits, nil)
					var msgs [][]byte
					for i, n := range sizes {
						msgs = append(msgs, deflatePayload(n, i%3 == 2, uint64(i)))
					}
					errc := make(chan error, 1)
					go func() {
						ctx := context.Background()
						for i, m := range msgs {
							if i%2 == 1 {
								w, err := c.Writer(ctx, ws.MessageBinary)
								if err != nil {
									errc <- err
									return
								}
								for q := m; len(q) > 0; q = q[min(len(q), 700):] {
									w.Write(q[:min(len(q), 700)])
								}
								if err := w.Close(); err != nil {
									errc <- err
									return
								}
							} else if err := c.WriteCompressed(ctx, ws.MessageBinary, m, true); err != nil {
								errc <- err
								return
							}
						}
						errc <- nil
					}()
					var window []byte
					for i, m := range msgs {
						_, rsv1, payload, frames := p.readMessageFrames()
						if !rsv1 {
							t.Fatalf("message %d of %d bytes not compressed", i, len(m))
						}
						if bytes.HasSuffix(payload, deflateTail) {
							t.Errorf("message %d of %d bytes ends with 00 00 ff ff (§7.2.1)", i, len(m))
						}
						got, err := inflateMessage(payload, window)
						if err != nil || !bytes.Equal(got, m) {
							t.Fatalf("message %d of %d bytes in %d frames: decoded %d bytes, %v", i, len(m), frames, len(got), err)
						}
						if mode == ws.CompressionContextTakeover {
							window = append(window, m...)
							window = window[max(0, len(window)-1<<bits):]
						}
					}
					if err := <-errc; err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// TestDeflateTakeoverReadsOwnWindow sends, with context takeover, messages compressed by
// compress/flate with its 32 KiB window: a Conn reading 15 window bits decodes them all,
// each referring to the ones before.
func TestDeflateTakeoverReadsOwnWindow(t *testing.T) {
	var msgs [][]byte
	for i := range 20 {
		msgs = append(msgs, deflatePayload(100+i*997, false, 3))
	}
	compressed := deflateMessages(t, msgs...)
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newDeflatePair(t, r, readHalf, nil, ws.CompressionContextTakeover, 15, 15, nil)
			results := readAll(context.Background(), c)
			for _, m := range compressed {
				p.write(p.frame(true, 0x40, 0x2, m))
			}
			for i, m := range msgs {
				if res := next(t, results); res.err != nil || !bytes.Equal(res.msg, m) {
					t.Fatalf("message %d: %d bytes, %v", i, len(res.msg), res.err)
				}
			}
		})
	}
}

// TestDeflateUTF8FailFast checks that invalid UTF-8 in a compressed text message fails the
// connection with 1007 as soon as the bad bytes are decompressed, before the message ends
// (RFC 6455 §8.1), also when a sequence is cut between frames.
func TestDeflateUTF8FailFast(t *testing.T) {
	tests := []struct {
		name  string
		parts []string // each compressed and flushed into one frame of an unfinished message
		fin   bool
	}{
		{"invalid byte in the second frame", []string{"hello ", "\xff wor"}, false},
		{"sequence cut between frames, then invalid", []string{"hello \xe2\x82", "\x28"}, false},
		{"overlong encoding", []string{"\xc0\xaf"}, false},
		{"surrogate", []string{"ok", "\xed\xa0\x80"}, false},
		{"message ends inside a sequence", []string{"hello \xe2\x82"}, true},
	}
	for _, tt := range tests {
		for _, r := range roles {
			for _, mode := range deflateModes {
				t.Run(fmt.Sprintf("%s/%v/%v", tt.name, r, mode), func(t *testing.T) {
					t.Parallel()
					c, p := newDeflatePair(t, r, readWhole, nil, mode, 15, 15, nil)
					results := readAll(context.Background(), c)
					var buf bytes.Buffer
					w, _ := flate.NewWriter(&buf, 6)
					for i, part := range tt.parts {
						buf.Reset()
						w.Write([]byte(part))
						w.Flush()
						payload := buf.Bytes()
						last := tt.fin && i == len(tt.parts)-1
						if last {
							payload = payload[:len(payload)-4]
						}
						op, rsv := byte(0x0), byte(0)
						if i == 0 {
							op, rsv = 0x1, 0x40
						}
						p.write(p.frame(last, rsv, op, payload))
					}
					// The message never ends (unless fin): the error must come anyway.
					expectDeflateFailed(t, p, results, ws.StatusInvalidFramePayload)
				})
			}
		}
	}
}

// TestDeflateLimit checks the read limit on compressed messages: it applies to the
// decompressed size, across frames, and a frame whose compressed size alone is over it
// (with a margin for stored blocks) fails at its header, before its payload arrives.
func TestDeflateLimit(t *testing.T) {
	const limit = 1000
	atLimit := deflateMessages(t, bytes.Repeat([]byte("a"), limit))[0]
	overLimit := deflateMessages(t, bytes.Repeat([]byte("a"), limit+1))[0]
	tests := []struct {
		name   string
		frames [][]byte // encoded by the peer
		ok     bool
	}{
		{"at the limit", [][]byte{{0xc2}, atLimit}, true},
		{"one byte over, decompressed", [][]byte{{0xc2}, overLimit}, false},
		{"over across frames", [][]byte{{0x42}, overLimit[:2], {0x00}, overLimit[2:4], {0x80}, overLimit[4:]}, false},
	}
	for _, r := range roles {
		for _, mode := range deflateModes {
			for _, tt := range tests {
				t.Run(fmt.Sprintf("%s/%v/%v", tt.name, r, mode), func(t *testing.T) {
					c, p := newDeflatePair(t, r, readWhole, &ws.ConnOptions{ReadLimit: limit}, mode, 15, 15, nil)
					results := readAll(context.Background(), c)
					for i := 0; i < len(tt.frames); i += 2 {
						b0 := tt.frames[i][0]
						p.write(p.frame(b0&0x80 != 0, b0&0x70, b0&0x0f, tt.frames[i+1]))
					}
					if tt.ok {
						if res := next(t, results); res.err != nil || len(res.msg) != limit {
							t.Fatalf("%d bytes, %v", len(res.msg), res.err)
						}
						return
					}
					expectDeflateFailed(t, p, results, ws.StatusMessageTooBig)
				})
			}
			// The header announces more compressed bytes than any message within the
			// limit needs: 1009 at once, with no payload sent.
			t.Run(fmt.Sprintf("compressed frame over the limit/%v/%v", r, mode), func(t *testing.T) {
				c, p := newDeflatePair(t, r, readWhole, &ws.ConnOptions{ReadLimit: limit}, mode, 15, 15, nil)
				results := readAll(context.Background(), c)
				hdr := p.frame(true, 0x40, 0x2, make([]byte, 4096))
				p.write(hdr[:len(hdr)-4096])
				expectDeflateFailed(t, p, results, ws.StatusMessageTooBig)
			})
		}
	}
}

// deflateBomb returns a compressed message of 64 MiB + 32 KiB of zeros, about 64 KiB long:
// a block of 32 KiB, then 64 times the same run of blocks, each 1 MiB of zeros that refers
// only to the zeros before.
var deflateBomb = sync.OnceValues(func() ([]byte, int) {
	zeros := make([]byte, 1<<20)
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestCompression)
	w.Write(zeros[:32<<10])
	w.Flush()
	var run bytes.Buffer
	wr, _ := flate.NewWriterDict(&run, flate.BestCompression, zeros[:32<<10])
	wr.Write(zeros)
	wr.Flush()
	for range 64 {
		out.Write(run.Bytes())
	}
	b := out.Bytes()
	return b[:len(b)-len(deflateTail)], 64<<20 + 32<<10
})

// countingConn counts the bytes the Conn under test read before it first wrote, which
// for a Conn that only reads is what it had read when it failed the connection.
type countingConn struct {
	net.Conn
	read, readBeforeWrite atomic.Int64
	wrote                 atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	if !c.wrote.Load() {
		c.readBeforeWrite.Store(c.read.Load())
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(p)
}

// TestDeflateBomb sends 64 MiB of zeros compressed into about 64 KiB to a Conn with a
// 1 MiB read limit: Read and Reader fail with 1009, having delivered no more than the
// limit. Reader, which streams a message in frames, has also decompressed at most the limit
// and one decompressor window (32 KiB) more, measured by the compressed bytes the Conn had
// read when it failed (less what its read buffer may hold unused). Read takes a message of
// one frame whole: it reads the compressed payload, within the read limit as every payload
// is, and its decoder stops at the limit (internal/deflate's TestInflateLimit).
func TestDeflateBomb(t *testing.T) {
	const limit = 1 << 20
	bomb, size := deflateBomb()
	t.Logf("bomb: %d bytes decompress to %d", len(bomb), size)
	for _, r := range roles {
		for _, rm := range []readMode{readWhole, readOneByte} {
			for _, reader := range []bool{false, true} {
				api := "Read"
				if reader {
					api = "Reader"
				}
				t.Run(fmt.Sprintf("%v/%v/%s", r, rm, api), func(t *testing.T) {
					t.Parallel()
					var cc *countingConn
					c, p := newDeflatePair(t, r, rm, &ws.ConnOptions{ReadLimit: limit, ReadBufferSize: 512}, ws.CompressionContextTakeover, 15, 15,
						func(nc net.Conn) net.Conn { cc = &countingConn{Conn: nc}; return cc })
					var wire []byte
					if reader {
						// In frames of 4 KiB.
						for i := 0; i < len(bomb); i += 4096 {
							op, rsv := byte(0x0), byte(0)
							if i == 0 {
								op, rsv = 0x2, 0x40
							}
							wire = append(wire, p.frame(i+4096 >= len(bomb), rsv, op, bomb[i:min(i+4096, len(bomb))])...)
						}
					} else {
						wire = p.frame(true, 0x40, 0x2, bomb)
					}
					sent := p.writeAsync(wire)
					type result struct {
						got int64
						err error
					}
					done := make(chan result, 1)
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						defer cancel()
						var res result
						if reader {
							var rd io.Reader
							if _, rd, res.err = c.Reader(ctx); res.err == nil {
								res.got, res.err = io.Copy(io.Discard, rd)
							}
						} else {
							var msg []byte
							_, msg, res.err = c.Read(ctx)
							res.got = int64(len(msg))
						}
						done <- res
					}()
					p.expectClose(ws.StatusMessageTooBig)
					p.nc.Close()
					res := interopRecv(t, done, "the read's end")
					wantProtocolError(t, res.err, ws.StatusMessageTooBig)
					if res.got > limit {
						t.Errorf("%d bytes delivered past the limit of %d", res.got, limit)
					}
					if !reader {
						<-sent
						return
					}
					// What the compressed bytes read decompress to bounds the work done.
					consumed := int(cc.readBeforeWrite.Load()) - 14 // less a header
					consumed -= 14 * (consumed / 4096)              // and a header per frame
					if rm == readWhole {
						consumed -= 512 // less a read buffer read ahead
					}
					out, _ := io.Copy(io.Discard, flate.NewReader(bytes.NewReader(bomb[:max(0, min(consumed, len(bomb)))])))
					if out > limit+64<<10 {
						t.Errorf("the Conn read %d compressed bytes, %d decompressed, before failing; want at most %d", consumed, out, limit+64<<10)
					}
					t.Logf("read %d compressed bytes (%d decompressed) before failing", cc.readBeforeWrite.Load(), out)
					<-sent
				})
			}
		}
	}
}
