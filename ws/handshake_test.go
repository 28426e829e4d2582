package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// This file tests the opening handshake of RFC 6455 §4: the server's checks of a request
// (Accept), the client's request and its checks of the response (Dial), subprotocols,
// origins, routers, TLS. Requests and responses are raw bytes over loopback TCP, so the
// tests say exactly what goes over the wire. Proxies are in proxy_test.go.

var updateHandshake = flag.Bool("update-handshake", false, "rewrite the golden files in testdata/handshake")

// The key of the handshake in RFC 6455 §1.3 and the accept value the RFC derives from it.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// hsTimeout bounds every network step of these tests, so that a bug fails a test instead
// of hanging it.
const hsTimeout = 5 * time.Second

// hsAcceptFor computes Sec-WebSocket-Accept for key (§4.2.2 item 5.4) independently of
// the library.
func hsAcceptFor(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func hsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hsTimeout)
	t.Cleanup(cancel)
	return ctx
}

// hsNoProxy dials directly whatever the environment says.
func hsNoProxy(*http.Request) (*url.URL, error) { return nil, nil }

// hsFrame encodes a final frame; mask, when set, is the 4-byte masking key.
func hsFrame(opcode byte, payload, mask []byte) []byte {
	b := []byte{0x80 | opcode}
	var m byte
	if mask != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, m|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, m|127), uint64(n))
	}
	if mask == nil {
		return append(b, payload...)
	}
	b = append(b, mask...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// hsGolden compares got with the golden file testdata/handshake/name, or rewrites the file
// under -update-handshake.
func hsGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "handshake", name)
	if *updateHandshake {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update-handshake to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update-handshake if the change is meant)\n got: %q\nwant: %q", path, got, want)
	}
}

// hsField edits a handshake request: the field's lines become values, or go if there are
// none.
type hsField struct {
	name   string
	values []string
}

func hf(name string, values ...string) hsField { return hsField{name, values} }

// hsRequest returns the bytes of a valid opening handshake (§4.1, with the key of §1.3)
// under startLine, edited: an edited field keeps its place, a new one goes last.
func hsRequest(startLine string, edits ...hsField) string {
	fields := []hsField{
		hf("Host", "server.example.com"),
		hf("Upgrade", "websocket"),
		hf("Connection", "Upgrade"),
		hf("Sec-WebSocket-Key", rfcKey),
		hf("Sec-WebSocket-Version", "13"),
	}
	for _, e := range edits {
		if i := slices.IndexFunc(fields, func(f hsField) bool { return f.name == e.name }); i >= 0 {
			fields[i] = e
		} else {
			fields = append(fields, e)
		}
	}
	var b strings.Builder
	b.WriteString(startLine + "\r\n")
	for _, f := range fields {
		for _, v := range f.values {
			b.WriteString(f.name + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// hsRequestGET is the start line of the handshake of §1.3.
const hsRequestGET = "GET /chat HTTP/1.1"

// hsPing is a plain HTTP request that an hsServer answers with "pong": a connection that
// carries it after a failed handshake was not hijacked.
const hsPing = "GET /ping HTTP/1.1\r\nHost: server.example.com\r\n\r\n"

// hsServer is an httptest server whose handlers call ws.Accept and report each outcome on
// accepted.
type hsServer struct {
	*httptest.Server
	accepted chan hsAccepted
	handlers sync.WaitGroup // handlers still running, hijacked ones included
}

// hsAccepted is the outcome of one ws.Accept call.
type hsAccepted struct {
	r           *http.Request
	subprotocol string
	err         error
}

// hsHandler says what an hsServer's Accept handler does.
type hsHandler struct {
	opts   *ws.AcceptOptions
	header http.Header                   // set on w.Header() before Accept
	serve  func(*ws.Conn, *http.Request) // after a successful Accept; the conn is closed after it
}

// hsServerConfig says how to start an hsServer.
type hsServerConfig struct {
	tls      bool
	http2    bool         // serve HTTP/2 too, offering ALPN h2 then http/1.1 as http.Server does
	listener net.Listener // nil means a new one on 127.0.0.1
	setup    func(*http.Server)
}

// startHSServer starts a server with the handler that build returns; the server is closed,
// and its handlers waited for, when the test ends.
func startHSServer(t *testing.T, cfg hsServerConfig, build func(*hsServer) http.Handler) *hsServer {
	t.Helper()
	s := &hsServer{accepted: make(chan hsAccepted, 64)}
	s.Server = httptest.NewUnstartedServer(build(s))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // failed TLS handshakes are expected
	if cfg.listener != nil {
		s.Listener.Close()
		s.Listener = cfg.listener
	}
	if cfg.setup != nil {
		cfg.setup(s.Config)
	}
	s.EnableHTTP2 = cfg.http2
	if cfg.http2 {
		s.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}} // httptest offers h2 alone
	}
	if cfg.tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(func() {
		s.Close()
		s.handlers.Wait()
	})
	return s
}

// newHSServer starts a server that answers /ping with "pong" and every other path with h.
func newHSServer(t *testing.T, h hsHandler) *hsServer {
	t.Helper()
	return startHSServer(t, hsServerConfig{}, func(s *hsServer) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
		mux.Handle("/", s.acceptFunc(h))
		return mux
	})
}

// acceptFunc returns a handler that calls ws.Accept as h says.
func (s *hsServer) acceptFunc(h hsHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		defer s.handlers.Done()
		maps.Copy(w.Header(), h.header)
		c, err := ws.Accept(w, r, h.opts)
		a := hsAccepted{r: r, err: err}
		if c != nil {
			a.subprotocol = c.Subprotocol()
		}
		s.accepted <- a
		if err != nil {
			return
		}
		defer c.CloseNow()
		if h.serve != nil {
			h.serve(c, r)
		}
	}
}

// result returns the outcome of the next Accept call.
func (s *hsServer) result(t *testing.T) hsAccepted {
	t.Helper()
	select {
	case a := <-s.accepted:
		return a
	case <-time.After(hsTimeout):
		t.Fatal("ws.Accept was not called")
		return hsAccepted{}
	}
}

func (s *hsServer) addr() string { return s.Listener.Addr().String() }

// wsURL returns the ws:// (or wss://) URL of path on s.
func (s *hsServer) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + path
}

// certPool returns a pool that trusts the certificate of a TLS server.
func (s *hsServer) certPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

// hsEcho sends every message back until the connection fails.
func hsEcho(c *ws.Conn, _ *http.Request) {
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// hsCheckEcho checks that a message goes to an hsEcho server and back over c.
func hsCheckEcho(t *testing.T, c *ws.Conn) {
	t.Helper()
	ctx := hsCtx(t)
	if err := c.Write(ctx, ws.MessageText, []byte("hello")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != ws.MessageText || string(msg) != "hello" {
		t.Fatalf("Read = %v, %q, %v; want text %q", typ, msg, err, "hello")
	}
}

// hsMustDial dials url and fails the test if the handshake fails; the connection is closed
// when the test ends.
func hsMustDial(t *testing.T, url string, opts *ws.DialOptions) (*ws.Conn, *http.Response) {
	t.Helper()
	c, resp, err := ws.Dial(hsCtx(t), url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if resp == nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("Dial(%s) succeeded with response %v", url, resp)
	}
	return c, resp
}

// hsConn is a raw TCP client that writes request bytes and parses responses.
type hsConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func hsDialRaw(t *testing.T, addr string) *hsConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, hsTimeout)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(hsTimeout))
	t.Cleanup(func() { nc.Close() })
	return &hsConn{t, nc, bufio.NewReader(nc)}
}

func (c *hsConn) send(b string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, b); err != nil {
		c.t.Fatalf("writing the request: %v", err)
	}
}

// response reads the response to a request with method, and its whole body.
func (c *hsConn) response(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading the response body: %v", err)
	}
	return resp, string(body)
}

// checkStillHTTP checks that the connection still carries HTTP requests: nothing
// hijacked it.
func (c *hsConn) checkStillHTTP() {
	c.t.Helper()
	c.send(hsPing)
	resp, body := c.response(http.MethodGet)
	if resp.StatusCode != http.StatusOK || body != "pong" {
		c.t.Fatalf("keep-alive request after the failed handshake: %s %q; want 200 pong", resp.Status, body)
	}
}

// hsWant is what a server must answer to a request.
type hsWant struct {
	status  int
	reason  string            // in the body of an error response, and in Accept's error
	header  map[string]string // response fields; "" means the field must be absent
	netHTTP bool              // net/http answers before any handler runs
}

// hsExchange sends req to a new server running h and checks the answer against want. A
// failure must leave the connection usable for a keep-alive request. It returns the
// response and the outcome of Accept.
func hsExchange(t *testing.T, h hsHandler, req string, want hsWant) (*http.Response, hsAccepted) {
	t.Helper()
	method, _, _ := strings.Cut(req, " ")
	s := newHSServer(t, h)
	c := hsDialRaw(t, s.addr())
	c.send(req)
	resp, body := c.response(method)
	if resp.StatusCode != want.status {
		t.Fatalf("status %s, body %q; want %d", resp.Status, body, want.status)
	}
	for name, v := range want.header {
		if got := resp.Header.Values(name); v == "" && len(got) > 0 || v != "" && !slices.Equal(got, []string{v}) {
			t.Errorf("response field %s = %q; want %q", name, got, v)
		}
	}
	if want.netHTTP {
		if !strings.Contains(body, want.reason) {
			t.Errorf("body %q does not contain %q", body, want.reason)
		}
		select {
		case a := <-s.accepted:
			t.Errorf("the handler ran: Accept returned %v", a.err)
		default:
		}
		return resp, hsAccepted{}
	}
	a := s.result(t)
	if want.status == http.StatusSwitchingProtocols {
		if a.err != nil {
			t.Fatalf("Accept: %v", a.err)
		}
		parsed, err := http.ReadRequest(bufio.NewReader(strings.NewReader(req)))
		if err != nil {
			t.Fatalf("test request does not parse: %v", err)
		}
		for name, v := range map[string]string{
			"Upgrade":              "websocket",
			"Connection":           "Upgrade",
			"Sec-WebSocket-Accept": hsAcceptFor(parsed.Header.Get("Sec-WebSocket-Key")),
		} {
			if got := resp.Header.Values(name); !slices.Equal(got, []string{v}) {
				t.Errorf("101 response field %s = %q; want %q", name, got, v)
			}
		}
		return resp, a
	}
	if method != http.MethodHead && !strings.Contains(body, want.reason) {
		t.Errorf("body %q does not contain %q", body, want.reason)
	}
	if !errors.Is(a.err, ws.ErrBadHandshake) || !strings.Contains(a.err.Error(), want.reason) {
		t.Errorf("Accept error %v; want one wrapping ws.ErrBadHandshake and saying %q", a.err, want.reason)
	}
	c.checkStillHTTP()
	return resp, a
}

// TestAcceptRequestChecks checks the server's reading of the client's handshake (RFC 6455
// §4.2.1) and its answers (§4.2.2, §4.4): one row per rule, with the exact status code.
func TestAcceptRequestChecks(t *testing.T) {
	key := func(enc *base64.Encoding, n int) string { return enc.EncodeToString(bytes.Repeat([]byte{0xfb}, n)) }
	allowGET := map[string]string{"Allow": "GET"}
	v13 := map[string]string{"Sec-WebSocket-Version": "13", "Upgrade": "websocket"}
	const badKey = "Sec-WebSocket-Key is not base64 of 16 bytes"
	tests := []struct {
		name string
		req  string
		want hsWant
	}{
		{"§4.2.1/1 method POST", hsRequest("POST /chat HTTP/1.1"), hsWant{status: 405, reason: "method POST, not GET", header: allowGET}},
		{"§4.2.1/1 method HEAD", hsRequest("HEAD /chat HTTP/1.1"), hsWant{status: 405, reason: "method HEAD, not GET", header: allowGET}},
		{"§4.2.1/1 HTTP/1.0", hsRequest("GET /chat HTTP/1.0", hf("Connection", "keep-alive, Upgrade")), hsWant{status: 400, reason: "protocol HTTP/1.0, not HTTP/1.1 or later"}},
		{"§4.2.1/1 absolute-form request-target", hsRequest("GET http://server.example.com/chat HTTP/1.1"), hsWant{status: 101}},
		// net/http itself refuses an HTTP/1.1 request without exactly one Host field,
		// before any handler runs.
		{"§4.2.1/2 Host missing, net/http answers", hsRequest(hsRequestGET, hf("Host")), hsWant{status: 400, reason: "missing required Host header", netHTTP: true}},
		{"§4.2.1/2 two Host fields, net/http answers", hsRequest(hsRequestGET, hf("Host", "a.example", "b.example")), hsWant{status: 400, reason: "400 Bad Request", netHTTP: true}},
		{"§4.2.1/2 Host empty", hsRequest(hsRequestGET, hf("Host", "")), hsWant{status: 400, reason: "no Host header"}},
		{"§4.2.1/3 Upgrade missing", hsRequest(hsRequestGET, hf("Upgrade")), hsWant{status: 426, reason: `"Upgrade: websocket" header missing`, header: v13}},
		{"§4.2.1/3 Upgrade h2c", hsRequest(hsRequestGET, hf("Upgrade", "h2c")), hsWant{status: 426, reason: `"Upgrade: websocket" header missing`, header: v13}},
		{"§4.2.1/3 Upgrade websockets is another token", hsRequest(hsRequestGET, hf("Upgrade", "websockets")), hsWant{status: 426, reason: `"Upgrade: websocket" header missing`, header: v13}},
		{"§4.2.1/3 Upgrade WebSocket in any case", hsRequest(hsRequestGET, hf("Upgrade", "WebSocket")), hsWant{status: 101}},
		{"§4.2.1/3 Upgrade list", hsRequest(hsRequestGET, hf("Upgrade", "h2c, websocket")), hsWant{status: 101}},
		{"§4.2.1/3 Upgrade on two lines", hsRequest(hsRequestGET, hf("Upgrade", "h2c", "websocket")), hsWant{status: 101}},
		{"§4.2.1/4 Connection missing", hsRequest(hsRequestGET, hf("Connection")), hsWant{status: 426, reason: `"Connection: upgrade" header missing`, header: v13}},
		{"§4.2.1/4 Connection keep-alive", hsRequest(hsRequestGET, hf("Connection", "keep-alive")), hsWant{status: 426, reason: `"Connection: upgrade" header missing`, header: v13}},
		{"§4.2.1/4 Connection upgraded is another token", hsRequest(hsRequestGET, hf("Connection", "upgraded")), hsWant{status: 426, reason: `"Connection: upgrade" header missing`, header: v13}},
		{"§4.2.1/4 Connection list", hsRequest(hsRequestGET, hf("Connection", "keep-alive, Upgrade")), hsWant{status: 101}},
		{"§4.2.1/4 Connection UPGRADE in any case", hsRequest(hsRequestGET, hf("Connection", "UPGRADE")), hsWant{status: 101}},
		{"§4.2.1/4 Connection on two lines", hsRequest(hsRequestGET, hf("Connection", "keep-alive", "upgrade")), hsWant{status: 101}},
		{"§4.2.1/5 key missing", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key")), hsWant{status: 400, reason: badKey}},
		{"§4.2.1/5 key empty", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key", "")), hsWant{status: 400, reason: badKey}},
		{"§4.2.1/5 key not base64", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==")), hsWant{status: 400, reason: badKey}},
		{"§4.2.1/5 key in the URL-safe alphabet", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key", key(base64.URLEncoding, 16))), hsWant{status: 400, reason: badKey}},
		{"§4.2.1/5 key without padding", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key", key(base64.RawStdEncoding, 16))), hsWant{status: 400, reason: badKey}},
		{"§4.2.1/5 key decodes to 15 bytes", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key", key(base64.StdEncoding, 15))), hsWant{status: 400, reason: badKey}},
		{"§4.2.1/5 key decodes to 17 bytes", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key", key(base64.StdEncoding, 17))), hsWant{status: 400, reason: badKey}},
		{"§4.2.1/5 two key fields", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key", rfcKey, rfcKey)), hsWant{status: 400, reason: badKey}},
		{"§4.2.1/5 key with whitespace around it", hsRequest(hsRequestGET, hf("Sec-WebSocket-Key", " \t"+rfcKey+" ")), hsWant{status: 101}},
		{"§4.2.1/6 version missing", hsRequest(hsRequestGET, hf("Sec-WebSocket-Version")), hsWant{status: 426, reason: `unsupported Sec-WebSocket-Version "", want 13`, header: v13}},
		{"§4.2.1/6 version 8", hsRequest(hsRequestGET, hf("Sec-WebSocket-Version", "8")), hsWant{status: 426, reason: `unsupported Sec-WebSocket-Version "8"`, header: v13}},
		{"§4.2.1/6 version 14", hsRequest(hsRequestGET, hf("Sec-WebSocket-Version", "14")), hsWant{status: 426, reason: `unsupported Sec-WebSocket-Version "14"`, header: v13}},
		{"§4.2.1/6 version list 13, 8", hsRequest(hsRequestGET, hf("Sec-WebSocket-Version", "13, 8")), hsWant{status: 426, reason: `unsupported Sec-WebSocket-Version "13, 8"`, header: v13}},
		// Two field lines mean the same as one line joining them (RFC 9110 §5.3), and
		// the field holds a single version (§4.3's ABNF).
		{"§4.2.1/6 version on two lines 13 and 8", hsRequest(hsRequestGET, hf("Sec-WebSocket-Version", "13", "8")), hsWant{status: 426, reason: "Sec-WebSocket-Version", header: v13}},
		{"§4.2.1/9-10 unknown fields and extensions ignored", hsRequest(hsRequestGET, hf("X-Unknown", "1"), hf("Sec-WebSocket-Extensions", "permessage-deflate")), hsWant{status: 101, header: map[string]string{"Sec-WebSocket-Extensions": ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hsExchange(t, hsHandler{}, tt.req, tt.want)
		})
	}
}

// TestAcceptGolden pins the exact bytes of the 101 response (§4.2.2 item 5).
func TestAcceptGolden(t *testing.T) {
	// The handshake of RFC 6455 §1.3, request and response.
	rfcRequest := "GET /chat HTTP/1.1\r\n" +
		"Host: server.example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Origin: http://example.com\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	rfcResponse := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n\r\n"

	tests := []struct {
		name   string
		h      hsHandler
		req    string
		exact  string   // the response, when the RFC gives it
		fields []string // lines the response must hold
		absent []string // fields it must not hold
	}{{
		name:  "rfc6455-1.3",
		h:     hsHandler{opts: &ws.AcceptOptions{Subprotocols: []string{"chat"}, OriginPatterns: []string{"example.com"}}},
		req:   rfcRequest,
		exact: rfcResponse,
	}, {
		// Fields set on w.Header() before Accept go with the 101, except those
		// Accept writes itself and the body's.
		name: "extra-headers",
		h: hsHandler{header: http.Header{
			"Set-Cookie":           {"session=abc; HttpOnly"},
			"X-Served-By":          {"duplex"},
			"Content-Length":       {"12"},
			"Transfer-Encoding":    {"chunked"},
			"Upgrade":              {"h2c"},
			"Connection":           {"close"},
			"Sec-Websocket-Accept": {"forged"},
		}},
		req:    hsRequest(hsRequestGET),
		fields: []string{"Set-Cookie: session=abc; HttpOnly\r\n", "X-Served-By: duplex\r\n", "Upgrade: websocket\r\n", "Connection: Upgrade\r\n", "Sec-WebSocket-Accept: " + rfcAccept + "\r\n"},
		absent: []string{"Content-Length", "Transfer-Encoding", "h2c", "close", "forged"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newHSServer(t, tt.h) // serve is nil: the server closes right after the 101
			c := hsDialRaw(t, s.addr())
			c.send(tt.req)
			got, err := io.ReadAll(c.br)
			if err != nil {
				t.Fatal(err)
			}
			if a := s.result(t); a.err != nil {
				t.Fatalf("Accept: %v", a.err)
			}
			if tt.exact != "" && string(got) != tt.exact {
				t.Errorf("response\n%q\nwant RFC 6455 §1.3's\n%q", got, tt.exact)
			}
			for _, f := range tt.fields {
				if !bytes.Contains(got, []byte(f)) {
					t.Errorf("response %q lacks %q", got, f)
				}
			}
			for _, f := range tt.absent {
				if bytes.Contains(got, []byte(f)) {
					t.Errorf("response %q holds %q", got, f)
				}
			}
			hsGolden(t, tt.name+".golden", got)
		})
	}
}

// TestAcceptPipelinedFrame checks that frames the client sends right behind its request,
// in the same write, reach the connection: Accept hands over what net/http buffered.
func TestAcceptPipelinedFrame(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opcode  byte
		payload []byte
	}{
		{"text 5 bytes", 1, []byte("hello")},
		{"binary 70000 bytes, beyond net/http's buffer", 2, bytes.Repeat([]byte("0123456789"), 7000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newHSServer(t, hsHandler{serve: func(c *ws.Conn, _ *http.Request) {
				ctx, cancel := context.WithTimeout(context.Background(), hsTimeout)
				defer cancel()
				if typ, msg, err := c.Read(ctx); err == nil {
					c.Write(ctx, typ, msg)
				}
			}})
			c := hsDialRaw(t, s.addr())
			c.send(hsRequest(hsRequestGET) + string(hsFrame(tt.opcode, tt.payload, []byte{1, 2, 3, 4})))
			resp, _ := c.response(http.MethodGet)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %s", resp.Status)
			}
			rest, err := io.ReadAll(c.br)
			if err != nil {
				t.Fatal(err)
			}
			if want := hsFrame(tt.opcode, tt.payload, nil); !bytes.Equal(rest, want) {
				t.Errorf("after the 101 the server sent %d bytes (%.40q…); want the echoed frame, %d bytes", len(rest), rest, len(want))
			}
		})
	}
}

// TestAcceptClearsServerDeadlines checks that the http.Server's read and write timeouts,
// which cover the request, do not outlive Accept. The test has to let them pass.
func TestAcceptClearsServerDeadlines(t *testing.T) {
	const timeout = 50 * time.Millisecond
	s := startHSServer(t, hsServerConfig{setup: func(srv *http.Server) {
		srv.ReadTimeout = timeout
		srv.WriteTimeout = timeout
	}}, func(s *hsServer) http.Handler { return s.acceptFunc(hsHandler{serve: hsEcho}) })
	c, _ := hsMustDial(t, s.wsURL("/"), &ws.DialOptions{Proxy: hsNoProxy})
	<-time.After(3 * timeout)
	hsCheckEcho(t, c)
}

// TestSubprotocolAccept checks the server's choice of subprotocol (§4.2.2 item 4,
// /subprotocol/): its own preference order wins, and no agreement means no field.
func TestSubprotocolAccept(t *testing.T) {
	tests := []struct {
		name    string
		server  []string
		offered []string // Sec-WebSocket-Protocol lines
		want    string
	}{
		{"server preference wins over client order", []string{"b", "a"}, []string{"a, b"}, "b"},
		{"first of the server's that is offered", []string{"c", "b"}, []string{"a, b, c"}, "c"},
		{"several header lines", []string{"b"}, []string{"a", "b"}, "b"},
		{"spaces and empty elements", []string{"b"}, []string{" a ,, b "}, "b"},
		{"none agreed", []string{"x"}, []string{"a, b"}, ""},
		{"client offers none", []string{"a"}, nil, ""},
		{"server speaks none", nil, []string{"a"}, ""},
		{"compared exactly", []string{"Chat"}, []string{"chat"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := hsHandler{opts: &ws.AcceptOptions{Subprotocols: tt.server}}
			resp, a := hsExchange(t, h, hsRequest(hsRequestGET, hf("Sec-WebSocket-Protocol", tt.offered...)), hsWant{status: 101})
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); !slices.Equal(got, want) {
				t.Errorf("Sec-WebSocket-Protocol fields %q; want %q", got, want)
			}
			if a.subprotocol != tt.want {
				t.Errorf("server Conn.Subprotocol() = %q; want %q", a.subprotocol, tt.want)
			}
		})
	}
}

// TestSubprotocolDial checks that Dial offers its subprotocols in order and reports the
// one agreed, on both ends.
func TestSubprotocolDial(t *testing.T) {
	tests := []struct {
		name          string
		server, offer []string
		want          string
	}{
		{"agreed", []string{"b", "a"}, []string{"a", "b"}, "b"},
		{"none agreed", []string{"x"}, []string{"a", "b"}, ""},
		{"none offered", []string{"a"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newHSServer(t, hsHandler{opts: &ws.AcceptOptions{Subprotocols: tt.server}, serve: hsEcho})
			c, resp := hsMustDial(t, s.wsURL("/"), &ws.DialOptions{Subprotocols: tt.offer, Proxy: hsNoProxy})
			a := s.result(t)
			if got, want := a.r.Header.Values("Sec-WebSocket-Protocol"), strings.Join(tt.offer, ", "); want == "" && len(got) > 0 || want != "" && !slices.Equal(got, []string{want}) {
				t.Errorf("server received Sec-WebSocket-Protocol %q; want %q", got, want)
			}
			if c.Subprotocol() != tt.want || a.subprotocol != tt.want {
				t.Errorf("Subprotocol() = %q on the client, %q on the server; want %q", c.Subprotocol(), a.subprotocol, tt.want)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.want {
				t.Errorf("response Sec-WebSocket-Protocol %q; want %q", got, tt.want)
			}
			hsCheckEcho(t, c)
		})
	}
}

// TestOrigin checks the origin policy (§4.2.2 item 4, /origin/; §10.2): requests from
// other origins are refused with 403 unless a pattern allows them.
func TestOrigin(t *testing.T) {
	patterns := func(p ...string) *ws.AcceptOptions { return &ws.AcceptOptions{OriginPatterns: p} }
	tests := []struct {
		name   string
		opts   *ws.AcceptOptions
		host   string // "" means server.example.com
		origin string // "" means no Origin field
		status int
		reason string
	}{
		{name: "§4.2.1/7 no Origin: not a browser", status: 101},
		{name: "same host", origin: "http://server.example.com", status: 101},
		{name: "same host in another case, with port", host: "Server.Example.com:8080", origin: "https://server.EXAMPLE.com:8080", status: 101},
		{name: "same host on another port", host: "server.example.com:8080", origin: "http://server.example.com:9090", status: 403, reason: `origin "http://server.example.com:9090" not allowed`},
		{name: "other host", origin: "https://evil.example", status: 403, reason: `origin "https://evil.example" not allowed`},
		{name: "malformed Origin", origin: "http://[::1", status: 403, reason: "malformed Origin header"},
		{name: "null without a pattern", origin: "null", status: 403, reason: `origin "null" not allowed`},
		{name: "null pattern", opts: patterns("null"), origin: "null", status: 101},
		{name: "*.example.com matches a subdomain", opts: patterns("*.example.com"), origin: "https://chat.example.com", status: 101},
		{name: "*.example.com matches any scheme", opts: patterns("*.example.com"), origin: "http://chat.example.com", status: 101},
		{name: "*.example.com does not match example.com", opts: patterns("*.example.com"), origin: "https://example.com", status: 403, reason: "not allowed"},
		{name: "*.example.com does not match evilexample.com", opts: patterns("*.example.com"), origin: "https://evilexample.com", status: 403, reason: "not allowed"},
		{name: "*.example.com does not match other ports", opts: patterns("*.example.com"), origin: "https://chat.example.com:8443", status: 403, reason: "not allowed"},
		{name: "patterns match case-insensitively", opts: patterns("*.Example.COM"), origin: "https://CHAT.example.com", status: 101},
		{name: "localhost:* matches any port", opts: patterns("localhost:*"), origin: "http://localhost:3000", status: 101},
		{name: "localhost:* needs a port", opts: patterns("localhost:*"), origin: "http://localhost", status: 403, reason: "not allowed"},
		{name: "scheme form matches its scheme", opts: patterns("https://*.example.com"), origin: "https://app.example.com", status: 101},
		{name: "scheme form refuses another scheme", opts: patterns("https://*.example.com"), origin: "http://app.example.com", status: 403, reason: "not allowed"},
		{name: "second pattern matches", opts: patterns("a.example", "b.example"), origin: "https://b.example", status: 101},
		{name: "InsecureSkipVerifyOrigin", opts: &ws.AcceptOptions{InsecureSkipVerifyOrigin: true}, origin: "https://evil.example", status: 101},
		{name: "malformed pattern", opts: patterns("["), origin: "https://evil.example", status: 500, reason: `malformed origin pattern "["`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var edits []hsField
			if tt.host != "" {
				edits = append(edits, hf("Host", tt.host))
			}
			if tt.origin != "" {
				edits = append(edits, hf("Origin", tt.origin))
			}
			hsExchange(t, hsHandler{opts: tt.opts}, hsRequest(hsRequestGET, edits...), hsWant{status: tt.status, reason: tt.reason})
		})
	}
}

// hsStatusWriter is logging middleware's ResponseWriter: it records the status and exposes
// the writer it wraps through Unwrap, as http.ResponseController expects.
type hsStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *hsStatusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *hsStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hsOpaqueWriter wraps a ResponseWriter and hides everything but its three methods.
type hsOpaqueWriter struct{ http.ResponseWriter }

// hsHijackWriter wraps a ResponseWriter without Unwrap, but passes Hijack on.
type hsHijackWriter struct {
	http.ResponseWriter
	http.Hijacker
}

// TestAcceptRouters checks Accept under routers and middleware.
func TestAcceptRouters(t *testing.T) {
	t.Run("ServeMux pattern", func(t *testing.T) {
		t.Parallel()
		s := startHSServer(t, hsServerConfig{}, func(s *hsServer) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("GET /ws/{room}", s.acceptFunc(hsHandler{serve: hsEcho}))
			return mux
		})
		c, _ := hsMustDial(t, s.wsURL("/ws/lobby"), &ws.DialOptions{Proxy: hsNoProxy})
		if room := s.result(t).r.PathValue("room"); room != "lobby" {
			t.Errorf("room %q; want lobby", room)
		}
		hsCheckEcho(t, c)
	})

	// middleware wraps every ResponseWriter with wrap and reports the status written
	// through it.
	middleware := func(wrap func(http.ResponseWriter) http.ResponseWriter, statuses chan<- int, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &hsStatusWriter{ResponseWriter: w}
			next.ServeHTTP(wrap(sw), r)
			statuses <- sw.status
		})
	}
	tests := []struct {
		name string
		wrap func(http.ResponseWriter) http.ResponseWriter
		ok   bool
	}{
		{"wrapper with Unwrap", func(w http.ResponseWriter) http.ResponseWriter { return w }, true},
		{"wrapper with Hijack", func(w http.ResponseWriter) http.ResponseWriter {
			return hsHijackWriter{w, http.NewResponseController(w)}
		}, true},
		{"wrapper with neither", func(w http.ResponseWriter) http.ResponseWriter { return hsOpaqueWriter{w} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			statuses := make(chan int, 4)
			s := startHSServer(t, hsServerConfig{}, func(s *hsServer) http.Handler {
				return middleware(tt.wrap, statuses, s.acceptFunc(hsHandler{serve: hsEcho}))
			})
			c, resp, err := ws.Dial(hsCtx(t), s.wsURL("/"), &ws.DialOptions{Proxy: hsNoProxy})
			a := s.result(t)
			if tt.ok {
				if err != nil || a.err != nil {
					t.Fatalf("Dial: %v; Accept: %v", err, a.err)
				}
				defer c.CloseNow()
				hsCheckEcho(t, c)
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(a.err, http.ErrNotSupported) || !strings.Contains(a.err.Error(), "hijack") {
				t.Errorf("Accept error %v; want one about hijacking, wrapping http.ErrNotSupported", a.err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "cannot take over this connection") {
				t.Errorf("response %s %q; want 500 saying the connection cannot be taken over", resp.Status, body)
			}
			if st := <-statuses; st != http.StatusInternalServerError {
				t.Errorf("middleware saw status %d; want 500", st)
			}
		})
	}

	t.Run("middleware sees the rejection", func(t *testing.T) {
		t.Parallel()
		statuses := make(chan int, 4)
		s := startHSServer(t, hsServerConfig{}, func(s *hsServer) http.Handler {
			return middleware(func(w http.ResponseWriter) http.ResponseWriter { return w }, statuses, s.acceptFunc(hsHandler{}))
		})
		c := hsDialRaw(t, s.addr())
		c.send(hsRequest(hsRequestGET, hf("Sec-WebSocket-Version", "8")))
		if resp, _ := c.response(http.MethodGet); resp.StatusCode != http.StatusUpgradeRequired {
			t.Errorf("status %s; want 426", resp.Status)
		}
		if st := <-statuses; st != http.StatusUpgradeRequired {
			t.Errorf("middleware saw status %d; want 426", st)
		}
	})
}

// TestAcceptHTTP2 checks that an HTTP/2 request, which cannot be upgraded (RFC 9113
// §8.6), is refused with 505.
func TestAcceptHTTP2(t *testing.T) {
	const reason = "HTTP/2.0 requests cannot be upgraded; use HTTP/1.1"
	t.Run("constructed request", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "https://server.example.com/chat", nil)
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Sec-WebSocket-Key", rfcKey)
		r.Header.Set("Sec-WebSocket-Version", "13")
		w := httptest.NewRecorder()
		c, err := ws.Accept(w, r, nil)
		if c != nil || !errors.Is(err, ws.ErrBadHandshake) {
			t.Fatalf("Accept = %v, %v; want an error wrapping ws.ErrBadHandshake", c, err)
		}
		if w.Code != http.StatusHTTPVersionNotSupported || !strings.Contains(w.Body.String(), reason) {
			t.Errorf("response %d %q; want 505 saying %q", w.Code, w.Body, reason)
		}
	})
	t.Run("HTTP/2 server", func(t *testing.T) {
		s := startHSServer(t, hsServerConfig{tls: true, http2: true}, func(s *hsServer) http.Handler {
			return s.acceptFunc(hsHandler{})
		})
		req, err := http.NewRequestWithContext(hsCtx(t), http.MethodGet, s.URL+"/chat", nil)
		if err != nil {
			t.Fatal(err)
		}
		// HTTP/2 has no Upgrade or Connection fields (RFC 9113 §8.2.2).
		req.Header.Set("Sec-WebSocket-Key", rfcKey)
		req.Header.Set("Sec-WebSocket-Version", "13")
		client := s.Client()
		defer client.CloseIdleConnections()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("request went over %s; want HTTP/2", resp.Proto)
		}
		if resp.StatusCode != http.StatusHTTPVersionNotSupported || !strings.Contains(string(body), reason) {
			t.Errorf("response %s %q; want 505 saying %q", resp.Status, body, reason)
		}
		if a := s.result(t); !errors.Is(a.err, ws.ErrBadHandshake) {
			t.Errorf("Accept error %v; want one wrapping ws.ErrBadHandshake", a.err)
		}
	})
}

// TestDialTLS checks wss:// against an https server trusted through TLSConfig.
func TestDialTLS(t *testing.T) {
	for _, http2 := range []bool{false, true} {
		name := "HTTP/1.1 server"
		if http2 {
			name = "server offering h2 first" // ALPN must settle on http/1.1
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startHSServer(t, hsServerConfig{tls: true, http2: http2}, func(s *hsServer) http.Handler {
				return s.acceptFunc(hsHandler{serve: hsEcho})
			})
			cfg := &tls.Config{RootCAs: s.certPool()}
			c, _ := hsMustDial(t, s.wsURL("/"), &ws.DialOptions{TLSConfig: cfg, Proxy: hsNoProxy})
			hsCheckEcho(t, c)
			r := s.result(t).r
			if r.TLS == nil || r.TLS.NegotiatedProtocol != "http/1.1" {
				t.Errorf("server's TLS state %+v; want ALPN http/1.1", r.TLS)
			}
			if cfg.ServerName != "" || cfg.NextProtos != nil {
				t.Errorf("Dial modified the caller's TLSConfig: ServerName %q, NextProtos %q", cfg.ServerName, cfg.NextProtos)
			}
		})
	}
}

// TestDialTLSFailures checks that a failed TLS handshake gives a clear error.
func TestDialTLSFailures(t *testing.T) {
	tlsServer := startHSServer(t, hsServerConfig{tls: true}, func(s *hsServer) http.Handler { return s.acceptFunc(hsHandler{}) })
	plainServer := newHSServer(t, hsHandler{})
	tests := []struct {
		name   string
		url    string
		cfg    *tls.Config
		target any // for errors.As
		msg    string
	}{
		{"unknown authority", tlsServer.wsURL("/"), nil, new(x509.UnknownAuthorityError), "certificate signed by unknown authority"},
		{"wrong server name", tlsServer.wsURL("/"), &tls.Config{RootCAs: tlsServer.certPool(), ServerName: "other.test"}, new(x509.HostnameError), "other.test"},
		{"plain HTTP server", "wss://" + plainServer.addr() + "/", nil, new(tls.RecordHeaderError), "TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, resp, err := ws.Dial(hsCtx(t), tt.url, &ws.DialOptions{TLSConfig: tt.cfg, Proxy: hsNoProxy})
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if resp != nil || errors.Is(err, ws.ErrBadHandshake) {
				t.Errorf("Dial returned response %v and error %v; want no response and not ErrBadHandshake", resp, err)
			}
			if !errors.As(err, tt.target) || !strings.Contains(err.Error(), "TLS handshake") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Dial error %q; want a TLS handshake error of type %T saying %q", err, tt.target, tt.msg)
			}
		})
	}
}

// TestDialURLs checks how Dial maps URLs (§3, §4.1 items 1-4) to the address dialled, the
// Host field and the request-target. Every dial goes to a test server whatever the host.
func TestDialURLs(t *testing.T) {
	plain := newHSServer(t, hsHandler{serve: hsEcho})
	secure := startHSServer(t, hsServerConfig{tls: true}, func(s *hsServer) http.Handler { return s.acceptFunc(hsHandler{serve: hsEcho}) })
	tests := []struct {
		url     string
		dialled string
		host    string
		target  string
		tls     bool
	}{
		{"ws://example.com/chat", "example.com:80", "example.com", "/chat", false},
		{"ws://example.com:8080/chat", "example.com:8080", "example.com:8080", "/chat", false},
		{"http://example.com/chat", "example.com:80", "example.com", "/chat", false},
		{"WS://Example.com/chat", "Example.com:80", "Example.com", "/chat", false},
		{"ws://example.com", "example.com:80", "example.com", "/", false},
		{"ws://example.com/chat?room=1&x=%20y#fragment", "example.com:80", "example.com", "/chat?room=1&x=%20y", false},
		{"ws://example.com/a%2Fb", "example.com:80", "example.com", "/a%2Fb", false},
		{"ws://[::1]:8080/", "[::1]:8080", "[::1]:8080", "/", false},
		{"ws://[::1]/", "[::1]:80", "[::1]", "/", false},
		{"wss://example.com/chat", "example.com:443", "example.com", "/chat", true},
		{"https://example.com:8443/chat?q#f", "example.com:8443", "example.com:8443", "/chat?q", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s := plain
			if tt.tls {
				s = secure
			}
			var dialled []string
			opts := &ws.DialOptions{
				TLSConfig: &tls.Config{RootCAs: secure.certPool()},
				Proxy:     hsNoProxy,
				NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dialled = append(dialled, addr)
					var d net.Dialer
					return d.DialContext(ctx, network, s.addr())
				},
			}
			c, _ := hsMustDial(t, tt.url, opts)
			hsCheckEcho(t, c)
			r := s.result(t).r
			if !slices.Equal(dialled, []string{tt.dialled}) {
				t.Errorf("dialled %q; want %q", dialled, tt.dialled)
			}
			if r.Host != tt.host || r.RequestURI != tt.target {
				t.Errorf("server received Host %q, request-target %q; want %q, %q", r.Host, r.RequestURI, tt.host, tt.target)
			}
		})
	}
}

// TestDialURLErrors checks that URLs Dial cannot use fail before anything is dialled.
func TestDialURLErrors(t *testing.T) {
	tests := []struct{ url, msg string }{
		{"ftp://example.com/", `unsupported URL scheme "ftp", want ws or wss`},
		{"example.com/chat", `unsupported URL scheme ""`},
		{"ws:///chat", `URL "ws:///chat" has no host`},
		{"ws:example.com", `URL "ws:example.com" has no host`},
		{"ws://exa mple.com/", "invalid character"},
		{"ws://example.com:port/", "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			opts := &ws.DialOptions{
				Proxy: hsNoProxy,
				NetDialContext: func(context.Context, string, string) (net.Conn, error) {
					t.Error("Dial dialled")
					return nil, errors.New("no dialling")
				},
			}
			c, resp, err := ws.Dial(hsCtx(t), tt.url, opts)
			if c != nil || resp != nil || err == nil {
				t.Fatalf("Dial = %v, %v, %v; want an error", c, resp, err)
			}
			if !strings.HasPrefix(err.Error(), "ws: dial") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Dial error %q; want one starting ws: dial and saying %q", err, tt.msg)
			}
		})
	}
}

// TestDialIPv6Loopback dials a server listening on [::1], if the host has IPv6.
func TestDialIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	s := startHSServer(t, hsServerConfig{listener: ln}, func(s *hsServer) http.Handler { return s.acceptFunc(hsHandler{serve: hsEcho}) })
	url := "ws://" + s.addr() + "/chat"
	if !strings.HasPrefix(url, "ws://[::1]:") {
		t.Fatalf("server URL %s", url)
	}
	c, _ := hsMustDial(t, url, &ws.DialOptions{Proxy: hsNoProxy})
	hsCheckEcho(t, c)
	if r := s.result(t).r; r.Host != s.addr() {
		t.Errorf("server received Host %q; want %q", r.Host, s.addr())
	}
}

// TestDialHeaders checks that the caller's fields reach the server (§4.1 item 12), that
// Dial's own fields win, and that Host overrides the Host field only.
func TestDialHeaders(t *testing.T) {
	t.Run("HTTPHeader", func(t *testing.T) {
		s := newHSServer(t, hsHandler{serve: hsEcho})
		h := http.Header{
			"Cookie":                {"session=abc; theme=dark"},
			"Authorization":         {"Bearer t0ken"},
			"X-Trace":               {"1", "2"},
			"host":                  {"ignored.example"},
			"sec-websocket-version": {"8"},
		}
		before := h.Clone()
		c, _ := hsMustDial(t, s.wsURL("/"), &ws.DialOptions{HTTPHeader: h, Proxy: hsNoProxy})
		hsCheckEcho(t, c)
		r := s.result(t).r
		if ck, err := r.Cookie("session"); err != nil || ck.Value != "abc" {
			t.Errorf("server's cookie session = %v, %v; want abc", ck, err)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer t0ken" {
			t.Errorf("Authorization %q", got)
		}
		if got := r.Header.Values("X-Trace"); !slices.Equal(got, []string{"1", "2"}) {
			t.Errorf("X-Trace %q; want both lines", got)
		}
		if r.Host != s.addr() {
			t.Errorf("Host %q; want the URL's %q, not the HTTPHeader entry", r.Host, s.addr())
		}
		if got := r.Header.Values("Sec-WebSocket-Version"); !slices.Equal(got, []string{"13"}) {
			t.Errorf("Sec-WebSocket-Version %q; want Dial's 13", got)
		}
		if !reflect.DeepEqual(h, before) {
			t.Errorf("Dial modified HTTPHeader: %v; was %v", h, before)
		}
	})
	t.Run("Host", func(t *testing.T) {
		s := newHSServer(t, hsHandler{serve: hsEcho})
		opts := &ws.DialOptions{
			Host:       "chat.example.com",
			HTTPHeader: http.Header{"Origin": {"https://chat.example.com"}}, // same origin as Host
			Proxy:      hsNoProxy,
		}
		c, _ := hsMustDial(t, s.wsURL("/"), opts)
		hsCheckEcho(t, c)
		if r := s.result(t).r; r.Host != "chat.example.com" {
			t.Errorf("Host %q; want chat.example.com", r.Host)
		}
	})
	t.Run("Origin refused", func(t *testing.T) {
		s := newHSServer(t, hsHandler{})
		opts := &ws.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}, Proxy: hsNoProxy}
		c, resp, err := ws.Dial(hsCtx(t), s.wsURL("/"), opts)
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial succeeded")
		}
		if !errors.Is(err, ws.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Dial = %v, %v; want 403 and an error wrapping ws.ErrBadHandshake", resp, err)
		}
	})
}

// TestDialRequestGolden pins the bytes of the request Dial sends (§4.1), its random key
// aside.
func TestDialRequestGolden(t *testing.T) {
	client, server := net.Pipe()
	requests := make(chan string, 1)
	go func() {
		defer server.Close()
		server.SetDeadline(time.Now().Add(hsTimeout))
		br := bufio.NewReader(server)
		var raw strings.Builder
		for {
			line, err := br.ReadString('\n')
			raw.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		requests <- raw.String()
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))
		if err != nil {
			return
		}
		io.WriteString(server, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			hsAcceptFor(r.Header.Get("Sec-WebSocket-Key"))+"\r\nSec-WebSocket-Protocol: chat\r\n\r\n")
		io.Copy(io.Discard, server)
	}()
	opts := &ws.DialOptions{
		Host:           "server.example.com",
		HTTPHeader:     http.Header{"Origin": {"http://example.com"}},
		Subprotocols:   []string{"chat", "superchat"},
		Proxy:          hsNoProxy,
		NetDialContext: func(context.Context, string, string) (net.Conn, error) { return client, nil },
	}
	c, _ := hsMustDial(t, "ws://127.0.0.1:1/chat?room=1", opts)
	if c.Subprotocol() != "chat" {
		t.Errorf("Subprotocol() = %q; want chat", c.Subprotocol())
	}
	c.CloseNow()
	raw := <-requests
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("Dial's request does not parse: %v\n%q", err, raw)
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		t.Errorf("Sec-WebSocket-Key %q is not base64 of 16 bytes (§4.1 item 7)", key)
	}
	hsGolden(t, "dial-request.golden", []byte(strings.Replace(raw, key, "<random key>", 1)))
}

// TestDialKeysDiffer checks that each handshake has a fresh key (§4.1 item 7).
func TestDialKeysDiffer(t *testing.T) {
	s := newHSServer(t, hsHandler{})
	seen := map[string]bool{}
	for range 3 {
		c, _ := hsMustDial(t, s.wsURL("/"), &ws.DialOptions{Proxy: hsNoProxy})
		c.CloseNow()
		key := s.result(t).r.Header.Get("Sec-WebSocket-Key")
		if seen[key] {
			t.Errorf("key %q sent twice", key)
		}
		seen[key] = true
	}
}

// hsTCPServer runs handle on every connection accepted on a listener. When the test ends
// it closes the listener and every connection it tracks, and waits for the handlers.
type hsTCPServer struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// startHSTCPServer serves on ln, or on a new loopback listener if ln is nil.
func startHSTCPServer(t *testing.T, ln net.Listener, handle func(net.Conn)) *hsTCPServer {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	s := &hsTCPServer{ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.track(nc) {
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(hsTimeout))
				handle(nc)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

// track makes close close nc too. It closes nc and returns false if the server is closed.
func (s *hsTCPServer) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return false
	}
	s.conns[nc] = true
	return true
}

func (s *hsTCPServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *hsTCPServer) addr() string { return s.ln.Addr().String() }

// newHSRawServer starts a TCP server that reads a handshake request on each connection,
// writes what respond returns for it ("" for nothing), and reads until the client goes
// away.
func newHSRawServer(t *testing.T, respond func(r *http.Request) string) *hsTCPServer {
	return startHSTCPServer(t, nil, func(nc net.Conn) {
		r, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			return
		}
		io.WriteString(nc, respond(r))
		io.Copy(io.Discard, nc)
	})
}

// hsResponse returns a response with the status line "HTTP/1.1 "+status and the given
// fields, in which {accept} stands for the right Sec-WebSocket-Accept for r and {key} for
// r's key.
func hsResponse(r *http.Request, status string, fields ...string) string {
	key := r.Header.Get("Sec-WebSocket-Key")
	s := "HTTP/1.1 " + status + "\r\n" + strings.Join(fields, "\r\n")
	if len(fields) > 0 {
		s += "\r\n"
	}
	return strings.NewReplacer("{accept}", hsAcceptFor(key), "{key}", key).Replace(s + "\r\n")
}

// TestDialResponseChecks checks the client's validation of the server's handshake (§4.1,
// second list, and §4.2.2 item 4): one row per rule.
func TestDialResponseChecks(t *testing.T) {
	const switching = "101 Switching Protocols"
	upgrade, connection, accept := "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: {accept}"
	tests := []struct {
		name   string
		offer  []string
		status string
		fields []string
		err    string // "" means the handshake succeeds
		want   string // the subprotocol agreed
	}{
		{name: "§4.1/1 status 200", status: "200 OK", fields: []string{"Content-Length: 0"}, err: `server answered "200 OK", not 101 Switching Protocols`},
		{name: "§4.1/2 Upgrade missing", fields: []string{connection, accept}, err: `no "Upgrade: websocket" header`},
		{name: "§4.1/2 Upgrade h2c", fields: []string{"Upgrade: h2c", connection, accept}, err: `no "Upgrade: websocket" header`},
		{name: "§4.1/2 Upgrade in any case", fields: []string{"Upgrade: WebSocket", connection, accept}},
		{name: "§4.1/3 Connection missing", fields: []string{upgrade, accept}, err: `no "Connection: upgrade" header`},
		{name: "§4.1/3 Connection keep-alive", fields: []string{upgrade, "Connection: keep-alive", accept}, err: `no "Connection: upgrade" header`},
		{name: "§4.1/3 Connection list in any case", fields: []string{upgrade, "Connection: keep-alive, upgrade", accept}},
		{name: "§4.1/4 Sec-WebSocket-Accept missing", fields: []string{upgrade, connection}, err: `Sec-WebSocket-Accept "" does not match`},
		{name: "§4.1/4 Sec-WebSocket-Accept echoes the key", fields: []string{upgrade, connection, "Sec-WebSocket-Accept: {key}"}, err: "does not match the key sent"},
		{name: "§4.1/4 Sec-WebSocket-Accept of another key", fields: []string{upgrade, connection, "Sec-WebSocket-Accept: " + rfcAccept}, err: "does not match the key sent"},
		{name: "§4.1/4 Sec-WebSocket-Accept with whitespace around it", fields: []string{upgrade, connection, "Sec-WebSocket-Accept: \t{accept} "}},
		// Two field lines mean the same as one line joining them (RFC 9110 §5.3), which
		// is not the single value §4.1 item 4 requires.
		{name: "§4.1/4 Sec-WebSocket-Accept twice", fields: []string{upgrade, connection, accept, "Sec-WebSocket-Accept: " + rfcAccept}, err: "Sec-WebSocket-Accept"},
		{name: "§4.1/5 extension not offered", fields: []string{upgrade, connection, accept, "Sec-WebSocket-Extensions: permessage-deflate"}, err: `server agreed extension "permessage-deflate", which was not offered`},
		{name: "§4.1/6 subprotocol agreed", offer: []string{"a", "b"}, fields: []string{upgrade, connection, accept, "Sec-WebSocket-Protocol: b"}, want: "b"},
		{name: "§4.1/6 subprotocol when none was offered", fields: []string{upgrade, connection, accept, "Sec-WebSocket-Protocol: chat"}, err: `server agreed subprotocol "chat", which was not offered`},
		{name: "§4.1/6 subprotocol not offered", offer: []string{"a"}, fields: []string{upgrade, connection, accept, "Sec-WebSocket-Protocol: b"}, err: `server agreed subprotocol "b", which was not offered`},
		{name: "§4.2.2/4 two subprotocols", offer: []string{"a", "b"}, fields: []string{upgrade, connection, accept, "Sec-WebSocket-Protocol: a, b"}, err: "server agreed 2 subprotocols, not one"},
		{name: "§4.2.2/4 two subprotocol lines", offer: []string{"a", "b"}, fields: []string{upgrade, connection, accept, "Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b"}, err: "server agreed 2 subprotocols, not one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := tt.status
			if status == "" {
				status = switching
			}
			s := newHSRawServer(t, func(r *http.Request) string { return hsResponse(r, status, tt.fields...) })
			c, resp, err := ws.Dial(hsCtx(t), "ws://"+s.addr()+"/", &ws.DialOptions{Subprotocols: tt.offer, Proxy: hsNoProxy})
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.CloseNow()
				if c.Subprotocol() != tt.want {
					t.Errorf("Subprotocol() = %q; want %q", c.Subprotocol(), tt.want)
				}
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ws.ErrBadHandshake) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Dial error %q; want one wrapping ws.ErrBadHandshake and saying %q", err, tt.err)
			}
			if resp == nil || resp.Status != status {
				t.Errorf("Dial returned response %v; want the server's %q", resp, status)
			}
		})
	}
}

// TestDialErrorResponse checks that a response other than 101 is returned to the caller
// with its body (§4.1: handled per HTTP), up to 64 KiB of it.
func TestDialErrorResponse(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	tests := []struct {
		name     string
		response string
		status   int
		field    [2]string // a field the caller must see
		body     string
	}{
		{"403 with a body", "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ngo away", 403, [2]string{"Content-Type", "text/plain"}, "go away"},
		{"401 asking for credentials", "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"chat\"\r\nContent-Length: 0\r\n\r\n", 401, [2]string{"Www-Authenticate", `Basic realm="chat"`}, ""},
		{"302 redirect, not followed", "HTTP/1.1 302 Found\r\nLocation: ws://elsewhere.example/\r\nContent-Length: 0\r\n\r\n", 302, [2]string{"Location", "ws://elsewhere.example/"}, ""},
		{"500 with a body beyond 64 KiB, until EOF", "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n" + big, 500, [2]string{"Content-Type", "text/plain"}, big[:64<<10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startHSTCPServer(t, nil, func(nc net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(nc)); err == nil {
					io.WriteString(nc, tt.response)
				}
			})
			c, resp, err := ws.Dial(hsCtx(t), "ws://"+s.addr()+"/", &ws.DialOptions{Proxy: hsNoProxy})
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ws.ErrBadHandshake) || !strings.Contains(err.Error(), "not 101 Switching Protocols") {
				t.Errorf("Dial error %q; want one wrapping ws.ErrBadHandshake", err)
			}
			if resp == nil {
				t.Fatal("no response")
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if resp.StatusCode != tt.status || resp.Header.Get(tt.field[0]) != tt.field[1] || string(body) != tt.body {
				t.Errorf("response %d, %s %q, body of %d bytes (%.20q); want %d, %q, %d bytes (%.20q)",
					resp.StatusCode, tt.field[0], resp.Header.Get(tt.field[0]), len(body), body, tt.status, tt.field[1], len(tt.body), tt.body)
			}
		})
	}
}

// TestDialBrokenResponse checks that something other than an HTTP response fails Dial
// with an error saying so.
func TestDialBrokenResponse(t *testing.T) {
	tests := []struct{ name, response, err string }{
		{"not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n", "malformed HTTP"},
		{"hang-up", "", "EOF"},
		{"cut short", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The server writes its response and hangs up.
			s := startHSTCPServer(t, nil, func(nc net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(nc)); err == nil {
					io.WriteString(nc, tt.response)
				}
			})
			c, resp, err := ws.Dial(hsCtx(t), "ws://"+s.addr()+"/", &ws.DialOptions{Proxy: hsNoProxy})
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if resp != nil || !strings.Contains(err.Error(), "reading the handshake response") || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Dial = %v, %q; want no response and an error reading it, saying %q", resp, err, tt.err)
			}
		})
	}
}

// TestDialLeftover checks that frames the server sends right behind its 101, in the same
// write, are read by the connection.
func TestDialLeftover(t *testing.T) {
	s := newHSRawServer(t, func(r *http.Request) string {
		return hsResponse(r, "101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: {accept}") +
			string(hsFrame(1, []byte("hello"), nil)) + string(hsFrame(2, []byte("world"), nil))
	})
	c, _ := hsMustDial(t, "ws://"+s.addr()+"/", &ws.DialOptions{Proxy: hsNoProxy})
	ctx := hsCtx(t)
	for _, want := range []struct {
		typ ws.MessageType
		msg string
	}{{ws.MessageText, "hello"}, {ws.MessageBinary, "world"}} {
		typ, msg, err := c.Read(ctx)
		if err != nil || typ != want.typ || string(msg) != want.msg {
			t.Fatalf("Read = %v, %q, %v; want %v %q", typ, msg, err, want.typ, want.msg)
		}
	}
}

// TestDialContext checks that ctx bounds the whole handshake.
func TestDialContext(t *testing.T) {
	silent := startHSTCPServer(t, nil, func(nc net.Conn) { io.Copy(io.Discard, nc) })
	t.Run("deadline, server never answers", func(t *testing.T) {
		t.Parallel()
		for _, scheme := range []string{"ws", "wss"} { // wss: stuck in the TLS handshake
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			c, resp, err := ws.Dial(ctx, scheme+"://"+silent.addr()+"/", &ws.DialOptions{Proxy: hsNoProxy})
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("%s: Dial returned after %v", scheme, elapsed)
			}
			if c != nil || resp != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: Dial = %v, %v, %v; want context.DeadlineExceeded", scheme, c, resp, err)
			}
		}
	})
	t.Run("cancel while waiting for the response", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := newHSRawServer(t, func(*http.Request) string {
			cancel()
			return ""
		})
		c, resp, err := ws.Dial(ctx, "ws://"+s.addr()+"/", &ws.DialOptions{Proxy: hsNoProxy})
		if c != nil || resp != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Dial = %v, %v, %v; want context.Canceled", c, resp, err)
		}
	})
	t.Run("canceled before", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c, _, err := ws.Dial(ctx, "ws://"+silent.addr()+"/", &ws.DialOptions{Proxy: hsNoProxy})
		if c != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Dial = %v, %v; want context.Canceled", c, err)
		}
	})
	t.Run("no effect once Dial returns", func(t *testing.T) {
		t.Parallel()
		s := newHSServer(t, hsHandler{serve: hsEcho})
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		c, _, err := ws.Dial(ctx, s.wsURL("/"), &ws.DialOptions{Proxy: hsNoProxy})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		<-ctx.Done()
		hsCheckEcho(t, c)
	})
}

// TestDialConnectionRefused checks the error when nothing listens, and that it does not
// show the URL's password.
func TestDialConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, resp, err := ws.Dial(hsCtx(t), "ws://user:s3cret@"+addr+"/chat", &ws.DialOptions{Proxy: hsNoProxy})
	if c != nil || resp != nil || err == nil {
		t.Fatalf("Dial = %v, %v, %v; want an error", c, resp, err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, ws.ErrBadHandshake) {
		t.Errorf("Dial error %q; want ECONNREFUSED, not ErrBadHandshake", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "ws: dial ws://user:xxxxx@"+addr+"/chat: ") || strings.Contains(msg, "s3cret") {
		t.Errorf("Dial error %q; want it to name the URL without its password", msg)
	}
}
