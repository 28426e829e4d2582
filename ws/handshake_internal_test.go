package ws

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file tests the handshake's unexported helpers; handshake_test.go tests the
// handshake itself.

// TestHandshakeAcceptKey checks the example of RFC 6455 §1.3 (and §4.2.2 item 5.4).
func TestHandshakeAcceptKey(t *testing.T) {
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("acceptKey = %q; want s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", got)
	}
}

// TestHandshakeValidKey checks §4.2.1 item 5: base64 of exactly 16 bytes.
func TestHandshakeValidKey(t *testing.T) {
	b16 := bytes.Repeat([]byte{0xfb}, 16)
	tests := []struct {
		key  string
		want bool
	}{
		{"dGhlIHNhbXBsZSBub25jZQ==", true},
		{base64.StdEncoding.EncodeToString(b16), true},
		{"", false},
		{base64.URLEncoding.EncodeToString(b16), false},
		{base64.RawStdEncoding.EncodeToString(b16), false},
		{base64.StdEncoding.EncodeToString(b16[:15]), false},
		{base64.StdEncoding.EncodeToString(append(b16, 0)), false},
		{"!!!!!!!!!!!!!!!!!!!!!!==", false},
		{" dGhlIHNhbXBsZSBub25jZQ==", false},
		{"dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==", false},
	}
	for _, tt := range tests {
		if got := validKey(tt.key); got != tt.want {
			t.Errorf("validKey(%q) = %v; want %v", tt.key, got, tt.want)
		}
	}
}

// TestHandshakeNewKey checks that keys are valid and fresh (§4.1 item 7).
func TestHandshakeNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k := newKey()
		if !validKey(k) || seen[k] {
			t.Fatalf("newKey() = %q: valid %v, seen before %v", k, validKey(k), seen[k])
		}
		seen[k] = true
	}
}

// TestHandshakeHeaderTokens checks the splitting of token lists (RFC 9110 §5.6.1).
func TestHandshakeHeaderTokens(t *testing.T) {
	tests := []struct {
		lines []string
		want  []string
	}{
		{nil, nil},
		{[]string{""}, nil},
		{[]string{"Upgrade"}, []string{"Upgrade"}},
		{[]string{"keep-alive, Upgrade"}, []string{"keep-alive", "Upgrade"}},
		{[]string{" a ,\tb\t, ,c,"}, []string{"a", "b", "c"}},
		{[]string{",,,"}, nil},
		{[]string{"a", "b, c"}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		h := http.Header{"Connection": tt.lines}
		if got := headerList(h, "connection"); !slices.Equal(got, tt.want) {
			t.Errorf("headerList(%q) = %q; want %q", tt.lines, got, tt.want)
		}
	}

	var seen []string
	headerTokens(http.Header{"X": {"a, b", "c"}}, "X", func(token string) bool {
		seen = append(seen, token)
		return token != "b"
	})
	if !slices.Equal(seen, []string{"a", "b"}) {
		t.Errorf("headerTokens went on after f returned false: %q", seen)
	}

	h := http.Header{"Connection": {"keep-alive", "UPGRADE"}}
	if !headerHasToken(h, "Connection", "upgrade") || headerHasToken(h, "Connection", "upgrad") {
		t.Error("headerHasToken must compare whole tokens, case-insensitively")
	}
}

// TestHandshakeCheckRequest checks the statuses checkRequest gives, with requests net/http
// never hands a handler over HTTP/1.1.
func TestHandshakeCheckRequest(t *testing.T) {
	valid := func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://server.example.com/chat", nil)
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		r.Header.Set("Sec-WebSocket-Version", "13")
		return r
	}
	if err := checkRequest(valid()); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	tests := []struct {
		name   string
		edit   func(*http.Request)
		status int
		msg    string
	}{
		{"HTTP/2", func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0 }, 505, "HTTP/2.0 requests cannot be upgraded; use HTTP/1.1"},
		{"HTTP/3", func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/3.0", 3, 0 }, 505, "HTTP/3.0 requests cannot be upgraded"},
		{"HTTP/0.9", func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/0.9", 0, 9 }, 400, "not HTTP/1.1 or later"},
		{"no Host", func(r *http.Request) { r.Host = "" }, 400, "no Host header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.edit(r)
			var he *HandshakeError
			if err := checkRequest(r); !errors.As(err, &he) || he.Status != tt.status || !strings.Contains(he.Reason, tt.msg) || !errors.Is(err, ErrBadHandshake) {
				t.Errorf("checkRequest = %v; want status %d saying %q, wrapping ErrBadHandshake", err, tt.status, tt.msg)
			}
		})
	}
}

// TestHandshakeTLSConfig checks the defaults tlsConfig adds, and that it leaves the
// caller's config alone.
func TestHandshakeTLSConfig(t *testing.T) {
	got := tlsConfig(nil, "example.com")
	if got.ServerName != "example.com" || !slices.Equal(got.NextProtos, []string{"http/1.1"}) {
		t.Errorf("tlsConfig(nil) = ServerName %q, NextProtos %q", got.ServerName, got.NextProtos)
	}
	mine := &tls.Config{ServerName: "chat.example.com", NextProtos: []string{"x"}, MinVersion: tls.VersionTLS13}
	got = tlsConfig(mine, "example.com")
	if got == mine || got.ServerName != "chat.example.com" || !slices.Equal(got.NextProtos, []string{"x"}) || got.MinVersion != tls.VersionTLS13 {
		t.Errorf("tlsConfig(mine) = %p ServerName %q NextProtos %q; want a copy keeping them", got, got.ServerName, got.NextProtos)
	}
	empty := &tls.Config{}
	tlsConfig(empty, "example.com")
	if empty.ServerName != "" || empty.NextProtos != nil {
		t.Error("tlsConfig modified the caller's config")
	}
}

// TestHandshakeHostPort checks the default ports of §3.
func TestHandshakeHostPort(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://example.com/", "example.com:80"},
		{"https://example.com/", "example.com:443"},
		{"http://example.com:8080/", "example.com:8080"},
		{"http://[::1]/", "[::1]:80"},
		{"https://[::1]:8443/", "[::1]:8443"},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.url)
		if got := hostPort(u); got != tt.want {
			t.Errorf("hostPort(%s) = %q; want %q", tt.url, got, tt.want)
		}
	}
}

// TestHandshakeRedact checks that errors show ws URLs without their passwords.
func TestHandshakeRedact(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://example.com/chat?q=1", "ws://example.com/chat?q=1"},
		{"https://user:secret@example.com/", "wss://user:xxxxx@example.com/"},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.url)
		if got := redact(u); got != tt.want {
			t.Errorf("redact(%s) = %q; want %q", tt.url, got, tt.want)
		}
	}
}

// hsProxyPeer runs script on the proxy's end of a pipe whose other end is returned, and
// reports script's error on the channel.
func hsProxyPeer(t *testing.T, script func(nc net.Conn) error) (net.Conn, <-chan error) {
	client, proxy := net.Pipe()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	proxy.SetDeadline(time.Now().Add(5 * time.Second))
	t.Cleanup(func() { client.Close() })
	done := make(chan error, 1)
	go func() {
		defer proxy.Close()
		done <- script(proxy)
	}()
	return client, done
}

// hsExpect reads len(want) bytes from nc and fails unless they are want.
func hsExpect(nc net.Conn, want []byte) error {
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("proxy read %q, want %q", got, want)
	}
	return nil
}

// TestProxyHTTPConnectNoReadAhead checks that httpConnect consumes the CONNECT response and
// nothing after it: what follows belongs to the tunnel.
func TestProxyHTTPConnectNoReadAhead(t *testing.T) {
	nc, done := hsProxyPeer(t, func(nc net.Conn) error {
		want := "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\nUser-Agent: Go-http-client/1.1\r\nProxy-Authorization: Basic " +
			base64.StdEncoding.EncodeToString([]byte("alice:pa:ss")) + "\r\n\r\n"
		if err := hsExpect(nc, []byte(want)); err != nil {
			return err
		}
		_, err := io.WriteString(nc, "HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\ntunnel bytes")
		return err
	})
	if err := httpConnect(nc, url.UserPassword("alice", "pa:ss"), "example.com:80"); err != nil {
		t.Fatalf("httpConnect: %v", err)
	}
	rest := make([]byte, len("tunnel bytes"))
	if _, err := io.ReadFull(nc, rest); err != nil || string(rest) != "tunnel bytes" {
		t.Errorf("after the CONNECT response the tunnel read %q, %v; want %q", rest, err, "tunnel bytes")
	}
	if err := <-done; err != nil {
		t.Errorf("proxy: %v", err)
	}
}

// TestProxySOCKS5Wire checks the bytes of socks5Connect against RFC 1928 §3-6 and RFC 1929
// §2, and that it leaves the bytes after the reply to the tunnel.
func TestProxySOCKS5Wire(t *testing.T) {
	tests := []struct {
		name    string
		user    *url.Userinfo
		addr    string
		request []byte // after VER CMD RSV
	}{
		{"IPv4", nil, "127.0.0.1:8080", []byte{1, 127, 0, 0, 1, 0x1f, 0x90}},
		{"IPv6", nil, "[::1]:443", append(append([]byte{4}, net.IPv6loopback...), 1, 0xbb)},
		{"domain name", nil, "ws.example:80", append(append([]byte{3, 10}, "ws.example"...), 0, 80)},
		{"user and password", url.UserPassword("alice", "secret"), "127.0.0.1:80", []byte{1, 127, 0, 0, 1, 0, 80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, done := hsProxyPeer(t, func(nc net.Conn) error {
				if tt.user == nil {
					if err := hsExpect(nc, []byte{5, 1, 0}); err != nil {
						return err
					}
					nc.Write([]byte{5, 0})
				} else {
					if err := hsExpect(nc, []byte{5, 2, 0, 2}); err != nil {
						return err
					}
					nc.Write([]byte{5, 2})
					if err := hsExpect(nc, append(append([]byte{1, 5}, "alice"...), append([]byte{6}, "secret"...)...)); err != nil {
						return err
					}
					nc.Write([]byte{1, 0})
				}
				if err := hsExpect(nc, append([]byte{5, 1, 0}, tt.request...)); err != nil {
					return err
				}
				_, err := nc.Write(append([]byte{5, 0, 0, 3, 4, 'b', 'n', 'd', '.', 0, 1}, "tunnel"...))
				return err
			})
			if err := socks5Connect(nc, tt.user, tt.addr); err != nil {
				t.Fatalf("socks5Connect: %v", err)
			}
			rest := make([]byte, len("tunnel"))
			if _, err := io.ReadFull(nc, rest); err != nil || string(rest) != "tunnel" {
				t.Errorf("after the reply the tunnel read %q, %v; want %q", rest, err, "tunnel")
			}
			if err := <-done; err != nil {
				t.Errorf("proxy: %v", err)
			}
		})
	}
}

// TestProxySOCKS5Refusals checks socks5Connect's errors for proxies that refuse.
func TestProxySOCKS5Refusals(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
		err   string
	}{
		{"not SOCKS5", []byte{4, 0}, "not a SOCKS5 proxy (version 4)"},
		{"no acceptable method", []byte{5, 0xff}, "accepts none of the offered authentication methods"},
		{"asks for a password not given", []byte{5, 2}, "requires a user name and password"},
		{"host unreachable", []byte{5, 0, 5, 4, 0, 1}, "SOCKS5 CONNECT 127.0.0.1:80: host unreachable"},
		{"unknown reply code", []byte{5, 0, 5, 9, 0, 1}, "reply code 9"},
		{"unknown address type", []byte{5, 0, 5, 0, 0, 9}, "unknown address type 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, done := hsProxyPeer(t, func(nc net.Conn) error {
				go io.Copy(io.Discard, nc) // whatever the client sends; ends when the pipe closes
				_, err := nc.Write(tt.reply)
				return err
			})
			err := socks5Connect(nc, nil, "127.0.0.1:80")
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("socks5Connect = %v; want an error saying %q", err, tt.err)
			}
			nc.Close()
			<-done
		})
	}
}
