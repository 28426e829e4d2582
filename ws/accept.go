package ws

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// AcceptOptions configures [Accept]. Nil means the defaults of every field.
type AcceptOptions struct {
	ConnOptions

	// Subprotocols lists the subprotocols the server speaks, most preferred first. The
	// first of them that the client offers is agreed; none is if the client offers none
	// of them (the handshake still succeeds, RFC 6455 §4.2.2).
	Subprotocols []string

	// OriginPatterns lists the origins allowed besides the request's own host, as
	// path.Match patterns matched case-insensitively against the Origin header's host
	// ("example.com", "*.example.com", "localhost:*"), or against scheme and host when
	// the pattern holds "://" ("https://*.example.com"). A request with no Origin header
	// is not from a browser and is always allowed.
	OriginPatterns []string

	// InsecureSkipVerifyOrigin allows every origin. Any web page can then open a
	// connection with the user's cookies: use it only for endpoints that need no
	// authentication.
	InsecureSkipVerifyOrigin bool

	// Compression configures permessage-deflate (RFC 7692). The zero value disables it:
	// every offer is declined and the connection goes on uncompressed.
	Compression CompressionOptions
}

// Accept completes a WebSocket opening handshake (RFC 6455 §4.2) on an HTTP/1.1 request
// and returns the connection. It works inside any http.Handler, with any router or
// middleware, as long as the ResponseWriter can be hijacked (directly or through Unwrap).
//
// Headers set on w.Header() before the call are sent with the 101 response. A request that
// is not a valid handshake, or whose origin is not allowed, gets an HTTP error response
// with a short reason, and Accept returns an error wrapping [ErrBadHandshake]; nothing is
// hijacked then.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	var o AcceptOptions
	if opts != nil {
		o = *opts
	}
	if err := checkRequest(r); err != nil {
		return nil, reject(w, err)
	}
	if !o.InsecureSkipVerifyOrigin {
		if err := checkOrigin(r, o.OriginPatterns); err != nil {
			return nil, reject(w, err)
		}
	}
	subprotocol := selectSubprotocol(r.Header, o.Subprotocols)
	extensions, params, compress := acceptDeflate(r.Header, &o.Compression)

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: the server cannot take over this connection", http.StatusInternalServerError)
		return nil, fmt.Errorf("ws: accept: hijacking the connection: %w", err)
	}
	// Deadlines the http.Server set for the request must not outlive it.
	nc.SetDeadline(time.Time{})

	var resp bytes.Buffer
	resp.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	resp.WriteString(acceptKey(r.Header.Get("Sec-WebSocket-Key")))
	resp.WriteString("\r\n")
	if subprotocol != "" {
		resp.WriteString("Sec-WebSocket-Protocol: " + subprotocol + "\r\n")
	}
	if compress {
		resp.WriteString("Sec-WebSocket-Extensions: " + extensions + "\r\n")
	}
	w.Header().WriteSubset(&resp, handshakeHeaders)
	resp.WriteString("\r\n")
	if _, err := nc.Write(resp.Bytes()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("ws: accept: writing the handshake response: %w", err)
	}

	var leftover []byte
	if n := brw.Reader.Buffered(); n > 0 {
		leftover, _ = brw.Reader.Peek(n)
	}
	var ds *deflateState
	if compress {
		ds = newDeflateState(params, o.Compression.Threshold, o.Compression.Level)
	}
	return newConn(nc, false, subprotocol, &o.ConnOptions, leftover, ds), nil
}

// handshakeHeaders are the response headers Accept writes itself; copies in w.Header()
// are left out.
var handshakeHeaders = map[string]bool{
	"Upgrade":                  true,
	"Connection":               true,
	"Sec-Websocket-Accept":     true,
	"Sec-Websocket-Protocol":   true,
	"Sec-Websocket-Extensions": true,
	"Content-Length":           true,
	"Transfer-Encoding":        true,
}

// checkRequest checks an opening handshake as RFC 6455 §4.2.1 says.
func checkRequest(r *http.Request) error {
	switch {
	case r.Method != http.MethodGet:
		return &HandshakeError{http.StatusMethodNotAllowed, "method " + r.Method + ", not GET"}
	case !r.ProtoAtLeast(1, 1):
		return &HandshakeError{http.StatusBadRequest, "protocol " + r.Proto + ", not HTTP/1.1 or later"}
	case r.ProtoMajor != 1:
		return &HandshakeError{http.StatusHTTPVersionNotSupported, r.Proto + " requests cannot be upgraded; use HTTP/1.1"}
	case r.Host == "":
		return &HandshakeError{http.StatusBadRequest, "no Host header"}
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return &HandshakeError{http.StatusUpgradeRequired, `"Upgrade: websocket" header missing`}
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return &HandshakeError{http.StatusUpgradeRequired, `"Connection: upgrade" header missing`}
	case len(r.Header["Sec-Websocket-Version"]) != 1 || r.Header.Get("Sec-WebSocket-Version") != "13":
		return &HandshakeError{http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version " + strconvQuote(strings.Join(r.Header.Values("Sec-WebSocket-Version"), ", ")) + ", want 13"}
	case len(r.Header["Sec-Websocket-Key"]) != 1 || !validKey(r.Header.Get("Sec-WebSocket-Key")):
		return &HandshakeError{http.StatusBadRequest, "Sec-WebSocket-Key is not base64 of 16 bytes"}
	}
	return nil
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// reject answers a failed handshake with an HTTP error and returns err.
func reject(w http.ResponseWriter, err error) error {
	he := err.(*HandshakeError)
	switch he.Status {
	case http.StatusUpgradeRequired:
		// §4.2.2: tell the client which version the server speaks.
		w.Header().Set("Sec-WebSocket-Version", "13")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodGet)
	}
	http.Error(w, "websocket: "+he.Reason, he.Status)
	return err
}

// checkOrigin allows a request with no Origin header, one from its own host, and one whose
// origin matches a pattern (see AcceptOptions.OriginPatterns).
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return &HandshakeError{http.StatusForbidden, "malformed Origin header " + strconvQuote(origin)}
	}
	if u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if u.Host == "" {
			target = origin // "null", from sandboxed and file: pages
		}
		ok, err := path.Match(strings.ToLower(p), strings.ToLower(target))
		if err != nil {
			return &HandshakeError{http.StatusInternalServerError, "malformed origin pattern " + strconvQuote(p)}
		}
		if ok {
			return nil
		}
	}
	return &HandshakeError{http.StatusForbidden, "origin " + strconvQuote(origin) + " not allowed"}
}

// selectSubprotocol returns the first of the server's subprotocols that the client
// offered, or "".
func selectSubprotocol(h http.Header, server []string) string {
	offered := headerList(h, "Sec-WebSocket-Protocol")
	for _, p := range server {
		if slices.Contains(offered, p) {
			return p
		}
	}
	return ""
}
