package bench

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Config configures a run. Each field says which runs read it, and what its zero value
// means. The Config is copied by the runs and never modified.
type Config struct {
	// URL is the ws:// or wss:// URL to dial: an echo endpoint for Echo and Connect; for
	// Broadcast, duplex serve's /ws/chat, which it joins with a room and names added to the
	// query, or a plain relay (Protocol). A URL without a path means duplex serve's
	// endpoint: /ws/echo, or /ws/chat for Broadcast. A tcp://HOST:PORT URL speaks the
	// rawtcp protocol of bench/servers/rawtcp instead, the baseline without WebSocket: every
	// message is a 4-byte big-endian length and the payload, after a first byte, 'E' (Echo,
	// Connect) or 'B' (Broadcast, a relay).
	URL string

	// Protocol is what Broadcast speaks: ProtocolChat, duplex serve's chat, whose rooms it
	// joins and whose JSON messages it sends as text; or ProtocolRelay, a plain relay that
	// sends every message to every connection, to which it sends binary messages, each
	// with its intended send time in its first 8 bytes. Empty means ProtocolChat for a
	// path of /ws/chat (or none), ProtocolRelay for any other, and for tcp://.
	Protocol string

	// Connections is how many connections Echo runs, or Connect opens. Zero means 1.
	Connections int
	// Subscribers is how many subscribers receive Broadcast's messages. Zero means 1.
	Subscribers int

	// Size is the size of each message in bytes: the payload for Echo; for Broadcast, the
	// text of a chat message (MinBroadcastSize to MaxBroadcastSize) or a relay's payload
	// (MinRelaySize to MaxRelaySize). Zero means 64 for Broadcast.
	Size int
	// Binary makes Echo send binary messages rather than text. Over tcp:// messages have
	// no type, and count as binary.
	Binary bool
	// Compress negotiates permessage-deflate without context takeover, and compresses
	// every message (Echo, Broadcast), or only negotiates it (Connect). Not over tcp://.
	Compress bool

	// Duration is how long Echo and Broadcast send measured messages, after Warmup. Zero
	// means 10 seconds.
	Duration time.Duration
	// Warmup is how long Echo and Broadcast send messages before measuring; they are left
	// out of the result.
	Warmup time.Duration
	// Drain bounds the wait, once the measured window ends, for the replies or deliveries
	// of the messages still in flight; those still missing then are counted in flight. On a
	// schedule, messages due in the window that a slow server kept from being sent are
	// sent during the drain, late. Zero means 1 second.
	Drain time.Duration

	// Pipeline is how many messages each Echo connection keeps in flight. Zero means 1 in
	// a closed loop; with a Rate it bounds the messages in flight, a send waiting (and
	// becoming late) when the bound is reached, and zero means one second's worth, at
	// least 64.
	Pipeline int
	// Rate, when positive, is the schedule: messages a second over all connections (Echo,
	// which is a closed loop without it), messages a second published (Broadcast; zero
	// means 40), handshakes a second (Connect, which without it opens connections as fast
	// as it can, up to MaxDialing at once).
	Rate float64
	// Burst, for Broadcast, publishes the messages in bursts of Burst, each burst's
	// messages due at once and written together, Rate still being the messages a second:
	// a room where messages come in bunches, whose deliveries a server may write together.
	// Zero means 1.
	Burst int

	// Hold is how long Connect keeps its connections open, idle, once all are open.
	Hold time.Duration
	// DialTimeout bounds each opening handshake. Zero means 10 seconds.
	DialTimeout time.Duration

	// ServerPID, if not zero, is the process ID of the server, on this machine: its CPU
	// time over the measured window (Echo, Broadcast) or the opening (Connect) is read from
	// /proc, and for Connect its resident memory before the first handshake and at the end
	// of the hold. Only on Linux; elsewhere a run with ServerPID is an error.
	ServerPID int

	// Progress, if not nil, is called with the run's progress every ProgressInterval
	// (zero means 500 ms), from the goroutine that called the run.
	Progress         func(Progress)
	ProgressInterval time.Duration

	// limit, for benchmarks, stops each Echo connection after that many messages; zero
	// means no limit.
	limit int64
	// noEventLoop, for tests, serves every closed-loop Echo connection with a goroutine of
	// its own, as where there are no event loops.
	noEventLoop bool
	// dialControl, for tests, is the net.Dialer's Control of every connection.
	dialControl func(network, address string, c syscall.RawConn) error
}

// Limits and defaults of a Config.
const (
	// MinBroadcastSize is the smallest text Broadcast sends: the intended send time and
	// the sequence number, in hexadecimal.
	MinBroadcastSize = timestampLen
	// MaxBroadcastSize is the largest text duplex serve's chat relays.
	MaxBroadcastSize = 2000
	// MinRelaySize is the smallest message Broadcast sends to a relay: its intended send
	// time, 8 bytes.
	MinRelaySize = relayStampLen
	// MaxRelaySize is the largest message Broadcast sends to a relay.
	MaxRelaySize = 1 << 30
	// MaxDialing is how many handshakes are in progress at once when dialling without a
	// rate: Echo's and Broadcast's connections, and Connect's without a Rate.
	MaxDialing = 64
	// LateAfter is how far behind its intended time a send may start before it is counted
	// as late.
	LateAfter = time.Millisecond

	// The values of Config.Protocol.
	ProtocolChat  = "chat"
	ProtocolRelay = "relay"

	defaultDuration     = 10 * time.Second
	defaultDrain        = time.Second
	defaultDialTimeout  = 10 * time.Second
	defaultProgress     = 500 * time.Millisecond
	defaultBroadcast    = 64
	defaultRateBroad    = 40
	minOpenLoopPipeline = 64
	maxOpenLoopPipeline = 1 << 16
)

// Progress is a snapshot of a run, for a progress line.
type Progress struct {
	// Phase is what the run does: "dialing", "warmup", "measuring", "draining" (Echo,
	// Broadcast), "opening", "holding" (Connect) or "closing".
	Phase string
	// Elapsed is the time since the run started.
	Elapsed time.Duration
	// Messages counts the replies (Echo) or deliveries (Broadcast) so far, warm-up
	// included.
	Messages int64
	// Open is how many connections are open.
	Open int64
	// Errors counts the errors so far.
	Errors int64
}

// withDefaults returns c with its zero fields set to their defaults, or an error for a
// field that cannot work.
func (c Config) withDefaults(mode string) (Config, error) {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return c, fmt.Errorf("bench: %w", err)
	case u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "tcp" || u.Host == "":
		return c, fmt.Errorf("bench: %q is not a ws://, wss:// or tcp:// URL", c.URL)
	case u.Scheme == "tcp" && c.Compress:
		return c, errors.New("bench: tcp:// has no compression")
	case c.Connections < 0 || c.Subscribers < 0 || c.Size < 0 || c.Pipeline < 0 || c.Burst < 0:
		return c, errors.New("bench: Connections, Subscribers, Size, Pipeline and Burst must not be negative")
	case c.Duration < 0 || c.Warmup < 0 || c.Drain < 0 || c.Hold < 0 || c.DialTimeout < 0:
		return c, errors.New("bench: durations must not be negative")
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return c, errors.New("bench: Rate must be a positive number, or zero")
	case c.ServerPID < 0:
		return c, errors.New("bench: ServerPID must not be negative")
	}
	if c.ServerPID != 0 {
		if err := checkProcess(c.ServerPID); err != nil {
			return c, err
		}
	}
	if u.Scheme == "tcp" {
		c.Binary = true
		c.URL = u.String()
	} else if u.Path == "" || u.Path == "/" {
		u.Path = "/ws/echo"
		if mode == "broadcast" {
			u.Path = "/ws/chat"
		}
		c.URL = u.String()
	}
	c.Connections = max(c.Connections, 1)
	c.Subscribers = max(c.Subscribers, 1)
	if c.Duration == 0 {
		c.Duration = defaultDuration
	}
	if c.Drain == 0 {
		c.Drain = defaultDrain
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = defaultProgress
	}
	switch mode {
	case "echo":
		if c.Pipeline == 0 {
			c.Pipeline = 1
			if c.Rate > 0 {
				perConn := math.Ceil(c.Rate / float64(c.Connections))
				c.Pipeline = int(min(max(perConn, minOpenLoopPipeline), maxOpenLoopPipeline))
			}
		}
	case "broadcast":
		if c.Protocol, err = BroadcastProtocol(c.URL, c.Protocol); err != nil {
			return c, err
		}
		if c.Size == 0 {
			c.Size = defaultBroadcast
		}
		lo, hi := BroadcastSizes(c.Protocol)
		if c.Size < lo || c.Size > hi {
			return c, fmt.Errorf("bench: a %s broadcast's size must be %d to %d bytes, not %d", c.Protocol, lo, hi, c.Size)
		}
		if c.Rate == 0 {
			c.Rate = defaultRateBroad
		}
		if c.Burst == 0 {
			c.Burst = 1
		}
	}
	return c, nil
}

// BroadcastProtocol returns the protocol that Broadcast speaks to rawURL when
// Config.Protocol is protocol: protocol itself, or if it is empty the default for the
// URL's path. It is an error for protocol to be neither, or chat over tcp://.
func BroadcastProtocol(rawURL, protocol string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	switch protocol {
	case "":
		if u.Scheme != "tcp" && (u.Path == "" || u.Path == "/" || u.Path == "/ws/chat") {
			return ProtocolChat, nil
		}
		return ProtocolRelay, nil
	case ProtocolChat:
		if u.Scheme == "tcp" {
			return "", errors.New("bench: tcp:// has no chat: its broadcast is a relay")
		}
		return protocol, nil
	case ProtocolRelay:
		return protocol, nil
	}
	return "", fmt.Errorf("bench: unknown broadcast protocol %q: chat or relay", protocol)
}

// BroadcastSizes returns the smallest and the largest Size of a broadcast of protocol.
func BroadcastSizes(protocol string) (lo, hi int) {
	if protocol == ProtocolRelay {
		return MinRelaySize, MaxRelaySize
	}
	return MinBroadcastSize, MaxBroadcastSize
}

// tcp reports whether the run speaks rawtcp rather than WebSocket.
func (c *Config) tcp() bool { return strings.HasPrefix(c.URL, "tcp:") }

// dialOptions returns the options of the run's connections.
func (c *Config) dialOptions(subprotocols ...string) *ws.DialOptions {
	o := &ws.DialOptions{Subprotocols: subprotocols}
	o.CloseTimeout = c.Drain
	if int64(c.Size) > ws.DefaultReadLimit/2 {
		o.ReadLimit = 2*int64(c.Size) + 1<<10 // a chat message adds its envelope to the text
	}
	if c.Compress {
		o.Compression = ws.CompressionOptions{Mode: ws.CompressionNoContextTakeover, Threshold: -1}
	}
	if c.dialControl != nil {
		o.NetDialContext = (&net.Dialer{Control: c.dialControl}).DialContext
	}
	return o
}
