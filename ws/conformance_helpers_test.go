package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/duplex-ws/duplex/ws"
)

// Helpers of the conformance tests of UTF-8, closing and pings (conformance_utf8_test.go,
// conformance_close_test.go, ping_test.go), on top of the raw peer of rawpeer_test.go:
// an echoing Conn, the peer's expectations of echoes, pongs, close frames and failed
// connections, and a net.Pipe pair for synctest bubbles.

// echo reads messages from c and writes each back, as the Autobahn test server does. The
// returned channel yields the error that ended reading.
func echo(c *ws.Conn) <-chan error {
	errc := make(chan error, 1)
	if _, ok := served.Load(c); ok {
		go func() { errc <- serveEcho(c) }()
		return errc
	}
	go func() {
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				errc <- err
				return
			}
			c.Write(ctx, typ, msg) // a failed write shows in the next Read
		}
	}()
	return errc
}

// serveEcho is echo's loop for a Conn made in a Serve mode: Serve, writing every message
// back from its handler. It returns the error that ended Serve.
func serveEcho(c *ws.Conn) error {
	ctx := context.Background()
	return c.Serve(ctx, 0, func(typ ws.MessageType, p []byte) error {
		c.Write(ctx, typ, p) // a failed write shows in what ends Serve
		return nil
	})
}

// readErr returns the error that ended the echo loop, within ten seconds.
func readErr(t testing.TB, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the Conn under test did not stop reading within 10s")
	}
	return nil
}

// expectEcho expects the Conn under test to send text back as one text frame.
func (p *rawPeer) expectEcho(text []byte) {
	p.t.Helper()
	f := p.mustReadFrame()
	if f.opcode != 0x1 || !f.fin || !bytes.Equal(f.payload, text) {
		p.t.Fatalf("want the echo of % x, got fin=%v opcode=%#x payload % x", text, f.fin, f.opcode, f.payload)
	}
}

// probe sends a ping and expects its pong as the next frame: proof that the Conn under
// test has processed everything sent before, without failing the connection.
func (p *rawPeer) probe(payload string) {
	p.t.Helper()
	p.send(true, 0x9, []byte(payload))
	f, err := p.readFrameWithin(failFastWithin)
	if err != nil {
		p.t.Fatalf("want pong %q, got error %v", payload, err)
	}
	if f.opcode != 0xA || string(f.payload) != payload {
		code := -1
		if f.opcode == 0x8 && len(f.payload) >= 2 {
			code = int(binary.BigEndian.Uint16(f.payload))
		}
		p.t.Fatalf("want pong %q, got opcode %#x payload %q (close code %d)", payload, f.opcode, f.payload, code)
	}
}

// failFastWithin bounds the wait for a close frame that must arrive before the peer sends
// anything more. A conforming Conn sends it within milliseconds; Autobahn waits 1 s before
// sending its next part.
const failFastWithin = 3 * time.Second

// readFrameWithin is readFrame with a deadline of d rather than ten seconds.
func (p *rawPeer) readFrameWithin(d time.Duration) (wireFrame, error) {
	timer := time.AfterFunc(d, func() { p.nc.SetReadDeadline(time.Now()) })
	defer timer.Stop()
	return p.readFrame()
}

// expectFail expects the Conn under test to fail the connection (RFC 6455 §7.1.7): its next
// frame must be a close frame with code. The peer then sends rest, which the Conn must not
// process, and expects the TCP connection to end. The Conn's reader must have stopped with
// a *ws.ProtocolError carrying code.
func (p *rawPeer) expectFail(errc <-chan error, code ws.StatusCode, rest []byte) {
	p.t.Helper()
	f, err := p.readFrameWithin(failFastWithin)
	if err != nil {
		p.t.Fatalf("want a close frame with %d, got error %v", code, err)
	}
	if f.opcode != 0x8 || len(f.payload) < 2 || ws.StatusCode(binary.BigEndian.Uint16(f.payload)) != code {
		p.t.Fatalf("want a close frame with %d, got opcode %#x payload % x", code, f.opcode, f.payload)
	}
	if !utf8.Valid(f.payload[2:]) {
		p.t.Fatalf("close reason % x is not UTF-8", f.payload[2:])
	}
	if len(rest) > 0 {
		// The Conn may have closed already; the write may fail.
		p.nc.SetWriteDeadline(time.Now().Add(time.Second))
		p.nc.Write(rest)
	}
	p.expectEOF()
	p.nc.Close()
	wantProtocolError(p.t, readErr(p.t, errc), code)
}

// closeNormally ends a connection whose Conn is echoing: the peer starts the closing
// handshake (§7.1.2) and expects the echo of its code (§5.5.1).
func (p *rawPeer) closeNormally(errc <-chan error) {
	p.t.Helper()
	p.send(true, 0x8, []byte{0x03, 0xe8})
	p.expectClose(ws.StatusNormalClosure)
	p.nc.Close()
	if err := readErr(p.t, errc); ws.CloseStatus(err) != ws.StatusNormalClosure {
		p.t.Fatalf("reader ended with %v, want the peer's close 1000", err)
	}
}

// closePayload encodes a close frame's payload.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// parseClose decodes a close frame read off the wire; code is 1005 for an empty payload.
func parseClose(t testing.TB, f wireFrame) (ws.StatusCode, string) {
	t.Helper()
	if f.opcode != 0x8 {
		t.Fatalf("want a close frame, got opcode %#x payload %q", f.opcode, f.payload)
	}
	switch len(f.payload) {
	case 0:
		return ws.StatusNoStatusRcvd, ""
	case 1:
		t.Fatalf("close frame with a 1-byte payload")
	}
	return ws.StatusCode(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
}

// wantCloseError checks that err holds the peer's close frame.
func wantCloseError(t testing.TB, err error, code ws.StatusCode, reason string) {
	t.Helper()
	var ce *ws.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v, want a *ws.CloseError{%d, %q}", err, code, reason)
	}
	if ce.Code != code || ce.Reason != reason {
		t.Fatalf("got *ws.CloseError{%d, %q}, want {%d, %q}", ce.Code, ce.Reason, code, reason)
	}
	if got := ws.CloseStatus(err); got != code {
		t.Fatalf("CloseStatus = %d, want %d", got, code)
	}
}

// answerClose answers the Conn's close frame with payload and expects the Conn to end the
// TCP connection: a raw server half-closes first (RFC 6455 §7.1.1), a raw client waits for
// the Conn, a server, to close.
func (p *rawPeer) answerClose(payload []byte) {
	p.t.Helper()
	p.write(p.frame(true, 0, 0x8, payload))
	if !p.client {
		p.nc.(*net.TCPConn).CloseWrite()
	}
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if n, err := p.br.Read(b[:]); n > 0 || err == nil {
		p.t.Fatalf("want the connection closed, got %d bytes (%#x), %v", n, b[0], err)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		p.t.Fatal("the Conn under test did not close the connection")
	}
}

// noDeadlines is the raw peer's end of a net.Pipe in a synctest bubble: the harness sets
// deadlines of a few seconds, which in fake time would expire whenever the bubble idles,
// so they are ignored; a peer that waits for what never comes shows as a deadlock.
type noDeadlines struct{ net.Conn }

func (noDeadlines) SetDeadline(time.Time) error      { return nil }
func (noDeadlines) SetReadDeadline(time.Time) error  { return nil }
func (noDeadlines) SetWriteDeadline(time.Time) error { return nil }

// newPipePair returns a Conn under test in role r over net.Pipe, for synctest bubbles
// (where the pipe blocks durably), and the raw peer on the other end. The peer's ends are
// closed when the test ends.
func newPipePair(t *testing.T, r role, opts *ws.ConnOptions) (*ws.Conn, *rawPeer) {
	t.Helper()
	a, b := net.Pipe()
	// The client's masking keys stay random: the peer unmasks with the key in each frame,
	// and SetMaskKeyForTest would race with a keepalive timer started by NewConnForTest.
	c := ws.NewConnForTest(a, r == asClient, opts)
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	peer := noDeadlines{b}
	p := &rawPeer{t: t, nc: peer, br: bufio.NewReader(peer), client: r == asServer, key: key}
	t.Cleanup(func() {
		c.CloseNow()
		b.Close()
	})
	return c, p
}

// timedFrame is a frame the raw peer read, with the bubble's time since the test began.
type timedFrame struct {
	wireFrame
	at  time.Duration
	err error // the read's error, for the last element
}

// collect reads frames on a goroutine until an error, stamping each with the time since
// start; the channel closes after the error.
func (p *rawPeer) collect(start time.Time, answerPings bool) <-chan timedFrame {
	out := make(chan timedFrame, 1024)
	go func() {
		defer close(out)
		for {
			f, err := p.readFrame()
			if err != nil {
				out <- timedFrame{at: time.Since(start), err: err}
				return
			}
			if answerPings && f.opcode == 0x9 {
				p.nc.Write(p.frame(true, 0, 0xA, f.payload))
			}
			out <- timedFrame{wireFrame: f, at: time.Since(start)}
		}
	}()
	return out
}
