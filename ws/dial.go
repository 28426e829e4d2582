package ws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DialOptions configures [Dial]. Nil means the defaults of every field.
type DialOptions struct {
	ConnOptions

	// HTTPHeader holds extra request headers: cookies, authorization, Origin. A "Host"
	// entry is ignored; use Host.
	HTTPHeader http.Header
	// Host, if set, is sent as the Host header instead of the URL's host, which is still
	// the address dialled.
	Host string
	// Subprotocols are offered to the server, most preferred first.
	Subprotocols []string

	// Compression configures permessage-deflate (RFC 7692). The zero value disables it:
	// nothing is offered.
	Compression CompressionOptions

	// TLSConfig configures wss:// connections, and https:// proxies. Nil means the
	// defaults of crypto/tls. ServerName defaults to the URL's host, and NextProtos to
	// http/1.1.
	TLSConfig *tls.Config

	// Proxy returns the proxy for a request, or nil for none: http://, https:// (HTTP
	// CONNECT) and socks5:// proxies are understood, with credentials from the proxy URL's
	// user info. The request's URL has scheme http for ws:// and https for wss://. Nil
	// means http.ProxyFromEnvironment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY); to dial
	// directly whatever the environment says, return nil, nil.
	Proxy func(*http.Request) (*url.URL, error)

	// NetDialContext opens the TCP connection, to the server or the proxy. Nil means a
	// net.Dialer's DialContext.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// maxErrorBody is how much of a failed handshake's response body Dial keeps.
const maxErrorBody = 64 << 10

// Dial opens a WebSocket connection to a ws:// or wss:// URL (RFC 6455 §4.1). ctx bounds
// the whole handshake (connecting, proxy, TLS, request and response); once Dial returns, it
// has no further effect on the connection.
//
// The response is returned even when the handshake fails on a complete HTTP response (a
// status other than 101, say), with up to 64 KiB of its body readable, so the caller can
// see why. Errors for such responses wrap [ErrBadHandshake].
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("ws: dial: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return nil, nil, fmt.Errorf("ws: dial: unsupported URL scheme %q, want ws or wss", u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("ws: dial: URL %q has no host", rawURL)
	}
	u.Fragment = ""

	key := newKey()
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       u.Host,
	}
	for k, v := range o.HTTPHeader {
		if !strings.EqualFold(k, "Host") {
			req.Header[http.CanonicalHeaderKey(k)] = slices.Clone(v)
		}
	}
	if o.Host != "" {
		req.Host = o.Host
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(o.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(o.Subprotocols, ", "))
	}
	if offer := offerDeflate(&o.Compression); offer != "" {
		req.Header.Set("Sec-WebSocket-Extensions", offer)
	}
	req = req.WithContext(ctx)

	nc, err := dialConn(ctx, &o, req)
	if err != nil {
		return nil, nil, fmt.Errorf("ws: dial %s: %w", redact(u), err)
	}
	c, resp, err := handshake(ctx, nc, &o, req, key)
	if err != nil {
		nc.Close()
		return nil, resp, fmt.Errorf("ws: dial %s: %w", redact(u), err)
	}
	return c, resp, nil
}

// handshake sends the opening handshake on nc and checks the response (§4.1, §4.2.2).
func handshake(ctx context.Context, nc net.Conn, o *DialOptions, req *http.Request, key string) (*Conn, *http.Response, error) {
	// The context ends the handshake through the connection's deadline, and is then
	// always done, so errors report the context rather than a bare timeout.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	defer stop()
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}

	if err := req.Write(nc); err != nil {
		return nil, nil, fail(fmt.Errorf("writing the handshake request: %w", err))
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fail(fmt.Errorf("reading the handshake response: %w", err))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp, fmt.Errorf("%w: server answered %q, not 101 Switching Protocols", ErrBadHandshake, resp.Status)
	}
	resp.Body = http.NoBody
	subprotocol, err := checkResponse(resp, key, o.Subprotocols)
	if err != nil {
		return nil, resp, fmt.Errorf("%w: %s", ErrBadHandshake, err)
	}
	params, compress, err := checkDeflateResponse(resp.Header, &o.Compression)
	if err != nil {
		return nil, resp, fmt.Errorf("%w: %s", ErrBadHandshake, err)
	}
	stop()
	if ctx.Err() != nil {
		return nil, resp, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	var leftover []byte
	if n := br.Buffered(); n > 0 {
		leftover, _ = br.Peek(n)
	}
	var ds *deflateState
	if compress {
		ds = newDeflateState(params, o.Compression.Threshold, o.Compression.Level)
	}
	return newConn(nc, true, subprotocol, &o.ConnOptions, leftover, ds), resp, nil
}

// checkResponse checks a 101 response to a handshake sent with key, and returns the
// subprotocol it agreed.
func checkResponse(resp *http.Response, key string, offered []string) (string, error) {
	switch {
	case !headerHasToken(resp.Header, "Upgrade", "websocket"):
		return "", fmt.Errorf(`response has no "Upgrade: websocket" header`)
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		return "", fmt.Errorf(`response has no "Connection: upgrade" header`)
	case len(resp.Header["Sec-Websocket-Accept"]) != 1 || resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return "", fmt.Errorf("Sec-WebSocket-Accept %q does not match the key sent", resp.Header.Get("Sec-WebSocket-Accept"))
	}
	// §4.1: a subprotocol the client did not offer fails the connection (extensions are
	// checked by checkDeflateResponse).
	protocols := headerList(resp.Header, "Sec-WebSocket-Protocol")
	switch {
	case len(protocols) == 0:
		return "", nil
	case len(protocols) > 1:
		return "", fmt.Errorf("server agreed %d subprotocols, not one", len(protocols))
	case !slices.Contains(offered, protocols[0]):
		return "", fmt.Errorf("server agreed subprotocol %q, which was not offered", protocols[0])
	}
	return protocols[0], nil
}

// dialConn connects to the server named in req.URL, through a proxy if one applies, and
// completes TLS for https.
func dialConn(ctx context.Context, o *DialOptions, req *http.Request) (net.Conn, error) {
	dial := o.NetDialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	proxyFunc := o.Proxy
	if proxyFunc == nil {
		proxyFunc = http.ProxyFromEnvironment
	}
	proxy, err := proxyFunc(req)
	if err != nil {
		return nil, fmt.Errorf("choosing a proxy: %w", err)
	}
	addr := hostPort(req.URL)
	var nc net.Conn
	if proxy == nil {
		nc, err = dial(ctx, "tcp", addr)
	} else {
		nc, err = dialProxy(ctx, dial, o.TLSConfig, proxy, addr)
	}
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme != "https" {
		return nc, nil
	}
	tc := tls.Client(nc, tlsConfig(o.TLSConfig, req.URL.Hostname()))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// tlsConfig returns a copy of cfg for a connection to serverName, speaking HTTP/1.1.
func tlsConfig(cfg *tls.Config, serverName string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return cfg
}

// hostPort returns u's host with its port, defaulting to the scheme's.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// redact returns u as a string without its password, for error messages.
func redact(u *url.URL) string {
	s := *u
	switch s.Scheme {
	case "http":
		s.Scheme = "ws"
	case "https":
		s.Scheme = "wss"
	}
	return s.Redacted()
}
