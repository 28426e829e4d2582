package ws_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// This file tests the opening handshake of RFC 6455 §4: the server's checks of a request
// (Accept), the client's request and its checks of the response (Dial), subprotocols,
// origins, routers, TLS. Requests and responses are raw bytes over loopback TCP, so the
// tests say exactly what goes over the wire. Proxies are in proxy_test.go.

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
