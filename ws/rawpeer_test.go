package ws_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// This file is the harness of the conformance tests: a Conn under test on one end of a
// loopback TCP connection, and on the other a rawPeer that writes and reads frames byte
// for byte, so that tests say exactly what goes over the wire.

// role is the role of the Conn under test.
type role int

const (
	asServer role = iota
	asClient
)

func (r role) String() string {
	if r == asServer {
		return "server"
	}
	return "client"
}

var roles = []role{asServer, asClient}

// readMode decides how the Conn under test receives its bytes from the network.
type readMode int

const (
	readWhole   readMode = iota // whatever the kernel has
	readOneByte                 // one byte per read
	readHalf                    // half of what the caller asks for per read

	// Modes of the echoing Conn of startEcho and echo, which then reads with Serve.
	readServe     // whatever the kernel has (on Unix, Serve's own read path)
	readServeHalf // half of what the caller asks for per read (Serve's fallback)
)

func (m readMode) String() string {
	return [...]string{"whole", "one-byte", "half", "serve", "serve-half"}[m]
}

var readModes = []readMode{readWhole, readOneByte, readHalf}

// echoModes are the modes of the tests whose Conn under test echoes (startEcho, echo):
// every read mode, and Serve's.
var echoModes = append(readModes[:len(readModes):len(readModes)], readServe, readServeHalf)

// served holds the Conns under test made in a Serve mode: startEcho and echo read them
// with Serve.
var served sync.Map // *ws.Conn → struct{}

// chunkedConn hands the Conn under test its bytes in small pieces.
type chunkedConn struct {
	net.Conn
	mode readMode
}

func (c chunkedConn) Read(p []byte) (int, error) {
	switch c.mode {
	case readOneByte:
		if len(p) > 1 {
			p = p[:1]
		}
	case readHalf:
		if len(p) > 1 {
			p = p[:len(p)/2]
		}
	}
	return c.Conn.Read(p)
}

// rawPeer is the far end of a connection under test.
type rawPeer struct {
	t      testing.TB
	nc     net.Conn
	br     *bufio.Reader
	client bool // the peer plays the client, so it masks what it sends
	key    [4]byte
}

// wireFrame is a frame as read off the wire, unmasked.
type wireFrame struct {
	fin     bool
	rsv     byte
	opcode  byte
	masked  bool
	payload []byte
}

// newPair returns a Conn under test in role r, reading through mode, connected over
// loopback TCP to a raw peer. Both are closed when the test ends.
func newPair(t testing.TB, r role, mode readMode, opts *ws.ConnOptions) (*ws.Conn, *rawPeer) {
	t.Helper()
	a, b := tcpPair(t)
	if opts == nil {
		opts = &ws.ConnOptions{}
	}
	if opts.CloseTimeout == 0 {
		o := *opts
		o.CloseTimeout = 2 * time.Second
		opts = &o
	}
	var under net.Conn = a
	switch mode {
	case readWhole, readServe:
	case readServeHalf:
		under = chunkedConn{a, readHalf}
	default:
		under = chunkedConn{a, mode}
	}
	c := ws.NewConnForTest(under, r == asClient, opts)
	if mode == readServe || mode == readServeHalf {
		served.Store(c, struct{}{})
		t.Cleanup(func() { served.Delete(c) })
	}
	if r == asClient {
		ws.SetMaskKeyForTest(c, [4]byte{0x37, 0xfa, 0x21, 0x3d})
	}
	p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: r == asServer, key: [4]byte{0x37, 0xfa, 0x21, 0x3d}}
	t.Cleanup(func() { c.CloseNow() })
	return c, p
}

// tcpPair returns the two ends of a loopback TCP connection, closed when the test ends.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		a.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// frame encodes a frame as the peer would send it: masked if the peer is the client.
// rsv holds the RSV bits in place (0x40, 0x20, 0x10).
func (p *rawPeer) frame(fin bool, rsv, opcode byte, payload []byte) []byte {
	return encodeFrame(fin, rsv, opcode, payload, p.client, p.key)
}

// encodeFrame encodes a frame independently of the library, from RFC 6455 §5.2.
func encodeFrame(fin bool, rsv, opcode byte, payload []byte, masked bool, key [4]byte) []byte {
	b0 := rsv | opcode
	if fin {
		b0 |= 0x80
	}
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, maskBit|byte(n))
	case n <= 0xFFFF:
		out = append(out, maskBit|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, maskBit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if masked {
		out = append(out, key[:]...)
		for i, c := range payload {
			out = append(out, c^key[i%4])
		}
		return out
	}
	return append(out, payload...)
}

// send writes a frame.
func (p *rawPeer) send(fin bool, opcode byte, payload []byte) {
	p.t.Helper()
	p.write(p.frame(fin, 0, opcode, payload))
}

// write writes raw bytes.
func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("raw peer write: %v", err)
	}
}

// writeAsync writes raw bytes from a goroutine, for payloads too large to write before the
// Conn under test starts reading. The returned channel yields the write's error.
func (p *rawPeer) writeAsync(b []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		p.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := p.nc.Write(b)
		done <- err
	}()
	return done
}

// readFrame reads one frame sent by the Conn under test, checking the masking rule of
// RFC 6455 §5.1 for its role.
func (p *rawPeer) readFrame() (wireFrame, error) {
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(p.br, h[:]); err != nil {
		return wireFrame{}, err
	}
	f := wireFrame{fin: h[0]&0x80 != 0, rsv: h[0] & 0x70, opcode: h[0] & 0x0F, masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(p.br, l[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(p.br, l[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(p.br, key[:]); err != nil {
			return f, err
		}
	}
	if n > 64<<20 {
		return f, fmt.Errorf("frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(p.br, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	if f.masked != !p.client {
		return f, fmt.Errorf("frame masked=%v from a %s (RFC 6455 §5.1)", f.masked, map[bool]string{true: "client", false: "server"}[!p.client])
	}
	return f, nil
}

// mustReadFrame reads a frame and fails the test on error.
func (p *rawPeer) mustReadFrame() wireFrame {
	p.t.Helper()
	f, err := p.readFrame()
	if err != nil {
		p.t.Fatalf("raw peer: reading a frame: %v", err)
	}
	return f
}

// expectClose reads frames until a close frame, which must carry code (1005 meaning no
// payload at all), then expects the Conn under test to end the TCP connection. Data
// frames before the close frame fail the test unless allowData.
func (p *rawPeer) expectClose(code ws.StatusCode) {
	p.t.Helper()
	for {
		f, err := p.readFrame()
		if err != nil {
			p.t.Fatalf("raw peer: want close frame with %d, got error %v", code, err)
		}
		if f.opcode != 0x8 {
			p.t.Fatalf("raw peer: want close frame with %d, got opcode %#x (%d bytes)", code, f.opcode, len(f.payload))
		}
		got := ws.StatusNoStatusRcvd
		if len(f.payload) >= 2 {
			got = ws.StatusCode(binary.BigEndian.Uint16(f.payload))
		}
		if got != code {
			p.t.Fatalf("raw peer: close code %d (reason %q), want %d", got, f.payload[min(2, len(f.payload)):], code)
		}
		break
	}
	p.expectEOF()
}

// expectEOF expects the Conn under test to close the TCP connection with nothing more
// sent. It answers a close handshake first, as a well-behaved peer would.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	// Echo a close frame so that a Conn waiting for the handshake finishes at once;
	// the write fails harmlessly if the Conn has already gone.
	p.nc.SetWriteDeadline(time.Now().Add(time.Second))
	p.nc.Write(p.frame(true, 0, 0x8, nil))
	if !p.client {
		// §7.1.1: the server closes the TCP connection first; a client under test waits
		// for it.
		p.nc.(*net.TCPConn).CloseWrite()
	}
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	n, err := p.br.Read(b[:])
	if n > 0 {
		p.t.Fatalf("raw peer: want the connection closed, got byte %#x", b[0])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		p.t.Fatalf("raw peer: the Conn under test did not close the connection")
	}
}

// result is what a Read on the Conn under test returned.
type result struct {
	typ ws.MessageType
	msg []byte
	err error
}

// readAll reads messages from c on a goroutine until an error, sending each result.
func readAll(ctx context.Context, c *ws.Conn) <-chan result {
	out := make(chan result, 64)
	go func() {
		defer close(out)
		for {
			typ, msg, err := c.Read(ctx)
			out <- result{typ, msg, err}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// next returns the next result within ten seconds.
func next(t testing.TB, results <-chan result) result {
	t.Helper()
	select {
	case r, ok := <-results:
		if !ok {
			t.Fatal("reader ended")
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10s")
	}
	panic("unreachable")
}

// wantProtocolError checks that err is a *ws.ProtocolError with the given code.
func wantProtocolError(t testing.TB, err error, code ws.StatusCode) {
	t.Helper()
	var pe *ws.ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v, want a *ws.ProtocolError with code %d", err, code)
	}
	if pe.Code != code {
		t.Fatalf("got %v, want code %d", err, code)
	}
}

// TestHarness checks the harness itself on the RFC 6455 §5.7 examples.
func TestHarness(t *testing.T) {
	// §5.7: a single-frame unmasked text message "Hello".
	if got := encodeFrame(true, 0, 0x1, []byte("Hello"), false, [4]byte{}); string(got) != "\x81\x05\x48\x65\x6c\x6c\x6f" {
		t.Errorf("unmasked Hello: % x", got)
	}
	// §5.7: a single-frame masked text message "Hello".
	if got := encodeFrame(true, 0, 0x1, []byte("Hello"), true, [4]byte{0x37, 0xfa, 0x21, 0x3d}); string(got) != "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58" {
		t.Errorf("masked Hello: % x", got)
	}
	for _, r := range roles {
		for _, m := range readModes {
			t.Run(r.String()+"/"+m.String(), func(t *testing.T) {
				c, p := newPair(t, r, m, nil)
				ctx := context.Background()
				results := readAll(ctx, c)
				p.send(true, 0x1, []byte("Hello"))
				if res := next(t, results); res.err != nil || string(res.msg) != "Hello" || res.typ != ws.MessageText {
					t.Fatalf("got %v %q %v", res.typ, res.msg, res.err)
				}
				if err := c.Write(ctx, ws.MessageBinary, []byte("Hi")); err != nil {
					t.Fatal(err)
				}
				if f := p.mustReadFrame(); !f.fin || f.opcode != 0x2 || string(f.payload) != "Hi" {
					t.Fatalf("got frame %+v", f)
				}
				// §7.1.2: the peer starts the closing handshake; the Conn echoes the code.
				p.send(true, 0x8, []byte{0x03, 0xe8})
				p.expectClose(ws.StatusNormalClosure)
				if res := next(t, results); ws.CloseStatus(res.err) != ws.StatusNormalClosure {
					t.Fatalf("got %v", res.err)
				}
			})
		}
	}
}

// writeInChunks sends msg as one message through c.Writer, in Writes of chunk bytes.
func writeInChunks(ctx context.Context, c *ws.Conn, typ ws.MessageType, msg []byte, chunk int) error {
	w, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	for p := msg; len(p) > 0 && err == nil; p = p[min(chunk, len(p)):] {
		_, err = w.Write(p[:min(chunk, len(p))])
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}
