package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// duplex connect is an interactive WebSocket client, in three files: this one (flags and
// the command), connect_session.go (the exchange of messages, its commands and how it is
// shown) and connect_dial.go (the connection, the handshake shown by -v, and its errors
// explained).

// connectOptions are the flags and the URL of duplex connect.
type connectOptions struct {
	rawURL         string
	headers        []string // "Name: value"
	origin         string
	subprotocols   []string
	compress       bool
	caFile         string
	insecure       bool
	proxy          string
	connectTimeout time.Duration
	pingInterval   time.Duration
	maxMessageSize int64
	binaryFormat   string
	json           bool
	binary         bool
	wait           time.Duration
	once           bool
	interactive    bool
	verbose        bool

	// Made from the flags by check.
	url      *url.URL    // with scheme ws or wss
	header   http.Header // --header and --origin, without Host
	host     string      // a Host header given with --header
	tls      *tls.Config // for wss, and https proxies
	proxyURL *url.URL    // --proxy; nil for the environment's
	noProxy  bool        // --proxy none
}

// connectEnvPrefix starts the environment variable of each flag of duplex connect. Its
// flags have a namespace of their own: --ping-interval or --max-message-size mean
// something else for a client than for duplex serve, whose variables are DUPLEX_NAME.
const connectEnvPrefix = "DUPLEX_CONNECT_"

func connectEnvName(flagName string) string {
	return connectEnvPrefix + strings.TrimPrefix(envName(flagName), "DUPLEX_")
}

// connectFlags defines the flags of duplex connect on a new flagSet, setting o.
func connectFlags(o *connectOptions) *flagSet {
	f := newFlagSet("connect")
	headers := &headerValue{values: &o.headers}
	f.value(headers, "header", "send the request header `\"Name: value\"` (or -H); repeat the flag for more (the variable holds one a line)")
	f.fs.Var(headers, "H", "")
	f.stringVar(&o.origin, "origin", "", "send an Origin header: the `origin` of a web page, such as https://example.com, as a browser would")
	f.value(&listValue{values: &o.subprotocols}, "subprotocol", "offer the subprotocol `name` to the server; repeat the flag or separate names with commas, most preferred first")
	f.boolVar(&o.compress, "compress", false, "offer permessage-deflate with context takeover: messages may refer to earlier ones, which compresses best (the server may still ask for each message on its own)")
	f.stringVar(&o.caFile, "ca", "", "verify the server's certificate with the CA certificates in the PEM `file`, instead of the system's")
	f.boolVar(&o.insecure, "insecure", false, "do not verify the server's TLS certificate (a warning says so): anyone on the way can then read and change the messages")
	f.stringVar(&o.proxy, "proxy", "", "connect through the proxy at `url`: http://, https:// or socks5://HOST:PORT, with user:password@ if it needs them; none to connect directly (by default, HTTPS_PROXY, HTTP_PROXY and NO_PROXY decide)")
	f.durationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "give up when connecting and the handshake take longer than `duration`")
	f.durationVar(&o.pingInterval, "ping-interval", 0, "ping the server every `duration`, and drop the connection if no pong comes back within as long; 0 sends no pings")
	o.maxMessageSize = ws.DefaultReadLimit
	f.value(sizeValue{&o.maxMessageSize}, "max-message-size", "close with 1009 the connection when the server sends a message over `size` bytes (or KiB, MiB); 0 for no limit")
	f.stringVar(&o.binaryFormat, "binary-format", "hex", "show binary messages, and read /binary's argument, in `format` hex or base64")
	f.boolVar(&o.json, "json", false, "show the text messages that hold JSON indented")
	f.boolVar(&o.binary, "binary", false, "send the input, from a file or pipe, as one binary message rather than a text message a line")
	f.durationVar(&o.wait, "wait", 0, "with input from a file or pipe, wait `duration` after the input ends, then close the connection; 0 waits for the server to close")
	f.boolVar(&o.once, "once", false, "close the connection and exit when the first message arrives")
	f.boolVar(&o.interactive, "interactive", false, "take the input as typed at a terminal, with commands and messages marked > and <, even when it is not one")
	f.boolVar(&o.verbose, "verbose", false, "show the handshake's request and response headers, pings and pongs, on stderr (or -v)")
	f.fs.BoolVar(&o.verbose, "v", false, "")
	return f
}

// connectHelp writes duplex connect --help.
func connectHelp(w io.Writer) {
	var o connectOptions
	f := connectFlags(&o)
	io.WriteString(w, `Usage: duplex connect [flags] URL

Open a WebSocket connection to URL, ws://HOST[:PORT]/PATH (or wss:// for TLS), and
exchange messages with the server.

Typed at a terminal, each line is sent as a text message, and the messages sent and
received are shown marked > and <, binary ones in hex (or base64). Commands:
`+sessionCommands+`Ctrl-D closes the connection with 1000 (normal closure), Ctrl-C with 1001 (going away).

From a file or a pipe, each line of the input is sent as a text message (with --binary,
the whole input as one binary message), and each message received is written to stdout
on a line of its own. The connection then stays open until the server closes it, --wait
after the input ends, or with --once until the first message arrives.

Exit status: 0 when the connection ends normally: closed from here, or by the server
with 1000 (normal closure), 1001 (going away) or no code; 1 when it ends otherwise or
cannot be opened, with the reason on stderr; 2 for a mistake in the command line.

Flags (each may also be set by the environment variable shown; a flag wins):
`)
	var b strings.Builder
	f.writeHelp(&b)
	io.WriteString(w, strings.ReplaceAll(b.String(), "[$DUPLEX_", "[$"+connectEnvPrefix))
}

// parseConnect parses the flags, the URL and the environment of duplex connect. Flags
// may come before and after the URL.
func parseConnect(args []string, lookupEnv func(string) (string, bool)) (connectOptions, error) {
	var o connectOptions
	f := connectFlags(&o)
	for _, name := range f.order {
		v, ok := lookupEnv(connectEnvName(name))
		if !ok || v == "" {
			continue
		}
		if err := f.fs.Set(name, v); err != nil {
			return o, usageErrorf("invalid value %q for %s (--%s): %v", v, connectEnvName(name), name, err)
		}
		switch v := f.fs.Lookup(name).Value.(type) {
		case *listValue:
			v.fromEnv = true
		case *headerValue:
			v.fromEnv = true
		}
	}
	for {
		err := f.fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			return o, err
		case err != nil:
			return o, &usageError{err}
		case f.fs.NArg() == 0:
			if o.rawURL == "" {
				return o, usageErrorf("no URL: give the server's, such as ws://localhost:8080/ws/echo")
			}
			return o, o.check()
		case o.rawURL != "":
			return o, usageErrorf("unexpected argument %q: connect takes one URL", f.fs.Arg(0))
		}
		o.rawURL, args = f.fs.Arg(0), f.fs.Args()[1:]
	}
}

// check reports the first flag, or the URL, that cannot work, and makes the options'
// derived fields.
func (o *connectOptions) check() error {
	switch {
	case o.connectTimeout <= 0:
		return usageErrorf("--connect-timeout must be positive, not %v", o.connectTimeout)
	case o.pingInterval < 0:
		return usageErrorf("--ping-interval must be positive, or 0 for no pings, not %v", o.pingInterval)
	case o.wait < 0:
		return usageErrorf("--wait must be positive, or 0 to wait for the server to close, not %v", o.wait)
	case o.binaryFormat != "hex" && o.binaryFormat != "base64":
		return usageErrorf("--binary-format must be hex or base64, not %q", o.binaryFormat)
	}
	if err := o.parseURL(); err != nil {
		return err
	}
	o.header = make(http.Header)
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validHeaderName(name) {
			return usageErrorf(`--header %q: want "Name: value"`, h)
		}
		if strings.EqualFold(name, "Host") {
			o.host = value
			continue
		}
		o.header.Add(name, value)
	}
	if o.origin != "" {
		o.header.Set("Origin", o.origin)
	}
	if o.header.Get("User-Agent") == "" {
		o.header.Set("User-Agent", "duplex-connect")
	}
	o.tls = &tls.Config{InsecureSkipVerify: o.insecure}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return usageErrorf("--ca: %v", err)
		}
		o.tls.RootCAs = x509.NewCertPool()
		if !o.tls.RootCAs.AppendCertsFromPEM(pem) {
			return usageErrorf("--ca %s: no PEM certificate in it", o.caFile)
		}
	}
	switch o.proxy {
	case "":
	case "none":
		o.noProxy = true
	default:
		u, err := url.Parse(o.proxy)
		if err != nil {
			return usageErrorf("--proxy: %v", err)
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return usageErrorf("--proxy %q: want http://, https:// or socks5://HOST:PORT, or none", o.proxy)
		}
		if u.Host == "" {
			return usageErrorf("--proxy %q has no host", o.proxy)
		}
		o.proxyURL = u
	}
	return nil
}

// parseURL checks the URL and sets o.url.
func (o *connectOptions) parseURL() error {
	raw := o.rawURL
	if !strings.Contains(raw, "://") {
		return usageErrorf("URL %q has no scheme: did you mean ws://%s?", raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return usageErrorf("bad URL: %v", err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return usageErrorf("URL %q: the scheme must be ws or wss, not %s", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return usageErrorf("URL %q has no host", raw)
	}
	o.url = u
	return nil
}

// validHeaderName reports whether s is an HTTP field name, a token (RFC 9110 §5.1).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// headerValue is the repeatable --header flag. Unlike listValue, it does not split at
// commas, which header values contain; the environment variable holds one a line.
type headerValue struct {
	values  *[]string
	fromEnv bool
}

func (h *headerValue) String() string {
	if h.values == nil {
		return ""
	}
	return strings.Join(*h.values, "\n")
}

func (h *headerValue) Set(s string) error {
	if h.fromEnv {
		*h.values = nil
		h.fromEnv = false
	}
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			*h.values = append(*h.values, line)
		}
	}
	return nil
}

// runConnect is duplex connect: it connects, then exchanges messages until the
// connection ends.
func runConnect(ctx context.Context, e *env, args []string) error {
	o, err := parseConnect(args, e.lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		connectHelp(e.stdout)
		return nil
	}
	if err != nil {
		return err
	}
	interactive := o.interactive || isTerminal(e.stdin)
	if interactive && o.binary {
		return usageErrorf("--binary sends the input of a file or pipe, not lines typed at a terminal")
	}
	d := &display{
		stdout:       e.stdout,
		stderr:       e.stderr,
		marked:       interactive,
		prompt:       interactive && isTerminal(e.stdout),
		binaryFormat: o.binaryFormat,
		json:         o.json,
	}
	if o.insecure && (o.url.Scheme == "wss" || o.proxyURL != nil && o.proxyURL.Scheme == "https") {
		d.info("duplex connect: warning: --insecure: the server's certificate is not verified; anyone on the way can read and change the messages")
	}
	c, resp, err := dial(ctx, &o, d)
	if err != nil {
		return err
	}
	s := newSession(&o, c, d, interactive)
	if interactive {
		s.connected(resp)
	}
	return s.run(ctx, e.stdin)
}

// isTerminal reports whether f is a terminal: a character device other than /dev/null,
// which scripts give as an empty input.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// String forms of what duplex connect reports.

// codeText returns a close code with its name: "1000 (normal closure)", or "4000" for
// a code that has none.
func codeText(code ws.StatusCode) string {
	name := code.String()
	if strings.HasPrefix(name, "status ") {
		return fmt.Sprint(int(code))
	}
	return fmt.Sprintf("%d (%s)", int(code), name)
}
