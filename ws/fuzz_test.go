package ws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets of the package's parsers. Each feeds its input the way a network
// delivers it, in pieces: split where the fuzzer chooses, a byte at a time, or in halves
// (as nats-server's parser_fuzz_test.go does). Results are checked against reference
// decoders written straight from the RFCs, independently of the code under test. The
// seeds, among them the example frames of RFC 6455 §5.7, are in testdata/fuzz/<FuzzName>/.
//
// Run one with, for example:
//
//	go test ./ws -run XXX -fuzz FuzzFrameReader -fuzztime 45s

// pieces splits b as the fuzzer chose with cuts: piece i is cuts[i%len(cuts)]+1 bytes
// long, so cuts "\x00" feeds b a byte at a time. Empty cuts split b in halves.
func pieces(b, cuts []byte) [][]byte {
	if len(cuts) == 0 {
		return [][]byte{b[:len(b)/2], b[len(b)/2:]}
	}
	var out [][]byte
	for i := 0; len(b) > 0; i++ {
		n := min(int(cuts[i%len(cuts)])+1, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// fuzzReadLimit is the read limit of the connections that FuzzFrameReader drives: small,
// so that the fuzzer can cross it.
const fuzzReadLimit = 1024

// FuzzFrameReader sends arbitrary bytes, in pieces, to a server or client Conn over
// net.Pipe and reads messages until an error, with ReadAppend or with Reader. The
// messages and the error must be those that refDecode finds in the same bytes: no message
// over the read limit, text only in valid UTF-8, and an error that is a *ProtocolError
// with the code the input calls for, the peer's *CloseError, or an abnormal closure when
// the input runs out. The frames the Conn sends back, pongs and its close frame, must be
// what the input calls for too. A read that does not end within seconds is a hang.
func FuzzFrameReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, cuts []byte, client, streaming bool) {
		want := refDecode(data, client, fuzzReadLimit)

		local, peer := net.Pipe()
		c := NewConnForTest(local, client, &ConnOptions{
			ReadLimit:      fuzzReadLimit,
			ReadBufferSize: minReadBufferSize,
			CloseTimeout:   time.Second,
		})
		var sent bytes.Buffer
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(&sent, peer) })
		wg.Go(func() {
			for _, p := range pieces(data, cuts) {
				if _, err := peer.Write(p); err != nil {
					break
				}
			}
			peer.Close()
		})
		stop := sync.OnceFunc(func() {
			c.CloseNow()
			wg.Wait()
		})
		defer stop()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var got []refMessage
		var buf []byte
		var err error
		for {
			var m refMessage
			if streaming {
				m, err = fuzzReadStreaming(ctx, c)
			} else {
				// Append after a prefix, which must survive both success and failure.
				buf = append(buf[:0], '>')
				m.typ, buf, err = c.ReadAppend(ctx, buf)
				if len(buf) == 0 || buf[0] != '>' || err != nil && len(buf) != 1 {
					t.Fatalf("ReadAppend returned dst %q (err %v), want the prefix %q kept and nothing appended on error", buf, err, ">")
				}
				m.payload = bytes.Clone(buf[1:])
			}
			if err != nil {
				break
			}
			if len(m.payload) > fuzzReadLimit {
				t.Fatalf("read a %d-byte message with a read limit of %d", len(m.payload), fuzzReadLimit)
			}
			if m.typ == MessageText && !utf8.Valid(m.payload) {
				t.Fatalf("read a text message that is not valid UTF-8: %q", m.payload)
			}
			got = append(got, m)
		}
		stop()

		if len(got) != len(want.msgs) {
			t.Fatalf("read %d messages, want %d (error %v)", len(got), len(want.msgs), err)
		}
		for i := range got {
			if got[i].typ != want.msgs[i].typ || !bytes.Equal(got[i].payload, want.msgs[i].payload) {
				t.Fatalf("message %d: got %v %q, want %v %q", i, got[i].typ, got[i].payload, want.msgs[i].typ, want.msgs[i].payload)
			}
		}
		checkReadError(t, err, want)
		checkSentFrames(t, sent.Bytes(), client, want)
	})
}

// fuzzReadStreaming reads a message with Conn.Reader, never more than a byte over the
// read limit.
func fuzzReadStreaming(ctx context.Context, c *Conn) (refMessage, error) {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return refMessage{}, err
	}
	var b bytes.Buffer
	_, err = io.Copy(&b, io.LimitReader(r, fuzzReadLimit+1))
	return refMessage{typ, b.Bytes()}, err
}

// checkReadError checks the error that ended reading against how refDecode says it ends.
func checkReadError(t *testing.T, err error, want refResult) {
	t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reading hung: %v", err)
	}
	var perr *ProtocolError
	var cerr *CloseError
	switch {
	case want.protocol != 0:
		if !errors.As(err, &perr) || perr.Code != want.protocol {
			t.Fatalf("reading ended with %v, want a *ProtocolError with code %d", err, want.protocol)
		}
	case want.peer != nil:
		if !errors.As(err, &cerr) || *cerr != *want.peer {
			t.Fatalf("reading ended with %v, want the peer's %v", err, want.peer)
		}
	default:
		if errors.As(err, &perr) || CloseStatus(err) != StatusAbnormalClosure {
			t.Fatalf("reading ended with %v, want an abnormal closure (1006) as the input ran out", err)
		}
	}
}

// checkSentFrames checks the frames that the Conn sent: a pong for each ping, then its
// close frame when the peer closed or broke the protocol. The peer stops reading when its
// input is sent, so they may be cut short; what was sent must begin what is due.
func checkSentFrames(t *testing.T, out []byte, client bool, want refResult) {
	t.Helper()
	type frame struct {
		op      byte
		payload []byte // for a close frame failing the connection, its start: the code
	}
	var due []frame
	for _, p := range want.pings {
		due = append(due, frame{byte(opPong), p})
	}
	switch {
	case want.protocol != 0:
		due = append(due, frame{byte(opClose), []byte{byte(want.protocol >> 8), byte(want.protocol)}})
	case want.peer != nil && want.peer.Code == StatusNoStatusRcvd:
		due = append(due, frame{byte(opClose), nil})
	case want.peer != nil:
		due = append(due, frame{byte(opClose), []byte{byte(want.peer.Code >> 8), byte(want.peer.Code)}})
	}
	for i := 0; ; i++ {
		h, n, st := refHeader(out)
		if st == refShort || st == refOK && uint64(len(out)-n) < h.length {
			return
		}
		if st == refBad || !h.fin || h.rsv != 0 || h.masked != client || h.length > maxControlPayload {
			t.Fatalf("frame %d sent is malformed (masked %v, from a client %v): % x", i, h.masked, client, out)
		}
		p := refUnmask(out[n:n+int(h.length)], h)
		out = out[n+int(h.length):]
		if i >= len(due) {
			t.Fatalf("sent an extra frame %d, opcode %d payload %q; due: %v", i, h.op, p, due)
		}
		d := due[i]
		failing := d.op == byte(opClose) && want.protocol != 0 // its reason is the library's
		if h.op != d.op || !failing && !bytes.Equal(p, d.payload) || failing && !bytes.HasPrefix(p, d.payload) {
			t.Fatalf("frame %d sent has opcode %d payload %q, want opcode %d payload %q", i, h.op, p, d.op, d.payload)
		}
		if h.op == byte(opClose) && (len(p) == 1 || !utf8.Valid(p[min(len(p), 2):])) {
			t.Fatalf("close frame sent has a malformed payload %q", p)
		}
	}
}

// A reference decoder of RFC 6455 frames: slow, written for clarity from §5 and without
// the package's code, for the fuzz targets to compare with.

// refFrame is a frame header as refHeader decodes it.
type refFrame struct {
	fin    bool
	rsv    byte // RSV1..RSV3 as a 3-bit number
	op     byte
	masked bool
	key    [4]byte
	length uint64
}

type refStatus int

const (
	refOK    refStatus = iota
	refShort           // the input ends inside the header
	refBad             // the payload length is not minimal or has its top bit set (§5.2)
)

// refHeader decodes the frame header at the start of b and returns its size. A malformed
// length is reported as soon as the length is complete, before the masking key.
func refHeader(b []byte) (f refFrame, n int, st refStatus) {
	if len(b) < 2 {
		return f, 0, refShort
	}
	f.fin = b[0]>>7 == 1
	f.rsv = b[0] >> 4 & 7
	f.op = b[0] & 15
	f.masked = b[1]>>7 == 1
	n = 2
	switch l := b[1] & 127; l {
	case 126:
		if len(b) < 4 {
			return f, 0, refShort
		}
		f.length = uint64(b[2])<<8 | uint64(b[3])
		n = 4
		if f.length < 126 {
			return f, n, refBad
		}
	case 127:
		if len(b) < 10 {
			return f, 0, refShort
		}
		for _, c := range b[2:10] {
			f.length = f.length<<8 | uint64(c)
		}
		n = 10
		if f.length >= 1<<63 || f.length < 1<<16 {
			return f, n, refBad
		}
	default:
		f.length = uint64(l)
	}
	if f.masked {
		if len(b) < n+4 {
			return f, 0, refShort
		}
		copy(f.key[:], b[n:])
		n += 4
	}
	return f, n, refOK
}

// refUnmask returns a copy of p, a frame's payload from its start, unmasked (§5.3).
func refUnmask(p []byte, f refFrame) []byte {
	out := bytes.Clone(p)
	if f.masked {
		for i := range out {
			out[i] ^= f.key[i%4]
		}
	}
	return out
}

type refMessage struct {
	typ     MessageType
	payload []byte
}

// refResult is what reading a stream of bytes gives.
type refResult struct {
	msgs  []refMessage
	pings [][]byte // payloads of the pings received, each owed a pong
	// How reading ends: with a protocol error and this close code, with the peer's close
	// frame, or, when both are unset, because the input ran out (1006).
	protocol StatusCode
	peer     *CloseError
}

// refDecode reads the bytes that a server (client false) or a client receives, with a
// read limit, and returns the messages and how reading ends.
func refDecode(in []byte, client bool, limit int) (r refResult) {
	var msg []byte
	var typ MessageType // of the open message; 0 if none is open
	for {
		f, n, st := refHeader(in)
		switch st {
		case refShort:
			return r
		case refBad:
			r.protocol = StatusProtocolError
			return r
		}
		in = in[n:]
		control := f.op >= 8
		switch {
		case f.rsv != 0, // §5.2: no extension defines them
			f.op >= 3 && f.op <= 7, f.op >= 11, // §5.2: reserved opcodes
			f.masked == client,                    // §5.1: clients mask, servers do not
			control && (f.length > 125 || !f.fin), // §5.5
			!control && f.op == 0 && typ == 0,     // §5.4: nothing to continue
			!control && f.op != 0 && typ != 0:     // §5.4: a message inside a message
			r.protocol = StatusProtocolError
			return r
		}
		if control {
			if uint64(len(in)) < f.length {
				return r
			}
			p := refUnmask(in[:f.length], f)
			in = in[f.length:]
			switch f.op {
			case 8:
				r.protocol, r.peer = refClose(p)
				return r
			case 9:
				r.pings = append(r.pings, p)
			}
			continue
		}
		if f.op != 0 {
			typ, msg = MessageType(f.op), nil
		}
		if f.length > uint64(limit-len(msg)) {
			r.protocol = StatusMessageTooBig
			return r
		}
		avail := min(uint64(len(in)), f.length)
		msg = append(msg, refUnmask(in[:avail], f)...)
		in = in[avail:]
		// §8.1: invalid UTF-8 fails the connection as soon as it arrives.
		if typ == MessageText && refFirstInvalid(msg) < len(msg) || f.fin && avail == f.length && typ == MessageText && !utf8.Valid(msg) {
			r.protocol = StatusInvalidFramePayload
			return r
		}
		if avail < f.length {
			return r
		}
		if f.fin {
			r.msgs = append(r.msgs, refMessage{typ, msg})
			typ, msg = 0, nil
		}
	}
}

// refClose decodes a close frame's payload (§5.5.1, §7.4): the peer's close, or the code
// of the protocol error that it is.
func refClose(p []byte) (StatusCode, *CloseError) {
	switch len(p) {
	case 0:
		return 0, &CloseError{Code: StatusNoStatusRcvd}
	case 1:
		return StatusProtocolError, nil
	}
	code := StatusCode(p[0])<<8 | StatusCode(p[1])
	if !refCodeMaySend(code) {
		return StatusProtocolError, nil
	}
	if !utf8.Valid(p[2:]) {
		return StatusInvalidFramePayload, nil
	}
	return 0, &CloseError{Code: code, Reason: string(p[2:])}
}

// refCodeMaySend reports whether a close frame may carry code: the codes RFC 6455 §7.4.1
// defines, less 1004 (reserved) and 1005, 1006 and 1015 (never sent), the IANA
// registrations 1012–1014, and the ranges 3000–3999 and 4000–4999 (§7.4.2).
func refCodeMaySend(code StatusCode) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// refFirstInvalid returns the index of the first byte at which b stops being the start
// of valid UTF-8, or len(b) if it never does.
func refFirstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			continue
		}
		// b[i:] starts with an invalid or incomplete sequence: count how much of it could
		// begin a valid one.
		k := min(len(b)-i, utf8.UTFMax-1)
		for k > 0 && !refRunePrefix(b[i:i+k]) {
			k--
		}
		return i + k
	}
	return len(b)
}

// refRunePrefix reports whether p is the start of the encoding of a rune, by trying to
// complete it: the second byte of a valid sequence is always one of 80, 90 and A0.
func refRunePrefix(p []byte) bool {
	for _, second := range []byte{0x80, 0x90, 0xA0} {
		full := append(bytes.Clone(p), second, 0x80, 0x80)
		if len(p) > 1 {
			full = append(bytes.Clone(p), 0x80, 0x80, 0x80)
		}
		r, size := utf8.DecodeRune(full)
		if (r != utf8.RuneError || size > 1) && size > len(p) {
			return true
		}
	}
	return false
}

// FuzzParseHeader checks parseHeader against refHeader, on the input whole and on each
// of its prefixes: a prefix too short for the header gives n == 0 and no error. A header
// that parses is re-encoded byte for byte by appendHeader, and what appendHeader writes
// parses back to what it was given.
func FuzzParseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHeader(b)
		ref, rn, st := refHeader(b)
		switch st {
		case refShort:
			if n != 0 || err != nil {
				t.Fatalf("parseHeader(% x) = n %d, err %v; want n 0 for a truncated header", b, n, err)
			}
		case refBad:
			var perr *ProtocolError
			if !errors.As(err, &perr) || perr.Code != StatusProtocolError || n != rn {
				t.Fatalf("parseHeader(% x) = n %d, err %v; want n %d and a 1002 protocol error", b, n, err, rn)
			}
		case refOK:
			if err != nil || n != rn {
				t.Fatalf("parseHeader(% x) = n %d, err %v; want n %d", b, n, err, rn)
			}
			key := uint32(ref.key[0]) | uint32(ref.key[1])<<8 | uint32(ref.key[2])<<16 | uint32(ref.key[3])<<24
			if h.fin != ref.fin || h.rsv != ref.rsv<<4 || byte(h.opcode) != ref.op || h.masked != ref.masked ||
				uint64(h.length) != ref.length || h.masked && h.key != key {
				t.Fatalf("parseHeader(% x) = %+v, want %+v", b, h, ref)
			}
			// appendHeader takes a slice's length: on a 32-bit platform, not every length
			// a header can announce.
			if h.length <= math.MaxInt {
				if enc := appendHeader(nil, h.fin, h.rsv, h.opcode, int(h.length), h.masked, h.key); !bytes.Equal(enc, b[:n]) {
					t.Fatalf("appendHeader(%+v) = % x, want % x", h, enc, b[:n])
				}
			}
		}
		// In pieces: every prefix is too short or is decided as the whole is.
		for i := range min(len(b), maxHeaderSize+1) {
			ph, pn, perr := parseHeader(b[:i])
			if pn == 0 && perr == nil {
				if st == refOK && i >= n {
					t.Fatalf("parseHeader(% x) = n 0, but the header is %d bytes", b[:i], n)
				}
				continue
			}
			if ph != h || pn != n || (perr == nil) != (err == nil) {
				t.Fatalf("parseHeader(% x) = %+v, %d, %v; the whole input gives %+v, %d, %v", b[:i], ph, pn, perr, h, n, err)
			}
		}

		// And back: header fields taken from the input encode and parse to themselves.
		if len(b) < 10 {
			return
		}
		var length uint64
		for _, c := range b[2:10] {
			length = length<<8 | uint64(c)
		}
		length >>= 1 + b[0]&63 // below 2^63, and the short and 16-bit forms too
		if length > math.MaxInt {
			return // not a slice's length here (32-bit)
		}
		fin, rsv, op, masked := b[0]&finBit != 0, b[0]&rsvBits, opcode(b[0]&15), b[1]&maskBit != 0
		key := uint32(b[1]) | uint32(b[2])<<24
		enc := appendHeader(nil, fin, rsv, op, int(length), masked, key)
		back, bn, err := parseHeader(enc)
		want := header{fin: fin, rsv: rsv, opcode: op, masked: masked, length: int64(length)}
		if masked {
			want.key = key
		}
		if err != nil || bn != len(enc) || back != want {
			t.Fatalf("parseHeader(appendHeader(%+v)) = %+v, %d, %v from % x", want, back, bn, err, enc)
		}
	})
}

// FuzzUTF8Validator feeds utf8Validator its input in pieces. It must agree with
// utf8.Valid on the whole, reject within the piece that holds the first invalid byte and
// stay failed after. Fed a byte at a time, it must reject at exactly that byte.
func FuzzUTF8Validator(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		bad := refFirstInvalid(data)
		var v utf8Validator
		rejected := false
		start := 0
		for _, p := range pieces(data, cuts) {
			ok := v.write(p)
			switch {
			case rejected && ok:
				t.Fatalf("validator accepted % x after rejecting earlier input", p)
			case !rejected && !ok:
				if bad < start || bad >= start+len(p) {
					t.Fatalf("validator rejected bytes %d..%d of % x, but the first invalid byte is at %d", start, start+len(p), data, bad)
				}
				rejected = true
			}
			start += len(p)
		}
		if !rejected && bad < len(data) {
			t.Fatalf("validator accepted % x, whose byte %d is invalid", data, bad)
		}
		if valid := !rejected && v.complete(); valid != utf8.Valid(data) {
			t.Fatalf("validator says %v for % x, utf8.Valid says %v", valid, data, !valid)
		}
		if rejected && (v.write([]byte("a")) || v.complete()) {
			t.Fatal("validator recovered after rejecting")
		}

		var one utf8Validator
		for i := range data {
			if !one.write(data[i : i+1]) {
				if i != bad {
					t.Fatalf("validator fed a byte at a time rejected byte %d of % x, want %d", i, data, bad)
				}
				return
			}
		}
		if bad != len(data) {
			t.Fatalf("validator fed a byte at a time accepted % x, whose byte %d is invalid", data, bad)
		}
	})
}

// FuzzClosePayload checks parseClosePayload against refClose. A payload it accepts
// re-encodes identically with appendClosePayload; the input as a reason is sent as valid
// UTF-8 cut, if need be, at a rune boundary to fit a control frame.
func FuzzClosePayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		ce, err := parseClosePayload(p)
		wantCode, wantCE := refClose(p)
		if len(p) >= 2 {
			code := StatusCode(p[0])<<8 | StatusCode(p[1])
			if code.validOnWire() != refCodeMaySend(code) {
				t.Fatalf("StatusCode(%d).validOnWire() = %v", code, code.validOnWire())
			}
		}
		if wantCE == nil {
			var perr *ProtocolError
			if ce != nil || !errors.As(err, &perr) || perr.Code != wantCode {
				t.Fatalf("parseClosePayload(% x) = %v, %v; want a protocol error with code %d", p, ce, err, wantCode)
			}
		} else {
			if err != nil || ce == nil || *ce != *wantCE {
				t.Fatalf("parseClosePayload(% x) = %v, %v; want %v", p, ce, err, wantCE)
			}
			if enc := appendClosePayload(nil, ce.Code, ce.Reason); len(p) <= maxControlPayload && !bytes.Equal(enc, p) {
				t.Fatalf("appendClosePayload(%v) = % x, want % x", ce, enc, p)
			}
		}

		// Any reason is sent as UTF-8 that fits a control frame; a valid one is kept, or
		// cut at a rune boundary and marked.
		enc := appendClosePayload(nil, StatusNormalClosure, string(p))
		reason := enc[2:]
		suffix := []byte(closeReasonTruncatedSuffix)
		switch {
		case len(enc) > maxControlPayload:
			t.Fatalf("appendClosePayload of a %d-byte reason made a %d-byte payload", len(p), len(enc))
		case enc[0] != 0x03 || enc[1] != 0xe8:
			t.Fatalf("appendClosePayload wrote code % x, want 03 e8 (1000)", enc[:2])
		case !utf8.Valid(reason):
			t.Fatalf("appendClosePayload wrote a reason that is not UTF-8: % x", reason)
		case !utf8.Valid(p):
		case len(p) <= maxCloseReason && !bytes.Equal(reason, p):
			t.Fatalf("appendClosePayload changed a %d-byte reason: % x", len(p), reason)
		case len(p) > maxCloseReason && (!bytes.HasSuffix(reason, suffix) || !bytes.HasPrefix(p, bytes.TrimSuffix(reason, suffix))):
			t.Fatalf("appendClosePayload cut a reason wrongly: % x", reason)
		}
	})
}

// hijackRecorder is an httptest.ResponseRecorder that can be hijacked: Hijack hands over
// one end of a net.Pipe and the reader that the request was parsed from, holding whatever
// followed the request.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	br       *bufio.Reader
	hijacked bool
}

func (w *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return w.conn, bufio.NewReadWriter(w.br, bufio.NewWriter(w.conn)), nil
}

// refGUID is the GUID of RFC 6455 §1.3.
const refGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// refAcceptKey is the Sec-WebSocket-Accept value for key (§4.2.2).
func refAcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + refGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// refTokens returns the elements of the comma-separated lists in h[name], stripped of
// optional whitespace (RFC 9110 §5.6.1: spaces and tabs), empty elements left out.
func refTokens(h http.Header, name string) []string {
	var out []string
	for _, line := range h.Values(name) {
		for _, elem := range strings.Split(line, ",") {
			if elem = strings.Trim(elem, " \t"); elem != "" {
				out = append(out, elem)
			}
		}
	}
	return out
}

func refHasToken(h http.Header, name, token string) bool {
	for _, t := range refTokens(h, name) {
		if strings.EqualFold(t, token) {
			return true
		}
	}
	return false
}

// fuzzSubprotocols are the subprotocols of both handshake fuzz targets, as server and as
// client.
var fuzzSubprotocols = []string{"chat", "superchat"}

// FuzzHandshakeRequest parses its input as an HTTP request and gives it to Accept with a
// hijackable ResponseWriter. Accept must never panic; a rejection must be an HTTP error
// with a body and an error wrapping ErrBadHandshake, with nothing hijacked; a success
// needs a valid opening handshake (RFC 6455 §4.2.1) and answers it with the right
// Sec-WebSocket-Accept. A valid handshake with no Origin header must succeed. What follows
// the request is read as frames by the new connection.
func FuzzHandshakeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		br := bufio.NewReader(bytes.NewReader(raw))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		local, peer := net.Pipe()
		w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: local, br: br}
		var resp *http.Response
		var wg sync.WaitGroup
		wg.Go(func() {
			defer peer.Close()
			resp, _ = http.ReadResponse(bufio.NewReader(peer), nil)
		})
		c, err := Accept(w, req, &AcceptOptions{
			ConnOptions:    ConnOptions{ReadLimit: fuzzReadLimit, CloseTimeout: time.Second},
			Subprotocols:   fuzzSubprotocols,
			OriginPatterns: []string{"example.com", "*.example.org", "https://*.example.net"},
		})
		if err != nil {
			local.Close()
			wg.Wait()
			if !errors.Is(err, ErrBadHandshake) || w.hijacked {
				t.Fatalf("Accept failed with %v (hijacked %v), want an error wrapping ErrBadHandshake and nothing hijacked", err, w.hijacked)
			}
			if w.Code < 400 || w.Code > 599 || w.Body.Len() == 0 {
				t.Fatalf("Accept rejected with status %d and body %q, want an HTTP error with a body", w.Code, w.Body)
			}
			if refValidRequest(req) && req.Header.Get("Origin") == "" {
				t.Fatalf("Accept rejected a valid handshake: %v\n%q", err, raw)
			}
			return
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for err == nil {
			_, _, err = c.Read(ctx)
		}
		c.CloseNow()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("reading after the handshake hung: %v", err)
		}

		if !refValidRequest(req) {
			t.Fatalf("Accept took an invalid handshake:\n%q", raw)
		}
		if !w.hijacked || w.Body.Len() != 0 {
			t.Fatalf("Accept succeeded, hijacked %v, with an HTTP body %q", w.hijacked, w.Body)
		}
		switch {
		case resp == nil || resp.StatusCode != http.StatusSwitchingProtocols:
			t.Fatalf("Accept succeeded with the response %v", resp)
		case resp.Header.Get("Sec-WebSocket-Accept") != refAcceptKey(req.Header.Get("Sec-WebSocket-Key")):
			t.Fatalf("Accept answered key %q with Sec-WebSocket-Accept %q", req.Header.Get("Sec-WebSocket-Key"), resp.Header.Get("Sec-WebSocket-Accept"))
		case !refHasToken(resp.Header, "Upgrade", "websocket") || !refHasToken(resp.Header, "Connection", "upgrade"):
			t.Fatalf("Accept answered without Upgrade and Connection: %v", resp.Header)
		}
		if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != c.Subprotocol() || p != "" && !refHasToken(req.Header, "Sec-WebSocket-Protocol", p) {
			t.Fatalf("Accept agreed subprotocol %q (Conn says %q); the client offered %q", p, c.Subprotocol(), req.Header.Values("Sec-WebSocket-Protocol"))
		}
	})
}

// refValidRequest reports whether req is a valid opening handshake (RFC 6455 §4.2.1).
// Sec-WebSocket-Key and Sec-WebSocket-Version "MUST NOT appear more than once" (§11.3.1,
// §11.3.5).
func refValidRequest(req *http.Request) bool {
	keys := req.Header.Values("Sec-WebSocket-Key")
	versions := req.Header.Values("Sec-WebSocket-Version")
	if len(keys) != 1 || len(keys[0]) != 24 || len(versions) != 1 || versions[0] != "13" {
		return false
	}
	if key, err := base64.StdEncoding.DecodeString(keys[0]); err != nil || len(key) != 16 {
		return false
	}
	return req.Method == http.MethodGet && req.ProtoMajor == 1 && req.ProtoMinor >= 1 &&
		req.Host != "" && refHasToken(req.Header, "Upgrade", "websocket") &&
		refHasToken(req.Header, "Connection", "upgrade")
}

// fuzzAcceptPlaceholder, in FuzzHandshakeResponse's input, stands for the
// Sec-WebSocket-Accept value that answers the key of the request, which is random.
const fuzzAcceptPlaceholder = "{{ACCEPT}}"

// FuzzHandshakeResponse dials over net.Pipe to a server that reads the handshake request
// and answers with the input, in pieces, fuzzAcceptPlaceholder replaced by the right
// accept key. Dial must never panic nor hang, and must succeed exactly when the input is
// a valid answer (RFC 6455 §4.1): a 101 with Upgrade and Connection, the right
// Sec-WebSocket-Accept, no extension and at most one offered subprotocol. A non-101
// response is returned with the error.
func FuzzHandshakeResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw, cuts []byte) {
		local, peer := net.Pipe()
		var answer []byte
		var accept string
		var wg sync.WaitGroup
		wg.Go(func() {
			defer peer.Close()
			req, err := http.ReadRequest(bufio.NewReader(peer))
			if err != nil {
				return
			}
			accept = refAcceptKey(req.Header.Get("Sec-WebSocket-Key"))
			answer = bytes.ReplaceAll(raw, []byte(fuzzAcceptPlaceholder), []byte(accept))
			for _, p := range pieces(answer, cuts) {
				if _, err := peer.Write(p); err != nil {
					return
				}
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := Dial(ctx, "ws://server.example.com/chat", &DialOptions{
			ConnOptions:    ConnOptions{CloseTimeout: time.Second},
			Subprotocols:   fuzzSubprotocols,
			Proxy:          func(*http.Request) (*url.URL, error) { return nil, nil },
			NetDialContext: func(context.Context, string, string) (net.Conn, error) { return local, nil },
		})
		if c != nil {
			c.CloseNow()
		}
		wg.Wait()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial hung: %v", err)
		}

		ref, refErr := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), &http.Request{Method: http.MethodGet})
		if refErr != nil {
			if err == nil {
				t.Fatalf("Dial accepted a response that net/http cannot parse (%v):\n%q", refErr, answer)
			}
			return
		}
		valid, subprotocol := refValidResponse(ref, accept)
		switch {
		case valid && err != nil:
			t.Fatalf("Dial rejected a valid response: %v\n%q", err, answer)
		case !valid && err == nil:
			t.Fatalf("Dial accepted an invalid response:\n%q", answer)
		case err != nil && !errors.Is(err, ErrBadHandshake):
			t.Fatalf("Dial failed with %v, want an error wrapping ErrBadHandshake, for\n%q", err, answer)
		case resp == nil || resp.StatusCode != ref.StatusCode:
			t.Fatalf("Dial returned the response %v, want one with status %d", resp, ref.StatusCode)
		case err == nil && c.Subprotocol() != subprotocol:
			t.Fatalf("Dial agreed subprotocol %q, want %q", c.Subprotocol(), subprotocol)
		}
	})
}

// refValidResponse reports whether resp validly answers a handshake request that offered
// fuzzSubprotocols and no extension, with the key whose accept value is accept, and
// returns the subprotocol it agrees. Sec-WebSocket-Accept "MUST NOT appear more than
// once" (§11.3.3).
func refValidResponse(resp *http.Response, accept string) (bool, string) {
	protocols := refTokens(resp.Header, "Sec-WebSocket-Protocol")
	ok := resp.StatusCode == http.StatusSwitchingProtocols &&
		refHasToken(resp.Header, "Upgrade", "websocket") && refHasToken(resp.Header, "Connection", "upgrade") &&
		len(resp.Header.Values("Sec-WebSocket-Accept")) == 1 && resp.Header.Get("Sec-WebSocket-Accept") == accept &&
		len(refTokens(resp.Header, "Sec-WebSocket-Extensions")) == 0 && len(protocols) <= 1
	if !ok || len(protocols) == 0 {
		return ok, ""
	}
	for _, p := range fuzzSubprotocols {
		if p == protocols[0] {
			return true, p
		}
	}
	return false, ""
}
