package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/testenv"
	"github.com/duplex-ws/duplex/ws"
)

// The tests of duplex connect run it against WebSocket servers in the test process, on
// loopback: a handler whose behaviour the URL's query chooses (wsPeer), TLS servers with
// certificates made here, a CONNECT proxy, and listeners that refuse or never answer.

// peerSeen is what wsPeer saw of one connection.
type peerSeen struct {
	header      http.Header
	subprotocol string
	end         error // what its last read returned
}

// wsPeer is a WebSocket server for duplex connect to talk to. The query of the URL says
// what it does: send=TEXT and bin=HEX messages first, in that order; then echo=N messages
// echoed (every one, without echo); then=close:CODE:REASON closes, then=kill drops the TCP
// connection. /forbidden answers 403 with a body.
type wsPeer struct {
	srv  *httptest.Server
	seen chan peerSeen
}

func newPeer(t *testing.T, tlsCert *tls.Certificate) *wsPeer {
	p := &wsPeer{seen: make(chan peerSeen, 16)}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshakes that fail, on purpose
	switch {
	case tlsCert != nil:
		p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*tlsCert}}
		p.srv.StartTLS()
	default:
		p.srv.Start()
	}
	t.Cleanup(p.srv.Close)
	return p
}

// url returns the ws:// or wss:// URL of path on the peer.
func (p *wsPeer) url(path string) string {
	return "ws" + strings.TrimPrefix(p.srv.URL, "http") + path
}

func (p *wsPeer) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/forbidden":
		http.Error(w, "go away\nyou are not welcome here", http.StatusForbidden)
		return
	case "/bad-accept":
		if nc, _, err := http.NewResponseController(w).Hijack(); err == nil {
			io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n")
			nc.Close()
		}
		return
	}
	c, err := ws.Accept(w, r, &ws.AcceptOptions{
		Subprotocols:             []string{"b.v1"},
		InsecureSkipVerifyOrigin: true,
		Compression:              ws.CompressionOptions{Mode: ws.CompressionNoContextTakeover},
	})
	if err != nil {
		return
	}
	defer c.CloseNow()
	seen := peerSeen{header: r.Header.Clone(), subprotocol: c.Subprotocol()}
	defer func() { p.seen <- seen }()
	ctx := context.Background()
	q := r.URL.Query()
	for _, m := range q["send"] {
		c.Write(ctx, ws.MessageText, []byte(m))
	}
	for _, m := range q["bin"] {
		b, _ := hex.DecodeString(m)
		c.Write(ctx, ws.MessageBinary, b)
	}
	echo := -1
	if n := q.Get("echo"); n != "" {
		echo, _ = strconv.Atoi(n)
	}
	for ; echo != 0; echo-- {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			seen.end = err
			return
		}
		c.Write(ctx, typ, msg)
	}
	switch then := strings.Split(q.Get("then"), ":"); then[0] {
	case "close":
		code, _ := strconv.Atoi(then[1])
		c.Close(ws.StatusCode(code), then[2])
	case "kill":
		c.CloseNow()
	}
}

// next returns what the peer saw of the next connection to end.
func (p *wsPeer) next(t *testing.T, ctx context.Context) peerSeen {
	t.Helper()
	select {
	case s := <-p.seen:
		return s
	case <-ctx.Done():
		t.Fatal("the server saw no connection end")
		return peerSeen{}
	}
}

// connectResult runs duplex connect with stdin, to completion.
func connectRun(t *testing.T, ctx context.Context, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr testenv.Buffer
	err := run(ctx, append([]string{"connect"}, args...), &env{
		stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, lookupEnv: lookupIn(vars),
	})
	if ctx.Err() != nil {
		t.Fatalf("duplex connect %q did not end: %v\nstdout: %s\nstderr: %s", args, ctx.Err(), &stdout, &stderr)
	}
	return result{err, stdout.String(), stderr.String()}
}

// connecting is an interactive duplex connect that a test types into.
type connecting struct {
	stdin          *io.PipeWriter
	stdout, stderr *testenv.Buffer
	done           chan error
}

// startConnect starts duplex connect --interactive with args, its input a pipe.
func startConnect(t *testing.T, ctx context.Context, args ...string) *connecting {
	t.Helper()
	pr, pw := io.Pipe()
	c := &connecting{stdin: pw, stdout: new(testenv.Buffer), stderr: new(testenv.Buffer), done: make(chan error, 1)}
	runCtx, cancel := context.WithCancel(ctx)
	go func() {
		err := run(runCtx, append([]string{"connect", "--interactive"}, args...), &env{
			stdin: pr, stdout: c.stdout, stderr: c.stderr, lookupEnv: lookupIn(nil),
		})
		pr.CloseWithError(errors.New("duplex connect ended")) // for the lines typed after
		c.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		pw.Close()
		<-c.done
	})
	return c
}

// typeLine types a line.
func (c *connecting) typeLine(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatalf("typing %q: %v\nstdout: %s\nstderr: %s", line, err, c.stdout, c.stderr)
	}
}

// waitFor waits until the text of buf matches re.
func (c *connecting) waitFor(t *testing.T, ctx context.Context, buf *testenv.Buffer, re string) {
	t.Helper()
	pattern := regexp.MustCompile(re)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !pattern.MatchString(buf.String()) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no %q\nstdout: %s\nstderr: %s", re, c.stdout, c.stderr)
		}
	}
}

// wait waits for the command to end and returns its error.
func (c *connecting) wait(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		return err
	case <-ctx.Done():
		t.Fatalf("duplex connect did not end\nstdout: %s\nstderr: %s", c.stdout, c.stderr)
		return nil
	}
}

// TestConnectInteractive types messages and every command, and checks what is shown,
// what the server receives, and the closing handshake of /close.
func TestConnectInteractive(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, nil)
	c := startConnect(t, ctx, "--subprotocol", "a.v1,b.v1", p.url("/"))
	c.waitFor(t, ctx, c.stderr, `Connected to ws://127\.0\.0\.1:\d+/ \(subprotocol b\.v1\)\. /help`)

	c.typeLine(t, "hello")
	c.waitFor(t, ctx, c.stdout, `> hello\n< hello\n$`)
	c.typeLine(t, "//slash")
	c.waitFor(t, ctx, c.stdout, `> /slash\n< /slash\n$`)
	c.typeLine(t, "/binary 00ff10")
	c.waitFor(t, ctx, c.stdout, `> \[binary, 3 bytes\] 00ff10\n< \[binary, 3 bytes\] 00ff10\n$`)
	c.typeLine(t, "/binary 0g")
	c.waitFor(t, ctx, c.stderr, `/binary: not hex`)
	c.typeLine(t, "/ping")
	c.waitFor(t, ctx, c.stdout, `> ping\n< pong after \d[.\d]*[µm]?s\n$`)
	c.typeLine(t, "/ping hello there")
	c.waitFor(t, ctx, c.stdout, `> ping hello there\n< pong after \d[.\d]*[µm]?s\n$`)
	c.typeLine(t, "/nope")
	c.waitFor(t, ctx, c.stderr, `unknown command /nope: /help lists the commands`)
	c.typeLine(t, "/help")
	c.waitFor(t, ctx, c.stderr, `Commands:\n  /ping .*\n  /close .*\n`)
	c.typeLine(t, "/close 1005")
	c.waitFor(t, ctx, c.stderr, `/close: 1005 is not a code that may be sent`)
	c.typeLine(t, "/close 4000 bye now")
	if err := c.wait(t, ctx); err != nil {
		t.Errorf("duplex connect returned %v, want nil (exit 0)", err)
	}
	if !strings.HasSuffix(c.stderr.String(), "closed with 4000: bye now\n") {
		t.Errorf("stderr %q does not end with the close", c.stderr)
	}
	seen := p.next(t, ctx)
	var ce *ws.CloseError
	if !errors.As(seen.end, &ce) || ce.Code != 4000 || ce.Reason != "bye now" {
		t.Errorf("the server's connection ended with %v, want 4000 bye now", seen.end)
	}
	if seen.subprotocol != "b.v1" || seen.header.Get("Sec-WebSocket-Protocol") != "a.v1, b.v1" {
		t.Errorf("subprotocol %q agreed, %q offered", seen.subprotocol, seen.header.Get("Sec-WebSocket-Protocol"))
	}
}

// TestConnectInteractiveEnd checks the other ends of an interactive session: the input's
// end (Ctrl-D) closes with 1000, and --binary-format base64 shows and reads base64.
func TestConnectInteractiveEnd(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, nil)
	c := startConnect(t, ctx, "--binary-format=base64", p.url("/?bin=00ff10"))
	c.waitFor(t, ctx, c.stdout, `^< \[binary, 3 bytes\] AP8Q\n$`)
	c.typeLine(t, "/binary AAEC")
	c.waitFor(t, ctx, c.stdout, `< \[binary, 3 bytes\] AAEC\n$`)
	c.stdin.Close()
	if err := c.wait(t, ctx); err != nil {
		t.Errorf("duplex connect returned %v, want nil", err)
	}
	if ce := new(ws.CloseError); !errors.As(p.next(t, ctx).end, &ce) || ce.Code != ws.StatusNormalClosure {
		t.Errorf("the server's connection did not end with 1000")
	}
}

// TestConnectVerbosePings checks --ping-interval and -v: keepalive pongs are shown.
func TestConnectVerbosePings(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, nil)
	c := startConnect(t, ctx, "-v", "--ping-interval=10ms", p.url("/"))
	c.waitFor(t, ctx, c.stderr, `\n< pong [0-9a-f]{16}\n`)
	c.typeLine(t, "/close")
	if err := c.wait(t, ctx); err != nil {
		t.Errorf("duplex connect returned %v, want nil", err)
	}
}

// TestConnectPipe checks the input of a pipe: each line is sent, the messages received
// are written as they are, and the exit status follows the server's close.
func TestConnectPipe(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, nil)
	for _, tc := range []struct {
		name, path, stdin string
		args              []string
		stdout, stderr    string // stderr: a regular expression
		exit              int
	}{
		{"lines", "/?echo=4&then=close:1000:bye", "one\ntwo\r\n\nthree", nil,
			"one\ntwo\n\nthree\n", `^closed by the server with 1000 \(normal closure\): bye\n$`, 0},
		{"going away", "/?echo=0&then=close:1001:", "", nil, "", `^closed by the server with 1001 \(going away\)\n$`, 0},
		{"slash lines are messages", "/?echo=1&then=close:1000:", "/close 4000\n", nil, "/close 4000\n", `1000`, 0},
		{"binary input", "/?echo=1&then=close:1000:", "\x00\x01hi\n", []string{"--binary"}, "00016869" + "0a\n", `1000`, 0},
		{"hex", "/?bin=00ff10&bin=&echo=0&then=close:1000:", "", nil, "00ff10\n\n", `1000`, 0},
		{"base64", "/?bin=00ff10&echo=0&then=close:1000:", "", []string{"--binary-format", "base64"}, "AP8Q\n", `1000`, 0},
		{"json", "/?send=" + url.QueryEscape(`{"a":1,"b":[true,null]}`) + "&send=not+json&echo=0&then=close:1000:", "", []string{"--json"},
			"{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null\n  ]\n}\nnot json\n", `1000`, 0},
		{"once", "/?send=first&send=second", "", []string{"--once"}, "first\n", `^closed with 1000 \(normal closure\)\n$`, 0},
		{"wait", "/", "x\n", []string{"--wait", "20ms"}, "x\n", `^closed with 1000 \(normal closure\)\n$`, 0},
		{"1011", "/?send=last&echo=0&then=close:1011:boom", "", nil, "last\n",
			`^duplex connect: closed by the server with 1011 \(internal error\): boom\n$`, 1},
		{"killed", "/?echo=0&then=kill", "", nil, "",
			`^duplex connect: the server dropped the connection without a closing handshake \(1006\)\n$`, 1},
		{"message too big", "/?send=" + strings.Repeat("x", 2000), "", []string{"--max-message-size", "1KiB"}, "",
			`^duplex connect: closed with 1009 \(message too big\), as the server broke the protocol: .*\n$`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := connectRun(t, ctx, nil, tc.stdin, append(tc.args, p.url(tc.path))...)
			if code := ExitCode(r.err); code != tc.exit {
				t.Errorf("exit %d (%v), want %d", code, r.err, tc.exit)
			}
			if r.stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", r.stdout, tc.stdout)
			}
			if !regexp.MustCompile(tc.stderr).MatchString(r.stderr) {
				t.Errorf("stderr %q, want %q", r.stderr, tc.stderr)
			}
			seen := p.next(t, ctx)
			if tc.name == "once" || tc.name == "wait" {
				if ce := new(ws.CloseError); !errors.As(seen.end, &ce) || ce.Code != ws.StatusNormalClosure {
					t.Errorf("the server's connection ended with %v, want 1000", seen.end)
				}
			}
		})
	}
}

// TestConnectHeaders checks that --header, --origin and their variables reach the server,
// and that -v shows the request and the response as they went.
func TestConnectHeaders(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, nil)
	vars := map[string]string{"DUPLEX_CONNECT_HEADER": "X-Env: 1\nX-Env-Two: a, b", "DUPLEX_CONNECT_VERBOSE": "true"}
	r := connectRun(t, ctx, vars, "", "--origin", "https://example.com", p.url("/chat?echo=0&then=close:1000:"))
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	h := p.next(t, ctx).header
	if h.Get("X-Env") != "1" || h.Get("X-Env-Two") != "a, b" || h.Get("Origin") != "https://example.com" || h.Get("User-Agent") != "duplex-connect" {
		t.Errorf("the server received %v", h)
	}
	for _, want := range []string{
		`(?m)^\* connected to 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\)$`,
		`(?m)^> GET /chat\?echo=0&then=close:1000: HTTP/1\.1\n> Host: 127\.0\.0\.1:\d+\n`,
		`(?m)^> Sec-Websocket-Key: [A-Za-z0-9+/=]{24}$`,
		`(?m)^> X-Env-Two: a, b$`,
		`(?m)^< HTTP/1\.1 101 Switching Protocols$`,
		`(?m)^< Sec-WebSocket-Accept: [A-Za-z0-9+/=]{28}$`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stderr) {
			t.Errorf("-v: stderr has no %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "Sec-Websocket-Extensions") {
		t.Errorf("compression offered without --compress:\n%s", r.stderr)
	}

	// Flags replace the variable's headers.
	r = connectRun(t, ctx, vars, "", "-H", "X-Token: abc", "--header=Host: example.com", p.url("/?echo=0&then=close:1000:"))
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	if h := p.next(t, ctx).header; h.Get("X-Token") != "abc" || h.Get("X-Env") != "" {
		t.Errorf("the server received %v", h)
	}
	if !strings.Contains(r.stderr, "\n> Host: example.com\n") {
		t.Errorf("-H Host did not set the Host header:\n%s", r.stderr)
	}
}

// TestConnectCompress checks that --compress offers permessage-deflate, which the server
// agrees, and that messages go through it.
func TestConnectCompress(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, nil)
	big := strings.Repeat("compress me ", 100)
	r := connectRun(t, ctx, nil, big+"\n", "--compress", "-v", p.url("/?echo=1&then=close:1000:"))
	if r.err != nil || r.stdout != big+"\n" {
		t.Fatalf("%v, stdout %q\n%s", r.err, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"\n> Sec-Websocket-Extensions: permessage-deflate",
		"\n< Sec-WebSocket-Extensions: permessage-deflate",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr has no %q:\n%s", want, r.stderr)
		}
	}
	p.next(t, ctx)
}

// TestConnectTLS checks wss://: with the CA given by --ca (and -v, which shows the
// request even inside TLS), with --insecure and its warning, and the certificate problems
// explained.
func TestConnectTLS(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	now := time.Now()
	good, goodPEM := newCert(t, []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour))
	other, otherPEM := newCert(t, []string{"other.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	expired, expiredPEM := newCert(t, []string{"127.0.0.1"}, now.Add(-2*time.Hour), now.Add(-time.Hour))
	file := func(name string, pem []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	goodCA, otherCA, expiredCA := file("good.pem", goodPEM), file("other.pem", otherPEM), file("expired.pem", expiredPEM)
	goodPeer, otherPeer, expiredPeer := newPeer(t, &good), newPeer(t, &other), newPeer(t, &expired)
	plainPeer := newPeer(t, nil)
	const closing = "/?echo=1&then=close:1000:"

	r := connectRun(t, ctx, nil, "", "--insecure", plainPeer.url("/?echo=0&then=close:1000:"))
	if r.err != nil || strings.Contains(r.stderr, "warning") {
		t.Errorf("--insecure with ws://: %v, stderr %q; want no warning", r.err, r.stderr)
	}
	plainPeer.next(t, ctx)
	for _, args := range [][]string{{"--ca", goodCA}, {"--ca", goodCA, "-v"}, {"--insecure"}} {
		r := connectRun(t, ctx, nil, "secret\n", append(args, goodPeer.url(closing))...)
		if r.err != nil || r.stdout != "secret\n" {
			t.Errorf("%q: %v, stdout %q\n%s", args, r.err, r.stdout, r.stderr)
		}
		goodPeer.next(t, ctx)
		warned := strings.Contains(r.stderr, "warning: --insecure: the server's certificate is not verified")
		if warned != (args[0] == "--insecure") {
			t.Errorf("%q: stderr %q", args, r.stderr)
		}
		if len(args) == 3 && !regexp.MustCompile(`(?m)^> GET /\?echo=1&then=close:1000: HTTP/1\.1\n> Host: 127\.0\.0\.1:\d+\n`).MatchString(r.stderr) {
			t.Errorf("-v does not show the request sent inside TLS:\n%s", r.stderr)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown authority", []string{goodPeer.url(closing)},
			`^duplex connect: TLS: the certificate of 127\.0\.0\.1:\d+ is signed by an unknown authority \(O=Duplex test\)\n  trust its CA with --ca FILE, or skip verification with --insecure\n$`},
		{"wrong host", []string{"--ca", otherCA, otherPeer.url(closing)},
			`^duplex connect: TLS: the certificate of 127\.0\.0\.1:\d+ is for other\.example, not 127\.0\.0\.1\n$`},
		{"expired", []string{"--ca", expiredCA, expiredPeer.url(closing)},
			`^duplex connect: TLS: the certificate of 127\.0\.0\.1:\d+ expired on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n$`},
		{"not TLS", []string{"wss" + strings.TrimPrefix(plainPeer.url(closing), "ws")},
			`^duplex connect: TLS: 127\.0\.0\.1:\d+ does not speak TLS: it answered in plain HTTP; use ws:// instead of wss://\n$`},
		{"not TLS, -v", []string{"-v", "wss" + strings.TrimPrefix(plainPeer.url(closing), "ws")},
			`\nduplex connect: TLS: 127\.0\.0\.1:\d+ does not speak TLS: it answered in plain HTTP; use ws:// instead of wss://\n$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := connectRun(t, ctx, nil, "", tc.args...)
			if ExitCode(r.err) != 1 || !regexp.MustCompile(tc.want).MatchString(r.stderr) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", ExitCode(r.err), r.stderr, tc.want)
			}
		})
	}
}

// newCert makes a self-signed CA certificate for hosts, valid from notBefore to
// notAfter, and returns it with its PEM.
func newCert(t *testing.T, hosts []string, notBefore, notAfter time.Time) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"Duplex test"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestConnectErrors checks that each way of failing to connect is explained in a line
// or a few, with exit status 1.
func TestConnectErrors(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, nil)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()

	silent := newSilentListener(t)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"refused", []string{"ws://" + refused + "/"}, `^duplex connect: connection refused: nothing listens on ` + regexp.QuoteMeta(refused) + `\n$`},
		{"DNS", []string{"--proxy=none", "ws://nope.invalid/"}, `^duplex connect: cannot resolve host nope\.invalid: `},
		{"not 101", []string{p.url("/forbidden")},
			`^duplex connect: the server answered 403 Forbidden instead of 101 Switching Protocols\n  go away\n  you are not welcome here\n$`},
		{"bad 101", []string{p.url("/bad-accept")},
			`^duplex connect: the server's answer is not a valid WebSocket handshake: Sec-WebSocket-Accept "wrong" does not match the key sent\n$`},
		{"timeout", []string{"--connect-timeout=50ms", "ws://" + silent + "/"},
			`^duplex connect: timed out after 50ms waiting for the handshake with ` + regexp.QuoteMeta(silent) + ` \(--connect-timeout\)\n$`},
		{"proxy refused", []string{"--proxy", "http://" + refused, p.url("/")},
			`^duplex connect: connection refused: nothing listens on ` + regexp.QuoteMeta(refused) + ` \(the proxy\)\n$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := connectRun(t, ctx, nil, "", tc.args...)
			if ExitCode(r.err) != 1 || !regexp.MustCompile(tc.want).MatchString(r.stderr) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", ExitCode(r.err), r.stdout, r.stderr, tc.want)
			}
		})
	}
}

// newSilentListener listens on loopback, accepts connections and never answers, until
// the test ends. It returns its address.
func newSilentListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestConnectProxy connects through an HTTP CONNECT proxy given by --proxy; -v shows the
// request inside the tunnel.
func TestConnectProxy(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, nil)
	tunnels := make(chan string, 1)
	var wg sync.WaitGroup
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		tunnels <- r.Host
		down, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
		wg.Add(2)
		pipe := func(dst, src net.Conn, r io.Reader) {
			defer wg.Done()
			io.Copy(dst, r)
			dst.Close()
			src.Close()
		}
		go pipe(up, down, brw)
		go pipe(down, up, up)
	}))
	t.Cleanup(func() {
		proxy.Close()
		wg.Wait()
	})

	r := connectRun(t, ctx, nil, "through\n", "-v", "--proxy", proxy.URL, p.url("/?echo=1&then=close:1000:"))
	if r.err != nil || r.stdout != "through\n" {
		t.Fatalf("%v, stdout %q\n%s", r.err, r.stdout, r.stderr)
	}
	if host := <-tunnels; host != strings.TrimPrefix(p.srv.URL, "http://") {
		t.Errorf("the proxy tunnelled to %s", host)
	}
	if !strings.Contains(r.stderr, "* through the proxy "+proxy.URL+"\n") || !strings.Contains(r.stderr, "\n> GET /?echo=1") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	p.next(t, ctx)
}

// TestConnectUsageErrors checks mistakes in the command line: exit status 2.
func TestConnectUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{nil, []string{}, "no URL: give the server's, such as ws://localhost:8080/ws/echo"},
		{nil, []string{"ws://a/", "ws://b/"}, `unexpected argument "ws://b/": connect takes one URL`},
		{nil, []string{"localhost:8080/ws"}, `URL "localhost:8080/ws" has no scheme: did you mean ws://localhost:8080/ws?`},
		{nil, []string{"ftp://example.com/"}, `URL "ftp://example.com/": the scheme must be ws or wss, not ftp`},
		{nil, []string{"ws:///path"}, `URL "ws:///path" has no host`},
		{nil, []string{"ws://host:port/"}, `bad URL: parse "ws://host:port/": invalid port`},
		{nil, []string{"-H", "NoColon", "ws://a/"}, `--header "NoColon": want "Name: value"`},
		{nil, []string{"-H", "Bad Name: x", "ws://a/"}, `--header "Bad Name: x": want "Name: value"`},
		{nil, []string{"--binary-format", "octal", "ws://a/"}, `--binary-format must be hex or base64, not "octal"`},
		{nil, []string{"--connect-timeout", "0s", "ws://a/"}, "--connect-timeout must be positive"},
		{nil, []string{"--wait", "-1s", "ws://a/"}, "--wait must be positive, or 0"},
		{nil, []string{"--ping-interval", "-1s", "ws://a/"}, "--ping-interval must be positive, or 0"},
		{nil, []string{"--ca", "missing.pem", "ws://a/"}, "--ca: open missing.pem"},
		{nil, []string{"--proxy", "ftp://p:1", "ws://a/"}, `--proxy "ftp://p:1": want http://, https:// or socks5://HOST:PORT, or none`},
		{nil, []string{"--interactive", "--binary", "ws://a/"}, "--binary sends the input of a file or pipe"},
		{nil, []string{"ws://a/", "--nope"}, "flag provided but not defined: -nope"},
		{map[string]string{"DUPLEX_CONNECT_ONCE": "maybe"}, []string{"ws://a/"}, `invalid value "maybe" for DUPLEX_CONNECT_ONCE (--once)`},
	} {
		r := runArgs(t, tc.vars, append([]string{"connect"}, tc.args...)...)
		if code := ExitCode(r.err); code != 2 {
			t.Errorf("%q: exit %d (%v), want 2", tc.args, code, r.err)
		}
		if !strings.Contains(r.stderr, tc.want) || !strings.HasSuffix(r.stderr, "Run 'duplex connect --help' for usage.\n") {
			t.Errorf("%q: stderr %q, want %q and the pointer to the help", tc.args, r.stderr, tc.want)
		}
	}
}

// TestConnectFlags checks that flags may follow the URL, and that the environment sets
// flags, which the command line overrides.
func TestConnectFlags(t *testing.T) {
	vars := map[string]string{
		"DUPLEX_CONNECT_SUBPROTOCOL":      "a, b",
		"DUPLEX_CONNECT_MAX_MESSAGE_SIZE": "1MiB",
		"DUPLEX_CONNECT_WAIT":             "2s",
		"DUPLEX_PING_INTERVAL":            "5s", // duplex serve's: not connect's
	}
	o, err := parseConnect([]string{"--once", "wss://example.com/x", "--subprotocol", "c", "-v"}, lookupIn(vars))
	if err != nil {
		t.Fatal(err)
	}
	if o.url.String() != "wss://example.com/x" || !o.once || !o.verbose || strings.Join(o.subprotocols, " ") != "c" ||
		o.maxMessageSize != 1<<20 || o.wait != 2*time.Second || o.pingInterval != 0 || o.connectTimeout != 10*time.Second {
		t.Errorf("options %+v", o)
	}
	o, err = parseConnect([]string{"--", "https://example.com"}, lookupIn(nil))
	if err != nil || o.url.String() != "wss://example.com" || o.maxMessageSize != ws.DefaultReadLimit {
		t.Errorf("%v, %+v", err, o)
	}
}

// TestConnectCloseArgs checks the arguments of /close.
func TestConnectCloseArgs(t *testing.T) {
	for _, tc := range []struct {
		arg    string
		code   ws.StatusCode
		reason string
	}{
		{"", 1000, ""},
		{"4000", 4000, ""},
		{"1001 going  away ", 1001, "going  away"},
		{"bye now", 1000, "bye now"},
		{"1006", 0, ""},
		{"999", 0, ""},
		{"5000 x", 0, ""},
	} {
		code, reason, err := parseClose(strings.TrimSpace(tc.arg))
		if tc.code == 0 {
			if err == nil {
				t.Errorf("/close %s: %d %q, want an error", tc.arg, code, reason)
			}
			continue
		}
		if err != nil || code != tc.code || reason != tc.reason {
			t.Errorf("/close %s: %d %q %v, want %d %q", tc.arg, code, reason, err, tc.code, tc.reason)
		}
	}
}

// TestConnectDisplay checks how an interactive session shows messages on a terminal,
// where a prompt is shown and erased around them, and that control characters are
// escaped.
func TestConnectDisplay(t *testing.T) {
	var out, errs bytes.Buffer
	d := &display{stdout: &out, stderr: &errs, marked: true, prompt: true, binaryFormat: "hex"}
	d.showPrompt()
	d.message("<", ws.MessageText, []byte("red \x1b[31m\nline two"))
	d.typed()
	d.message(">", ws.MessageText, []byte("typed"))
	d.showPrompt()
	d.info("note")
	d.end()
	if want := "> \r\x1b[K< red \\x1b[31m\n  line two\n> > \r\x1b[K> \r\x1b[K"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if errs.String() != "note\n" {
		t.Errorf("stderr %q", errs.String())
	}
}

// TestConnectHelp compares duplex connect --help with testdata; go test -update rewrites
// it.
func TestConnectHelp(t *testing.T) {
	for _, args := range [][]string{{"connect", "--help"}, {"connect", "-h"}, {"help", "connect"}} {
		r := runArgs(t, map[string]string{"DUPLEX_CONNECT_CONNECT_TIMEOUT": "1m"}, args...)
		if r.err != nil || r.stderr != "" {
			t.Errorf("%q: %v, stderr %q", args, r.err, r.stderr)
		}
		path := filepath.Join("testdata", "connect-help.golden")
		if *update {
			if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.stdout != string(want) {
			t.Errorf("%q: the help differs from %s (go test -update rewrites it):\n%s", args, path, r.stdout)
		}
	}
}
