package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/duplex-ws/duplex/internal/bench"
)

// benchOptions are the flags of duplex bench echo, broadcast and connect; each benchmark
// defines those it reads.
type benchOptions struct {
	rawURL      string
	connections int
	subscribers int
	size        int64
	duration    time.Duration
	warmup      time.Duration
	pipeline    int
	rate        float64
	burst       int
	hold        time.Duration
	dialTimeout time.Duration
	compress    bool
	binary      bool
	json        bool
	protocol    string
	serverPID   int
}

// benchMode is a benchmark of duplex bench.
type benchMode struct {
	name    string
	summary string                              // one line, for duplex bench --help
	about   string                              // what it does, for its --help
	flags   func(o *benchOptions) *benchFlagSet // defines its flags
	check   func(o *benchOptions) error         // reports a flag that cannot work
	run     func(context.Context, bench.Config) (*bench.Result, error)
	none    string // the error when nothing was measured
}

// benchModes lists the benchmarks, in the order duplex bench --help shows them.
func benchModes() []benchMode {
	return []benchMode{
		{
			name:    "echo",
			summary: "round trips to an echo endpoint, in a closed loop or at a --rate",
			about: `Send messages over --connections connections to the echo endpoint at URL and time
each reply. In a closed loop (without --rate) each connection keeps --pipeline
messages in flight, sending the next as a reply arrives. With --rate the messages are
due at fixed times, spread over the connections, and each is timed from when it was
due, so a server (or generator) that falls behind shows in the latencies rather than
being sent less; sends that start over 1ms late are counted as late.`,
			flags: func(o *benchOptions) *benchFlagSet {
				f := newBenchFlagSet("bench echo")
				f.intVar(&o.connections, "connections", 10, "run `n` connections")
				f.alias("connections", "c")
				o.size = 64
				f.value(sizeValue{&o.size}, "size", "send messages of `size` bytes (or KiB, MiB)")
				f.alias("size", "s")
				benchTimeFlags(f, o)
				f.value(optionalInt{&o.pipeline}, "pipeline", "keep up to `n` messages in flight per connection: by default 1 in a closed loop, and a second's worth (at least 64) with --rate, where a send waits, becoming late, once n are in flight")
				f.float64Var(&o.rate, "rate", 0, "send `n` messages a second in all, on a schedule; 0 for a closed loop")
				f.boolVar(&o.binary, "binary", false, "send binary messages rather than text")
				f.boolVar(&o.compress, "compress", false, "negotiate permessage-deflate (no context takeover) and compress every message")
				benchCommonFlags(f, o)
				return f
			},
			check: func(o *benchOptions) error {
				switch {
				case o.connections < 1:
					return usageErrorf("--connections must be at least 1, not %d", o.connections)
				case o.pipeline < 0:
					return usageErrorf("--pipeline must be at least 1, not %d", o.pipeline)
				case o.size > 1<<30:
					return usageErrorf("--size must be at most 1GiB")
				}
				return benchCheckTimes(o, false)
			},
			run:  bench.Echo,
			none: "no reply was received",
		},
		{
			name:    "broadcast",
			summary: "one publisher, N subscribers: duplex serve's chat, or a plain relay",
			about: `Connect --subscribers subscribers and then a publisher, and publish --rate messages a
second. Each message carries the time it was due to be sent, on this process's
monotonic clock, and each delivery is timed from it. A subscriber should receive every
message: those missing are counted lost (when a connection failed) or in flight.

--protocol chat joins them to a new room of the duplex serve chat at URL (its /ws/chat),
publishing JSON chat messages whose text holds the time. --protocol relay speaks to a
plain relay, which sends every message to every connection (the publisher included):
binary messages of --size bytes whose first 8 hold the time, big-endian; the publisher
sends probes until each subscriber has received one, then publishes. The default is
chat for a URL whose path is /ws/chat (or none), relay for any other, and for tcp://.`,
			flags: func(o *benchOptions) *benchFlagSet {
				f := newBenchFlagSet("bench broadcast")
				f.intVar(&o.subscribers, "subscribers", 10, "join `n` subscribers to the room")
				f.alias("subscribers", "n")
				f.float64Var(&o.rate, "rate", 40, "publish `n` messages a second, on a schedule (duplex serve closes a connection that sends over 50 a second unless run with --rate-limit 0)")
				f.intVar(&o.burst, "burst", 1, "publish the messages in bursts of `n`, due together and written together, at --rate messages a second in all")
				o.size = 64
				f.value(sizeValue{&o.size}, "size", fmt.Sprintf("publish messages of `size` bytes: chat texts of %d to %d, relay messages of %d or more", bench.MinBroadcastSize, bench.MaxBroadcastSize, bench.MinRelaySize))
				f.alias("size", "s")
				f.stringVar(&o.protocol, "protocol", "", "speak `protocol`, chat or relay (see above); by default chat for /ws/chat, relay for other paths")
				benchTimeFlags(f, o)
				f.boolVar(&o.compress, "compress", false, "negotiate permessage-deflate (no context takeover) and compress every message")
				benchCommonFlags(f, o)
				return f
			},
			check: func(o *benchOptions) error {
				switch {
				case o.subscribers < 1:
					return usageErrorf("--subscribers must be at least 1, not %d", o.subscribers)
				case o.rate <= 0:
					return usageErrorf("--rate must be positive, not %v", o.rate)
				case o.burst < 1:
					return usageErrorf("--burst must be at least 1, not %d", o.burst)
				}
				protocol, err := bench.BroadcastProtocol(o.rawURL, o.protocol)
				if err != nil {
					return usageErrorf("--protocol: %v", strings.TrimPrefix(err.Error(), "bench: "))
				}
				if lo, hi := bench.BroadcastSizes(protocol); o.size < int64(lo) || o.size > int64(hi) {
					return usageErrorf("--size must be %d to %d bytes for %s, not %d", lo, hi, protocol, o.size)
				}
				return benchCheckTimes(o, false)
			},
			run:  bench.Broadcast,
			none: "no message was delivered",
		},
		{
			name:    "connect",
			summary: "handshakes a second and their latency, then hold the connections open",
			about: `Open --connections WebSocket connections to URL, at --rate handshakes a second (each
timed from when it was due) or as fast as they open, 64 at a time; then hold them open
and idle, answering pings, for --hold (time to measure the server's memory per
connection), and close them with 1000.`,
			flags: func(o *benchOptions) *benchFlagSet {
				f := newBenchFlagSet("bench connect")
				f.intVar(&o.connections, "connections", 100, "open `n` connections")
				f.alias("connections", "n")
				f.float64Var(&o.rate, "rate", 0, "start `n` handshakes a second, on a schedule; 0 for as fast as they open")
				f.durationVar(&o.hold, "hold", 0, "keep the connections open for `duration` once they are all open")
				f.boolVar(&o.compress, "compress", false, "negotiate permessage-deflate (no context takeover)")
				benchCommonFlags(f, o)
				return f
			},
			check: func(o *benchOptions) error {
				if o.connections < 1 {
					return usageErrorf("--connections must be at least 1, not %d", o.connections)
				}
				return benchCheckTimes(o, true)
			},
			run:  bench.Connect,
			none: "no connection opened",
		},
	}
}

// benchFlagSet is the flagSet of a benchmark, some of whose flags have one-letter aliases.
type benchFlagSet struct {
	*flagSet
	aliases map[string]string // by flag name
}

func newBenchFlagSet(name string) *benchFlagSet {
	return &benchFlagSet{flagSet: newFlagSet(name), aliases: map[string]string{}}
}

// alias defines -alias as another name of the flag --name, defined before.
func (f *benchFlagSet) alias(name, alias string) {
	f.fs.Var(f.fs.Lookup(name).Value, alias, "")
	f.aliases[name] = alias
}

// writeHelp writes the flags as flagSet.writeHelp does, with their aliases and their
// environment variables.
func (f *benchFlagSet) writeHelp(w io.Writer) {
	var b strings.Builder
	f.flagSet.writeHelp(&b)
	help := strings.ReplaceAll(b.String(), "[$DUPLEX_", "[$"+benchEnvPrefix)
	for name, alias := range f.aliases {
		help = strings.Replace(help, "\n  --"+name+" ", "\n  -"+alias+", --"+name+" ", 1)
		if strings.HasPrefix(help, "  --"+name+" ") {
			help = "  -" + alias + ", " + help[2:]
		}
	}
	io.WriteString(w, help)
}

// The flags that benchmarks share.

func benchTimeFlags(f *benchFlagSet, o *benchOptions) {
	f.durationVar(&o.duration, "duration", 10*time.Second, "measure for `duration`, after the warm-up")
	f.alias("duration", "d")
	f.durationVar(&o.warmup, "warmup", 0, "send for `duration` before measuring, and leave those messages out")
}

func benchCommonFlags(f *benchFlagSet, o *benchOptions) {
	f.durationVar(&o.dialTimeout, "dial-timeout", 10*time.Second, "count as a timeout a handshake that takes longer than `duration`")
	f.value(optionalInt{&o.serverPID}, "server-pid", "read the CPU time of the server, process `pid` on this machine, from /proc (Linux), and report it per message (per handshake for connect); for connect, its memory per connection too")
	f.boolVar(&o.json, "json", false, "print the result as JSON rather than a table")
}

func benchCheckTimes(o *benchOptions, connect bool) error {
	switch {
	case o.rate < 0:
		return usageErrorf("--rate must be positive, or 0, not %v", o.rate)
	case !connect && o.duration <= 0:
		return usageErrorf("--duration must be positive, not %v", o.duration)
	case o.warmup < 0:
		return usageErrorf("--warmup must be positive, or 0, not %v", o.warmup)
	case o.hold < 0:
		return usageErrorf("--hold must be positive, or 0, not %v", o.hold)
	case o.dialTimeout <= 0:
		return usageErrorf("--dial-timeout must be positive, not %v", o.dialTimeout)
	}
	return nil
}

// optionalInt is an int flag whose zero, its default, means a default that depends on
// other flags: the help shows none.
type optionalInt struct{ p *int }

func (v optionalInt) String() string {
	if v.p == nil || *v.p == 0 {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return errors.New("want a number, at least 1")
	}
	*v.p = n
	return nil
}

// benchEnvPrefix starts the environment variable of each flag of duplex bench, whose
// flags (--rate, --size) have a namespace of their own, as duplex connect's do.
const benchEnvPrefix = "DUPLEX_BENCH_"

func benchEnvName(flagName string) string {
	return benchEnvPrefix + strings.TrimPrefix(envName(flagName), "DUPLEX_")
}

func lookupBenchMode(name string) (benchMode, bool) {
	for _, m := range benchModes() {
		if m.name == name {
			return m, true
		}
	}
	return benchMode{}, false
}

// benchHelp writes duplex bench --help.
func benchHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(`Usage: duplex bench <benchmark> URL [flags]

Load a WebSocket server and measure it: messages or handshakes a second, latency
percentiles (p50 to p99.9 and max, from an HDR histogram), errors by kind, and the
generator's own CPU time per message, to show that it was not the bottleneck.

Benchmarks:
`)
	for _, m := range benchModes() {
		fmt.Fprintf(&b, "  %-10s %s\n", m.name, m.summary)
	}
	b.WriteString(`
URL is a ws:// or wss:// URL; one without a path means duplex serve's endpoint,
/ws/echo (/ws/chat for broadcast). duplex serve limits each connection to 50 messages
a second and each IP address to 100 connections: run it with --rate-limit 0
--max-connections-per-ip 0 to load it. A tcp://HOST:PORT URL speaks the raw TCP
protocol of bench/servers/rawtcp, the baseline without WebSocket: a first byte, E (echo,
connect) or B (broadcast), then messages of a 4-byte big-endian length and the payload.

With --server-pid, the server's CPU time over the measured window is read from /proc
and reported per message, as the generator's own is, with the part of it spent in the
kernel.

A progress line is shown while a benchmark runs, when the output is a terminal, and a
table at the end (--json: a JSON object). The exit status is 1 when nothing could be
measured, 2 for a mistake in the command line.

Run 'duplex bench <benchmark> --help' for its flags.
`)
	io.WriteString(w, b.String())
}

// help writes duplex bench NAME --help.
func (m benchMode) help(w io.Writer) {
	var o benchOptions
	f := m.flags(&o)
	fmt.Fprintf(w, "Usage: duplex bench %s URL [flags]\n\n%s\n\n", m.name, m.about)
	io.WriteString(w, "Flags (each may also be set by the environment variable shown; a flag wins):\n")
	f.writeHelp(w)
}

// parse parses the flags, the URL and the environment of the benchmark. Flags may come
// before and after the URL.
func (m benchMode) parse(args []string, lookupEnv func(string) (string, bool)) (benchOptions, error) {
	var o benchOptions
	f := m.flags(&o)
	for _, name := range f.order {
		v, ok := lookupEnv(benchEnvName(name))
		if !ok || v == "" {
			continue
		}
		if err := f.fs.Set(name, v); err != nil {
			return o, usageErrorf("invalid value %q for %s (--%s): %v", v, benchEnvName(name), name, err)
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
				return o, usageErrorf("no URL: give the server's, such as ws://localhost:8080")
			}
			return o, m.checkAll(&o)
		case o.rawURL != "":
			return o, usageErrorf("unexpected argument %q: bench %s takes one URL", f.fs.Arg(0), m.name)
		}
		o.rawURL, args = f.fs.Arg(0), f.fs.Args()[1:]
	}
}

// checkAll reports the first flag, or the URL, that cannot work.
func (m benchMode) checkAll(o *benchOptions) error {
	u, err := url.Parse(o.rawURL)
	switch {
	case err != nil:
		return usageErrorf("bad URL: %v", err)
	case u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "tcp":
		return usageErrorf("URL %q: the scheme must be ws, wss or tcp", o.rawURL)
	case u.Host == "":
		return usageErrorf("URL %q has no host", o.rawURL)
	case u.Scheme == "tcp" && o.compress:
		return usageErrorf("--compress: tcp:// has no compression")
	}
	return m.check(o)
}

// config returns the engine's Config for the options.
func (o *benchOptions) config() bench.Config {
	return bench.Config{
		URL:         o.rawURL,
		Connections: o.connections,
		Subscribers: o.subscribers,
		Size:        int(o.size),
		Binary:      o.binary,
		Compress:    o.compress,
		Duration:    o.duration,
		Warmup:      o.warmup,
		Pipeline:    o.pipeline,
		Rate:        o.rate,
		Burst:       o.burst,
		Hold:        o.hold,
		DialTimeout: o.dialTimeout,
		Protocol:    o.protocol,
		ServerPID:   o.serverPID,
	}
}

// runBench is duplex bench: it runs a benchmark until it is over or ctx ends, then
// prints its result.
func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("no benchmark: echo, broadcast or connect")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		benchHelp(e.stdout)
		return nil
	}
	m, ok := lookupBenchMode(args[0])
	if !ok {
		return usageErrorf("unknown benchmark %q: echo, broadcast or connect", args[0])
	}
	o, err := m.parse(args[1:], e.lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		m.help(e.stdout)
		return nil
	}
	if err != nil {
		return err
	}
	cfg := o.config()
	var line *benchProgress
	if benchTerminal(e.stdout) {
		line = &benchProgress{w: e.stdout, mode: m.name}
		cfg.Progress = line.show
	}
	res, err := m.run(ctx, cfg)
	line.clear()
	if err != nil {
		return err
	}
	if err := writeBenchResult(e.stdout, res, o.json); err != nil {
		return err
	}
	nothing := res.Received == 0
	if m.name == "connect" {
		nothing = res.Connected == 0
	}
	if nothing {
		return errors.New(m.none)
	}
	return nil
}

// writeBenchResult writes a result as a table, or as JSON.
func writeBenchResult(w io.Writer, res *bench.Result, asJSON bool) error {
	if !asJSON {
		return res.WriteTable(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// benchTerminal reports whether w is a terminal, where a progress line is shown. A test
// stands for one with a writer that has a method IsTerminal.
func benchTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// benchProgress is the progress line, rewritten in place.
type benchProgress struct {
	w            io.Writer
	mode         string
	width        int           // of the line shown
	lastElapsed  time.Duration // at the last report
	lastMessages int64
}

func (p *benchProgress) show(r bench.Progress) {
	var b strings.Builder
	fmt.Fprintf(&b, "%6.1fs  %-9s", r.Elapsed.Seconds(), r.Phase)
	if p.mode == "connect" {
		fmt.Fprintf(&b, "  %d open", r.Open)
	} else {
		rate := 0.0
		if d := r.Elapsed - p.lastElapsed; d > 0 {
			rate = float64(r.Messages-p.lastMessages) / d.Seconds()
		}
		unit := "msgs/s"
		if p.mode == "broadcast" {
			unit = "deliveries/s"
		}
		fmt.Fprintf(&b, "  %10.0f %s  %d open", rate, unit, r.Open)
	}
	fmt.Fprintf(&b, "  %d errors", r.Errors)
	p.lastElapsed, p.lastMessages = r.Elapsed, r.Messages
	line := b.String()
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// clear erases the line, if one was shown.
func (p *benchProgress) clear() {
	if p == nil || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
}
