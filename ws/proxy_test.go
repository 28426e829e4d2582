package ws_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// This file tests Dial through proxies: a tiny HTTP CONNECT proxy (RFC 9110 §9.3.6) and a
// tiny SOCKS5 proxy (RFC 1928, with user name and password authentication of RFC 1929),
// both on loopback, in front of the test servers of handshake_test.go.

// hsProxy is a CONNECT or SOCKS5 proxy on loopback. It only connects to loopback
// addresses, and to the host names in hosts.
type hsProxy struct {
	kind       string            // "http" (CONNECT) or "socks5"
	user, pass string            // the credentials it demands, if user is set
	hosts      map[string]string // addresses to connect to for host:port targets
	refuse     byte              // if set, refuse to connect: SOCKS5 answers this reply code, CONNECT 502
	socksBind  byte              // address type of the SOCKS5 reply's bound address; 0 means IPv4
	listener   net.Listener      // nil means a new one on 127.0.0.1

	targets chan string // every target a client asked for
	srv     *hsTCPServer
}

// start starts p, which is closed when the test ends.
func (p *hsProxy) start(t *testing.T) *hsProxy {
	t.Helper()
	p.targets = make(chan string, 16)
	handle := p.serveCONNECT
	if p.kind == "socks5" {
		handle = p.serveSOCKS5
	}
	p.srv = startHSTCPServer(t, p.listener, handle)
	return p
}

// url returns the proxy's URL, with user and password if user is set.
func (p *hsProxy) url(user, pass string) *url.URL {
	u := &url.URL{Scheme: p.kind, Host: p.srv.addr()}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	return u
}

// target returns the next target a client asked for.
func (p *hsProxy) target(t *testing.T) string {
	t.Helper()
	select {
	case target := <-p.targets:
		return target
	default:
		t.Fatal("the proxy received no request")
		return ""
	}
}

// connect opens the connection to target, refusing anything but loopback.
func (p *hsProxy) connect(target string) (net.Conn, error) {
	p.targets <- target
	if p.refuse != 0 {
		return nil, errors.New("refused")
	}
	addr, ok := p.hosts[target]
	if !ok {
		host, _, err := net.SplitHostPort(target)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, errors.New("not a loopback address")
		}
		addr = target
	}
	up, err := net.DialTimeout("tcp", addr, hsTimeout)
	if err != nil {
		return nil, err
	}
	if !p.srv.track(up) {
		return nil, net.ErrClosed
	}
	up.SetDeadline(time.Now().Add(hsTimeout))
	return up, nil
}

// serveCONNECT answers a CONNECT request and then relays bytes.
func (p *hsProxy) serveCONNECT(nc net.Conn) {
	br := bufio.NewReader(nc)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(nc, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if p.user != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
		if req.Header.Get("Proxy-Authorization") != want {
			io.WriteString(nc, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
			return
		}
	}
	up, err := p.connect(req.RequestURI)
	if err != nil {
		io.WriteString(nc, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	io.WriteString(nc, "HTTP/1.1 200 Connection established\r\n\r\n")
	hsRelay(nc, br, up)
}

// serveSOCKS5 answers a SOCKS5 CONNECT (RFC 1928 §3-6, RFC 1929 §2) and then relays bytes.
func (p *hsProxy) serveSOCKS5(nc net.Conn) {
	read := func(n int) []byte {
		b := make([]byte, n)
		if _, err := io.ReadFull(nc, b); err != nil {
			return nil
		}
		return b
	}
	// Method selection.
	head := read(2)
	if head == nil || head[0] != 5 {
		return
	}
	methods := read(int(head[1]))
	method := byte(0) // no authentication
	if p.user != "" {
		method = 2 // user name and password
	}
	if !slices.Contains(methods, method) {
		nc.Write([]byte{5, 0xff})
		return
	}
	nc.Write([]byte{5, method})
	if method == 2 {
		ver := read(2)
		if ver == nil || ver[0] != 1 {
			return
		}
		user := read(int(ver[1]))
		plen := read(1)
		if user == nil || plen == nil {
			return
		}
		pass := read(int(plen[0]))
		if string(user) != p.user || string(pass) != p.pass {
			nc.Write([]byte{1, 1})
			return
		}
		nc.Write([]byte{1, 0})
	}
	// The request.
	req := read(4)
	if req == nil || req[0] != 5 || req[1] != 1 {
		return
	}
	var host string
	switch req[3] {
	case 1:
		host = net.IP(read(4)).String()
	case 4:
		host = net.IP(read(16)).String()
	case 3:
		l := read(1)
		if l == nil {
			return
		}
		host = string(read(int(l[0])))
	default:
		return
	}
	port := read(2)
	if port == nil {
		return
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port))))
	reply := func(code byte) {
		b := []byte{5, code, 0}
		switch p.socksBind {
		case 3:
			b = append(b, 3, byte(len("proxy.test")))
			b = append(b, "proxy.test"...)
		case 4:
			b = append(append(b, 4), net.IPv6loopback...)
		default:
			b = append(b, 1, 127, 0, 0, 1)
		}
		nc.Write(append(b, 0x1f, 0x90)) // port 8080
	}
	up, err := p.connect(target)
	if err != nil {
		code := p.refuse
		if code == 0 {
			code = 5 // connection refused
		}
		reply(code)
		return
	}
	reply(0)
	hsRelay(nc, nc, up)
}

// hsRelay copies bytes both ways between a client and upstream until either side ends.
func hsRelay(client net.Conn, fromClient io.Reader, upstream net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(upstream, fromClient)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, upstream)
		done <- struct{}{}
	}()
	<-done
	client.Close()
	upstream.Close()
	<-done
}

// hsProxyTo returns a Proxy option that sends every request to u, and records the URL of
// each request it is asked about.
func hsProxyTo(u *url.URL, asked *[]string) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		*asked = append(*asked, r.URL.String())
		return u, nil
	}
}

// TestProxy checks Dial through CONNECT and SOCKS5 proxies, with and without credentials.
func TestProxy(t *testing.T) {
	s := newHSServer(t, hsHandler{serve: hsEcho})
	tests := []struct {
		name       string
		proxy      hsProxy
		user, pass string // given to Dial
		err        string // "" means Dial succeeds
	}{
		{name: "CONNECT", proxy: hsProxy{kind: "http"}},
		{name: "CONNECT with credentials", proxy: hsProxy{kind: "http", user: "alice", pass: "pa:ss"}, user: "alice", pass: "pa:ss"},
		{name: "CONNECT with wrong credentials", proxy: hsProxy{kind: "http", user: "alice", pass: "pa:ss"}, user: "alice", pass: "wrong", err: "407 Proxy Authentication Required"},
		{name: "CONNECT without credentials", proxy: hsProxy{kind: "http", user: "alice", pass: "pa:ss"}, err: "407 Proxy Authentication Required"},
		{name: "CONNECT refused", proxy: hsProxy{kind: "http", refuse: 1}, err: "502 Bad Gateway"},
		{name: "SOCKS5", proxy: hsProxy{kind: "socks5"}},
		{name: "SOCKS5 with credentials", proxy: hsProxy{kind: "socks5", user: "alice", pass: "pa:ss"}, user: "alice", pass: "pa:ss"},
		{name: "SOCKS5 credentials the proxy does not need", proxy: hsProxy{kind: "socks5"}, user: "alice", pass: "pa:ss"},
		{name: "SOCKS5 with wrong credentials", proxy: hsProxy{kind: "socks5", user: "alice", pass: "pa:ss"}, user: "alice", pass: "wrong", err: "SOCKS5 authentication failed"},
		{name: "SOCKS5 without credentials", proxy: hsProxy{kind: "socks5", user: "alice", pass: "pa:ss"}, err: "SOCKS5 proxy accepts none of the offered authentication methods"},
		{name: "SOCKS5 bound to a domain name", proxy: hsProxy{kind: "socks5", socksBind: 3}},
		{name: "SOCKS5 bound to an IPv6 address", proxy: hsProxy{kind: "socks5", socksBind: 4}},
		{name: "SOCKS5 connection refused", proxy: hsProxy{kind: "socks5", refuse: 5}, err: "SOCKS5 CONNECT " + s.addr() + ": connection refused"},
		{name: "SOCKS5 not allowed", proxy: hsProxy{kind: "socks5", refuse: 2}, err: "connection not allowed by ruleset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.proxy
			p.start(t)
			var asked []string
			opts := &ws.DialOptions{Proxy: hsProxyTo(p.url(tt.user, tt.pass), &asked)}
			c, resp, err := ws.Dial(hsCtx(t), s.wsURL("/chat"), opts)
			if want := []string{"http://" + s.addr() + "/chat"}; !slices.Equal(asked, want) {
				t.Errorf("Proxy was asked about %q; want %q", asked, want)
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.CloseNow()
				hsCheckEcho(t, c)
				if target := p.target(t); target != s.addr() {
					t.Errorf("proxy connected to %q; want %q", target, s.addr())
				}
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if resp != nil || errors.Is(err, ws.ErrBadHandshake) {
				t.Errorf("Dial = %v, %v; want no response and not ErrBadHandshake", resp, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "proxy "+p.kind+"://") || !strings.Contains(msg, tt.err) {
				t.Errorf("Dial error %q; want one naming the proxy and saying %q", msg, tt.err)
			}
			if strings.Contains(msg, tt.pass) && tt.pass != "" {
				t.Errorf("Dial error %q shows the proxy password", msg)
			}
		})
	}
}

// TestProxyHostName checks that a host name goes to the proxy unresolved: in the CONNECT
// request-target, and as a SOCKS5 domain name for socks5 and socks5h.
func TestProxyHostName(t *testing.T) {
	s := newHSServer(t, hsHandler{serve: hsEcho})
	for _, scheme := range []string{"http", "socks5", "socks5h"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			kind := scheme
			if kind == "socks5h" {
				kind = "socks5"
			}
			p := (&hsProxy{kind: kind, hosts: map[string]string{"ws.test:80": s.addr()}}).start(t)
			u := p.url("", "")
			u.Scheme = scheme
			var asked []string
			c, _ := hsMustDial(t, "ws://ws.test/chat", &ws.DialOptions{Proxy: hsProxyTo(u, &asked)})
			hsCheckEcho(t, c)
			if target := p.target(t); target != "ws.test:80" {
				t.Errorf("proxy asked for %q; want ws.test:80", target)
			}
			if r := s.result(t).r; r.Host != "ws.test" {
				t.Errorf("server received Host %q; want ws.test", r.Host)
			}
		})
	}
}

// TestProxyTLS checks wss:// through a CONNECT proxy, and a proxy reached over TLS.
func TestProxyTLS(t *testing.T) {
	s := startHSServer(t, hsServerConfig{tls: true}, func(s *hsServer) http.Handler {
		return s.acceptFunc(hsHandler{serve: hsEcho})
	})
	cfg := &tls.Config{RootCAs: s.certPool()}
	for _, httpsProxy := range []bool{false, true} {
		name := "wss through CONNECT"
		if httpsProxy {
			name = "wss through CONNECT over TLS"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := &hsProxy{kind: "http"}
			if httpsProxy {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				// The test server's certificate names 127.0.0.1, which the proxy is too.
				p.listener = tls.NewListener(ln, &tls.Config{Certificates: s.TLS.Certificates})
			}
			p.start(t)
			u := p.url("", "")
			if httpsProxy {
				u.Scheme = "https"
			}
			var asked []string
			c, _ := hsMustDial(t, s.wsURL("/chat"), &ws.DialOptions{TLSConfig: cfg, Proxy: hsProxyTo(u, &asked)})
			hsCheckEcho(t, c)
			if want := []string{"https://" + s.addr() + "/chat"}; !slices.Equal(asked, want) {
				t.Errorf("Proxy was asked about %q; want %q", asked, want)
			}
			if target := p.target(t); target != s.addr() {
				t.Errorf("proxy connected to %q; want %q", target, s.addr())
			}
			if r := s.result(t).r; r.TLS == nil {
				t.Error("the server's connection is not TLS")
			}
		})
	}
}

// TestProxyChoice checks the Proxy option itself: nil, nil dials directly; an error or an
// unknown scheme fails Dial before anything is dialled.
func TestProxyChoice(t *testing.T) {
	s := newHSServer(t, hsHandler{serve: hsEcho})
	tests := []struct {
		name  string
		proxy func(*http.Request) (*url.URL, error)
		err   string
	}{
		{"nil, nil dials directly", hsNoProxy, ""},
		{"error", func(*http.Request) (*url.URL, error) { return nil, errors.New("no proxy for you") }, "choosing a proxy: no proxy for you"},
		{"unsupported scheme", func(*http.Request) (*url.URL, error) { return &url.URL{Scheme: "ftp", Host: "127.0.0.1:21"}, nil }, `unsupported proxy scheme "ftp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dialled []string
			opts := &ws.DialOptions{
				Proxy: tt.proxy,
				NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dialled = append(dialled, addr)
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				},
			}
			c, _, err := ws.Dial(hsCtx(t), s.wsURL("/"), opts)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.CloseNow()
				hsCheckEcho(t, c)
				if !slices.Equal(dialled, []string{s.addr()}) {
					t.Errorf("dialled %q; want the server %s only", dialled, s.addr())
				}
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.err) || len(dialled) > 0 {
				t.Errorf("Dial error %q after dialling %q; want %q before any dial", err, dialled, tt.err)
			}
		})
	}
}

// TestProxyContext checks that ctx bounds a proxy that never answers.
func TestProxyContext(t *testing.T) {
	silent := startHSTCPServer(t, nil, func(nc net.Conn) { io.Copy(io.Discard, nc) })
	for _, kind := range []string{"http", "socks5"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			proxy := &url.URL{Scheme: kind, Host: silent.addr()}
			start := time.Now()
			c, _, err := ws.Dial(ctx, "ws://127.0.0.1:1/", &ws.DialOptions{Proxy: http.ProxyURL(proxy)})
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Dial returned after %v", elapsed)
			}
			if c != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Dial = %v, %v; want context.DeadlineExceeded", c, err)
			}
		})
	}
}
