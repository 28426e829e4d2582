package cli

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/duplex-ws/duplex/internal/server"
)

// serveOptions are the flags of duplex serve: the server's Config, in the flags' terms
// (where 0 means no limit), and the logging.
type serveOptions struct {
	addr                string
	allowOrigins        []string
	maxConnections      int
	maxConnectionsPerIP int
	maxMessageSize      int64
	rateLimit           float64
	rateBurst           int
	queueSize           int
	writeTimeout        time.Duration
	pingInterval        time.Duration
	pongTimeout         time.Duration
	shutdownTimeout     time.Duration
	tlsCert, tlsKey     string
	tlsSelfSigned       bool
	compression         string
	logFormat           string
	logLevel            string
}

// serveFlags defines the flags of duplex serve on a new flagSet, setting o.
func serveFlags(o *serveOptions) *flagSet {
	d := server.Defaults()
	f := newFlagSet("serve")

	f.stringVar(&o.addr, "addr", d.Addr, "listen on `host:port`")
	f.value(&listValue{values: &o.allowOrigins}, "allow-origin", "also allow browser pages from origins matching `pattern`: example.com, *.example.com, localhost:*, https://*.example.com; repeat the flag or separate patterns with commas (the server's own origin is always allowed)")
	f.intVar(&o.maxConnections, "max-connections", d.MaxConnections, "refuse WebSocket requests with 503 beyond `n` connections open at once; 0 for no limit")
	f.intVar(&o.maxConnectionsPerIP, "max-connections-per-ip", d.MaxConnectionsPerIP, "refuse them beyond `n` connections from one IP address; 0 for no limit")
	o.maxMessageSize = d.MaxMessageSize
	f.value(sizeValue{&o.maxMessageSize}, "max-message-size", "close with 1009 a connection that sends a message over `size` bytes (or KiB, MiB); 0 for no limit")
	f.float64Var(&o.rateLimit, "rate-limit", d.RateLimit, "close with 1008 a connection that sends more than `n` messages a second on average; 0 for no limit")
	f.intVar(&o.rateBurst, "rate-burst", d.RateBurst, "let a connection send `n` messages at once above --rate-limit")
	f.intVar(&o.queueSize, "queue-size", d.QueueSize, "keep up to `n` messages waiting for one chat member; a member whose queue is full is disconnected as a slow consumer (1008)")
	f.durationVar(&o.writeTimeout, "write-timeout", d.WriteTimeout, "disconnect as a slow consumer a connection that takes longer than `duration` to take one message")
	f.durationVar(&o.pingInterval, "ping-interval", d.PingInterval, "ping every connection every `duration`; 0 turns pings off")
	f.durationVar(&o.pongTimeout, "pong-timeout", d.PongTimeout, "drop a connection whose pong takes longer than `duration`")
	f.durationVar(&o.shutdownTimeout, "shutdown-timeout", d.ShutdownTimeout, "on SIGINT or SIGTERM, wait up to `duration` for the connections to close after sending them 1001")
	f.stringVar(&o.tlsCert, "tls-cert", "", "serve https and wss with the PEM certificate in `file` (with --tls-key)")
	f.stringVar(&o.tlsKey, "tls-key", "", "read the certificate's private key from the PEM `file`")
	f.boolVar(&o.tlsSelfSigned, "tls-self-signed", false, "serve https and wss with a certificate made at start-up for localhost, 127.0.0.1 and ::1, for local development (browsers warn about it)")
	f.stringVar(&o.compression, "compression", d.Compression, "agree to permessage-deflate as `mode` none, no-takeover (each message on its own) or takeover (messages may refer to earlier ones: smaller, more memory per connection)")
	f.stringVar(&o.logFormat, "log-format", "text", "log to stderr in `format` text or json")
	f.stringVar(&o.logLevel, "log-level", "info", "log records of `level` debug, info, warn or error, and above")
	return f
}

// serveHelp writes duplex serve --help.
func serveHelp(w io.Writer) {
	var o serveOptions
	f := serveFlags(&o)
	io.WriteString(w, `Usage: duplex serve [flags]

Serve the Duplex web page, an echo endpoint and chat rooms over WebSocket, until
interrupted (SIGINT or SIGTERM), then close every connection with 1001 and exit.

Endpoints:
  /           the web page: a chat client and an echo tester
  /ws/echo    WebSocket: sends back every message unchanged
  /ws/chat    WebSocket: chat rooms, ?room=NAME&name=NICK (docs/chat-protocol.md),
              subprotocol duplex.chat.v1
  /healthz    "ok" while serving
  /metrics    Prometheus metrics

Flags (each may also be set by the environment variable shown; a flag wins):
`)
	f.writeHelp(w)
}

// parseServe parses the flags and environment of duplex serve into a server Config and
// its logging options.
func parseServe(args []string, lookupEnv func(string) (string, bool)) (serveOptions, error) {
	var o serveOptions
	f := serveFlags(&o)
	if err := f.parse(args, lookupEnv); err != nil {
		return o, err
	}
	return o, o.check()
}

// check reports the first flag whose value cannot work.
func (o *serveOptions) check() error {
	switch {
	case o.maxConnections < 0:
		return usageErrorf("--max-connections must be 0 (no limit) or more, not %d", o.maxConnections)
	case o.maxConnectionsPerIP < 0:
		return usageErrorf("--max-connections-per-ip must be 0 (no limit) or more, not %d", o.maxConnectionsPerIP)
	case o.rateLimit < 0:
		return usageErrorf("--rate-limit must be 0 (no limit) or more, not %v", o.rateLimit)
	case o.rateBurst < 1:
		return usageErrorf("--rate-burst must be at least 1, not %d", o.rateBurst)
	case o.queueSize < 1:
		return usageErrorf("--queue-size must be at least 1, not %d", o.queueSize)
	case o.writeTimeout <= 0:
		return usageErrorf("--write-timeout must be positive, not %v", o.writeTimeout)
	case o.pingInterval < 0:
		return usageErrorf("--ping-interval must be positive, or 0 for no pings, not %v", o.pingInterval)
	case o.pongTimeout <= 0:
		return usageErrorf("--pong-timeout must be positive, not %v", o.pongTimeout)
	case o.shutdownTimeout <= 0:
		return usageErrorf("--shutdown-timeout must be positive, not %v", o.shutdownTimeout)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return usageErrorf("--tls-cert and --tls-key go together")
	case o.tlsSelfSigned && o.tlsCert != "":
		return usageErrorf("--tls-self-signed and --tls-cert exclude each other")
	case o.compression != "none" && o.compression != "no-takeover" && o.compression != "takeover":
		return usageErrorf("--compression must be none, no-takeover or takeover, not %q", o.compression)
	case o.logFormat != "text" && o.logFormat != "json":
		return usageErrorf("--log-format must be text or json, not %q", o.logFormat)
	}
	if _, err := parseLevel(o.logLevel); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return usageErrorf("--addr %q: %v", o.addr, err)
	}
	for _, p := range o.allowOrigins {
		if err := server.CheckOriginPattern(p); err != nil {
			return usageErrorf("--allow-origin: %v", err)
		}
	}
	return nil
}

// config returns the server's Config for o: 0 (no limit, no pings) in the flags is a
// negative value in the Config, whose zero means the default.
func (o *serveOptions) config(logger *slog.Logger) server.Config {
	none := func(v int) int {
		if v == 0 {
			return -1
		}
		return v
	}
	c := server.Config{
		Addr:                o.addr,
		AllowOrigins:        o.allowOrigins,
		MaxConnections:      none(o.maxConnections),
		MaxConnectionsPerIP: none(o.maxConnectionsPerIP),
		MaxMessageSize:      o.maxMessageSize,
		RateLimit:           o.rateLimit,
		RateBurst:           o.rateBurst,
		QueueSize:           o.queueSize,
		WriteTimeout:        o.writeTimeout,
		PingInterval:        o.pingInterval,
		PongTimeout:         o.pongTimeout,
		ShutdownTimeout:     o.shutdownTimeout,
		TLSCertFile:         o.tlsCert,
		TLSKeyFile:          o.tlsKey,
		TLSSelfSigned:       o.tlsSelfSigned,
		Compression:         o.compression,
		Logger:              logger,
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = -1
	}
	if c.RateLimit == 0 {
		c.RateLimit = -1
	}
	if c.PingInterval == 0 {
		c.PingInterval = -1
	}
	return c
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, usageErrorf("--log-level must be debug, info, warn or error, not %q", s)
}

// newLogger returns the logger of o, writing to w.
func (o *serveOptions) newLogger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(o.logLevel) // checked
	opts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runServe is duplex serve: it serves until ctx ends, then shuts down.
func runServe(ctx context.Context, e *env, args []string) error {
	o, err := parseServe(args, e.lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		serveHelp(e.stdout)
		return nil
	}
	if err != nil {
		return err
	}
	logger := o.newLogger(e.stderr)
	cfg := o.config(logger)
	s, err := server.New(&cfg)
	if errors.Is(err, server.ErrConfig) {
		return &usageError{err}
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	base := baseURL(ln.Addr(), s.Certificate() != nil)
	ws := "ws" + strings.TrimPrefix(base, "http")
	fmt.Fprintf(e.stdout, "Duplex is serving %s/ — open it in a browser.\n", base)
	fmt.Fprintf(e.stdout, "  echo     %s/ws/echo\n  chat     %s/ws/chat?room=lobby&name=NICK\n", ws, ws)
	fmt.Fprintf(e.stdout, "  health   %s/healthz\n  metrics  %s/metrics\n", base, base)
	if cert := s.Certificate(); cert != nil && o.tlsSelfSigned {
		sum := sha256.Sum256(cert.Raw)
		fmt.Fprintf(e.stdout, "The certificate is self-signed: browsers warn about it. Its SHA-256 fingerprint:\n  %s\n", fingerprint(sum[:]))
	}
	fmt.Fprintln(e.stdout, "Press Ctrl-C to stop.")
	logger.Info("serving", "addr", ln.Addr().String(), "tls", s.Certificate() != nil)
	err = s.Run(ctx, ln)
	logger.Info("stopped")
	return err
}

// baseURL returns the URL a browser on this machine can open for addr: localhost stands
// for an address that listens on every interface.
func baseURL(addr net.Addr, tls bool) string {
	host := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		host = net.JoinHostPort("localhost", fmt.Sprint(ta.Port))
	}
	if tls {
		return "https://" + host
	}
	return "http://" + host
}

// fingerprint formats a hash as colon-separated hex pairs.
func fingerprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
