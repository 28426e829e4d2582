package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// dial opens the connection of duplex connect, showing the handshake with -v, and
// explains why when it cannot.
func dial(ctx context.Context, o *connectOptions, d *display) (*ws.Conn, *http.Response, error) {
	target := hostPort(o.url)
	proxy, err := o.chooseProxy()
	if err != nil {
		return nil, nil, err
	}
	dl := &dialer{target: target, d: d, verbose: o.verbose}
	opts := &ws.DialOptions{
		ConnOptions: ws.ConnOptions{
			ReadLimit:    o.maxMessageSize,
			PingInterval: o.pingInterval,
		},
		HTTPHeader:     o.header,
		Host:           o.host,
		Subprotocols:   o.subprotocols,
		TLSConfig:      o.tls,
		Proxy:          func(*http.Request) (*url.URL, error) { return proxy, nil },
		NetDialContext: dl.dial,
	}
	if o.maxMessageSize == 0 {
		opts.ReadLimit = -1
	}
	if o.compress {
		opts.Compression.Mode = ws.CompressionContextTakeover
	}
	if o.verbose {
		opts.OnPing = func(p []byte) { d.info("< ping %x", p) }
		opts.OnPong = func(p []byte) { d.info("< pong %x", p) }
		dl.rec = new(handshakeRecorder)
	}
	dialURL := o.url.String()
	if o.verbose && o.url.Scheme == "wss" && proxy == nil {
		// ws.Dial does TLS itself, so what it writes on the connection that NetDialContext
		// returns is encrypted. To show the request as sent, the dialer does TLS instead,
		// exactly as Dial would, and Dial is given the ws:// URL with the same Host.
		dl.tls = o.tls.Clone()
		dl.tls.ServerName = o.url.Hostname()
		dl.tls.NextProtos = []string{"http/1.1"}
		u := *o.url
		u.Scheme, u.Host = "ws", target
		dialURL = u.String()
		if opts.Host == "" {
			opts.Host = o.url.Host
		}
	}
	if o.verbose && proxy != nil {
		d.info("* through the proxy %s", proxy.Redacted())
	}

	dctx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	c, resp, err := ws.Dial(dctx, dialURL, opts)
	if o.verbose {
		dl.rec.show(d, resp)
	}
	if err != nil {
		return nil, resp, explainDial(ctx, err, resp, o, dl, proxy)
	}
	return c, resp, nil
}

// chooseProxy returns the proxy to connect through, or nil.
func (o *connectOptions) chooseProxy() (*url.URL, error) {
	switch {
	case o.noProxy:
		return nil, nil
	case o.proxyURL != nil:
		return o.proxyURL, nil
	}
	scheme := "http"
	if o.url.Scheme == "wss" {
		scheme = "https"
	}
	proxy, err := http.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: scheme, Host: o.url.Host}})
	if err != nil {
		return nil, fmt.Errorf("the proxy of the environment: %w", err)
	}
	return proxy, nil
}

// hostPort returns u's host with its port, defaulting to the scheme's.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "wss" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// dialer opens the TCP connection for ws.Dial, to the server or the proxy. It keeps
// which address failed, for the error, and with -v records the handshake.
type dialer struct {
	target    string      // the server's host:port
	d         *display    // for -v
	verbose   bool        // show the addresses connected to
	tls       *tls.Config // when set, the dialer does TLS, for rec to see the plain text
	rec       *handshakeRecorder
	connected atomic.Bool // a TCP connection was made
}

// dialError is a failure to open a TCP connection to addr.
type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (dl *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &dialError{addr, err}
	}
	dl.connected.Store(true)
	if dl.verbose {
		dl.d.info("* connected to %s (%s)", addr, nc.RemoteAddr())
	}
	if dl.tls != nil {
		tc := tls.Client(nc, dl.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tc
	}
	if dl.rec != nil {
		nc = &recordingConn{Conn: nc, rec: dl.rec}
	}
	return nc, nil
}

// handshakeRecorder keeps the opening handshake's bytes as they pass on the connection:
// the request from its first line ("GET", after a proxy's CONNECT or SOCKS exchange) and
// the response up to the blank line that ends its header.
type handshakeRecorder struct {
	done     atomic.Bool // the response's header is complete: nothing more to record
	mu       sync.Mutex
	request  []byte
	response []byte
}

// maxRecorded bounds the response header kept.
const maxRecorded = 64 << 10

func (r *handshakeRecorder) wrote(p []byte) {
	if r.done.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.response == nil && (r.request != nil || bytes.HasPrefix(p, []byte("GET "))) {
		r.request = append(r.request, p...)
	}
}

func (r *handshakeRecorder) read(p []byte) {
	if r.done.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.request == nil {
		return
	}
	r.response = append(r.response, p...)
	if i := bytes.Index(r.response, []byte("\r\n\r\n")); i >= 0 {
		r.response = r.response[:i+2]
		r.done.Store(true)
	} else if len(r.response) > maxRecorded {
		r.done.Store(true)
	}
}

// show writes the handshake, curl -v style: "> " before each line of the request, "< "
// before each of the response. Without a recorded response it shows resp's header.
func (r *handshakeRecorder) show(d *display, resp *http.Response) {
	r.mu.Lock()
	request, response := r.request, r.response
	r.done.Store(true)
	r.mu.Unlock()
	var b strings.Builder
	switch {
	case request != nil:
		writeLines(&b, "> ", request)
	case resp != nil:
		b.WriteString("* the request went inside TLS through the proxy: it cannot be shown\n")
	}
	switch {
	case response != nil:
		writeLines(&b, "< ", response)
	case resp != nil:
		fmt.Fprintf(&b, "< %s %s\n", resp.Proto, resp.Status)
		var h bytes.Buffer
		resp.Header.Write(&h)
		writeLines(&b, "< ", h.Bytes())
	}
	if b.Len() > 0 {
		d.info("%s", strings.TrimSuffix(b.String(), "\n"))
	}
}

// writeLines writes each CRLF- or LF-terminated line of p with prefix, up to a blank line.
func writeLines(b *strings.Builder, prefix string, p []byte) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	sc.Buffer(nil, maxRecorded)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			break
		}
		b.WriteString(prefix + line + "\n")
	}
}

// recordingConn is a connection whose bytes a handshakeRecorder sees.
type recordingConn struct {
	net.Conn
	rec *handshakeRecorder
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.rec.wrote(p)
	return c.Conn.Write(p)
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rec.read(p[:n])
	return n, err
}

// CloseWrite half-closes the connection, as ws does when a client closes.
func (c *recordingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// explainDial turns an error of ws.Dial into one or a few lines that say what went wrong
// in the user's terms.
func explainDial(ctx context.Context, err error, resp *http.Response, o *connectOptions, dl *dialer, proxy *url.URL) error {
	var (
		dnsErr     *net.DNSError
		dialErr    *dialError
		unknownCA  x509.UnknownAuthorityError
		wrongHost  x509.HostnameError
		invalid    x509.CertificateInvalidError
		notTLS     tls.RecordHeaderError
		verifyErr  *tls.CertificateVerificationError
		addr       = dl.target
		whose      string // who addr is, when it is not the server
		dialFailed = errors.As(err, &dialErr)
	)
	if dialFailed {
		addr = dialErr.addr
	}
	if proxy != nil && addr != dl.target {
		whose = " (the proxy)"
	}
	switch {
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		return errors.New(refusal(resp))
	case resp != nil:
		return fmt.Errorf("the server's answer is not a valid WebSocket handshake: %s", strings.TrimPrefix(lastPart(err), "ws: bad handshake: "))
	case ctx.Err() != nil:
		return errors.New("interrupted while connecting")
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		if !dl.connected.Load() {
			return fmt.Errorf("timed out after %v connecting to %s (--connect-timeout)", o.connectTimeout, addr)
		}
		return fmt.Errorf("timed out after %v waiting for the handshake with %s (--connect-timeout)", o.connectTimeout, dl.target)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot resolve host %s%s: %s", dnsErr.Name, whose, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection refused: nothing listens on %s%s", addr, whose)
	case dialFailed:
		return fmt.Errorf("cannot connect to %s%s: %v", addr, whose, lastPart(err))
	case errors.As(err, &unknownCA):
		return fmt.Errorf("TLS: the certificate of %s is signed by an unknown authority (%s)\n"+
			"  trust its CA with --ca FILE, or skip verification with --insecure", dl.target, certName(unknownCA.Cert))
	case errors.As(err, &wrongHost):
		return fmt.Errorf("TLS: the certificate of %s is for %s, not %s", dl.target, certNames(wrongHost.Certificate), wrongHost.Host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		cert, now := invalid.Cert, time.Now()
		if now.Before(cert.NotBefore) {
			return fmt.Errorf("TLS: the certificate of %s is not valid yet: from %s (is the clock right?)", dl.target, cert.NotBefore.UTC().Format(time.DateTime+" MST"))
		}
		return fmt.Errorf("TLS: the certificate of %s expired on %s", dl.target, cert.NotAfter.UTC().Format(time.DateTime+" MST"))
	case errors.As(err, &invalid):
		return fmt.Errorf("TLS: the certificate of %s is not valid: %v", dl.target, invalid)
	case errors.As(err, &notTLS):
		if bytes.HasPrefix(notTLS.RecordHeader[:], []byte("HTTP/")) {
			return fmt.Errorf("TLS: %s does not speak TLS: it answered in plain HTTP; use ws:// instead of wss://", dl.target)
		}
		return fmt.Errorf("TLS: %s does not speak TLS; use ws:// instead of wss://", dl.target)
	case errors.As(err, &verifyErr):
		return fmt.Errorf("TLS: the certificate of %s cannot be verified: %v", dl.target, verifyErr.Err)
	case strings.Contains(err.Error(), "TLS handshake"):
		return fmt.Errorf("TLS handshake with %s failed: %s", dl.target, lastPart(err))
	}
	return fmt.Errorf("cannot connect to %s: %s", o.url.Redacted(), lastPart(err))
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lastPart returns err's message without the "ws: dial URL: " before it.
func lastPart(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "ws: dial "); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			return after
		}
	}
	return msg
}

// refusal describes a response other than 101: its status and the first lines of its
// body.
func refusal(resp *http.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the server answered %s instead of 101 Switching Protocols", resp.Status)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	lines := 0
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if lines == 3 {
			b.WriteString("\n  …")
			break
		}
		if len(line) > 160 {
			line = line[:160] + "…"
		}
		b.WriteString("\n  " + strings.ToValidUTF8(line, "?"))
		lines++
	}
	return b.String()
}

// certName names a certificate by its subject, for messages.
func certName(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	if s := c.Subject.String(); s != "" {
		return s
	}
	return "a certificate with no subject"
}

// certNames lists the names a certificate is valid for.
func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	if len(names) == 0 {
		return "no host name"
	}
	return strings.Join(names, ", ")
}
