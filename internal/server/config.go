package server

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Config lists every knob of the server; each field is a flag of duplex serve, named in
// its comment. The zero value of each field means its default, which Defaults returns
// filled in. For limits, a negative value means no limit.
type Config struct {
	// Addr is the TCP address to listen on (--addr). Zero means "127.0.0.1:8080".
	Addr string

	// AllowOrigins lists the browser origins allowed to open WebSockets besides the
	// server's own, as ws.AcceptOptions.OriginPatterns patterns: "example.com",
	// "*.example.com", "localhost:*", "https://*.example.com" (--allow-origin, repeated).
	// Nil means the server's own origin only.
	AllowOrigins []string

	// MaxConnections is how many WebSocket connections may be open at once; more are
	// refused with 503 before the upgrade (--max-connections). Zero means 10000.
	MaxConnections int
	// MaxConnectionsPerIP is how many of them may come from one IP address
	// (--max-connections-per-ip). Zero means 100.
	MaxConnectionsPerIP int
	// MaxMessageSize is the largest message, in bytes, a client may send; a larger one
	// closes the connection with 1009 (--max-message-size). Zero means 64 KiB.
	MaxMessageSize int64
	// RateLimit is how many messages per second a connection may send on average; a
	// connection that sends faster is closed with 1008 "rate limit exceeded"
	// (--rate-limit). Zero means 50.
	RateLimit float64
	// RateBurst is how many messages a connection may send at once, above RateLimit
	// (--rate-burst). Zero means 100.
	RateBurst int

	// QueueSize is how many messages may wait to be sent to one chat member; a member whose
	// queue is full is disconnected with 1008 "slow consumer" (--queue-size). Zero means
	// 256.
	QueueSize int
	// WriteTimeout bounds the sending of one message; a connection that takes longer is
	// disconnected as a slow consumer (--write-timeout). Zero means 10 seconds.
	WriteTimeout time.Duration
	// PingInterval is how often every connection is pinged (--ping-interval). Zero means 30
	// seconds; a negative value turns pings off.
	PingInterval time.Duration
	// PongTimeout is how long a ping waits for its pong before the connection is dropped
	// (--pong-timeout). Zero means 10 seconds.
	PongTimeout time.Duration
	// ShutdownTimeout bounds a graceful shutdown in [Server.Run]: connections still open
	// after it are closed at once (--shutdown-timeout). Zero means 10 seconds.
	ShutdownTimeout time.Duration

	// Compression is the permessage-deflate the server agrees to when a client offers it
	// (--compression): "none", "no-takeover" (each message compressed on its own, no
	// compression state kept between messages) or "takeover" (messages may refer to
	// earlier ones; more memory per connection). Empty means "no-takeover".
	Compression string

	// TLSCertFile and TLSKeyFile are the PEM files of the certificate and key to serve
	// HTTPS and WSS with (--tls-cert, --tls-key). Both or neither must be set.
	TLSCertFile, TLSKeyFile string
	// TLSSelfSigned serves HTTPS and WSS with a certificate made at start-up, in memory,
	// for localhost, 127.0.0.1 and ::1 (--tls-self-signed). Browsers warn about it: it is
	// for local development. It excludes TLSCertFile.
	TLSSelfSigned bool

	// Logger receives the server's records (--log-format, --log-level). Nil means nothing
	// is logged.
	Logger *slog.Logger
}

// ErrConfig is wrapped by the errors of [New] for a Config that cannot work.
var ErrConfig = errors.New("server: invalid configuration")

// Defaults returns the Config with every field at its default.
func Defaults() Config {
	return (&Config{}).withDefaults()
}

// withDefaults returns a copy of c (or of the zero Config when c is nil) with every zero
// field set to its default. Negative limits stay negative: no limit.
func (c *Config) withDefaults() Config {
	var o Config
	if c != nil {
		o = *c
		o.AllowOrigins = append([]string(nil), c.AllowOrigins...)
	}
	orDefault := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	orDefaultDuration := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	orDefault(&o.MaxConnections, 10000)
	orDefault(&o.MaxConnectionsPerIP, 100)
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = 64 << 10
	}
	if o.RateLimit == 0 {
		o.RateLimit = 50
	}
	orDefault(&o.RateBurst, 100)
	orDefault(&o.QueueSize, 256)
	orDefaultDuration(&o.WriteTimeout, 10*time.Second)
	orDefaultDuration(&o.PingInterval, 30*time.Second)
	orDefaultDuration(&o.PongTimeout, 10*time.Second)
	if o.Compression == "" {
		o.Compression = "no-takeover"
	}
	orDefaultDuration(&o.ShutdownTimeout, 10*time.Second)
	return o
}

// validate reports the first setting of c, whose defaults are set, that cannot work.
func (c *Config) validate() error {
	switch {
	case c.RateLimit > 0 && c.RateBurst < 1:
		return fmt.Errorf("%w: RateBurst %d is less than 1", ErrConfig, c.RateBurst)
	case c.QueueSize < 0:
		return fmt.Errorf("%w: QueueSize %d is negative", ErrConfig, c.QueueSize)
	case c.WriteTimeout < 0:
		return fmt.Errorf("%w: WriteTimeout %v is negative", ErrConfig, c.WriteTimeout)
	case c.Compression != "" && compressionModes[c.Compression] == 0 && c.Compression != "none":
		return fmt.Errorf("%w: Compression %q is not none, no-takeover or takeover", ErrConfig, c.Compression)
	case c.PongTimeout < 0:
		return fmt.Errorf("%w: PongTimeout %v is negative", ErrConfig, c.PongTimeout)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("%w: ShutdownTimeout %v is negative", ErrConfig, c.ShutdownTimeout)
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return fmt.Errorf("%w: TLSCertFile and TLSKeyFile must be set together", ErrConfig)
	case c.TLSSelfSigned && c.TLSCertFile != "":
		return fmt.Errorf("%w: TLSSelfSigned and TLSCertFile exclude each other", ErrConfig)
	}
	for _, p := range c.AllowOrigins {
		if err := CheckOriginPattern(p); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return nil
}

// CheckOriginPattern reports whether p is a well-formed origin pattern for AllowOrigins.
func CheckOriginPattern(p string) error {
	if p == "" {
		return errors.New("empty origin pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("malformed origin pattern %q: %w", p, err)
	}
	return nil
}

// compressionModes maps Config.Compression to the ws package's modes.
var compressionModes = map[string]ws.CompressionMode{
	"none":        ws.CompressionDisabled,
	"no-takeover": ws.CompressionNoContextTakeover,
	"takeover":    ws.CompressionContextTakeover,
}

// tls reports whether the server serves HTTPS and WSS.
func (c *Config) tls() bool { return c.TLSSelfSigned || c.TLSCertFile != "" }
