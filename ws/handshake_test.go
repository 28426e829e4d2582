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
	"slices"
	"strings"
	"sync"
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
