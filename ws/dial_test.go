package ws_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
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
