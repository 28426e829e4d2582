package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a run measured. Its JSON form is duplex bench --json; durations are in
// seconds, latencies in microseconds. The fields a mode does not use are zero, and left
// out of the JSON.
type Result struct {
	Mode     string `json:"mode"`               // "echo", "broadcast" or "connect"
	URL      string `json:"url"`                //
	Protocol string `json:"protocol,omitempty"` // broadcast: "chat" or "relay"

	// The run as configured.
	Connections int     `json:"connections,omitempty"` // echo, connect: asked for
	Subscribers int     `json:"subscribers,omitempty"` // broadcast: asked for
	Room        string  `json:"room,omitempty"`        // broadcast: chat
	Size        int     `json:"size,omitempty"`        // bytes of payload (echo, relay broadcast) or text (chat)
	Binary      bool    `json:"binary,omitempty"`      // echo
	Compress    bool    `json:"compress,omitempty"`    //
	Pipeline    int     `json:"pipeline,omitempty"`    // echo: messages in flight per connection, at most
	Rate        float64 `json:"rate,omitempty"`        // per second; zero for a closed loop
	Burst       int     `json:"burst,omitempty"`       // broadcast: messages published together, if more than 1
	Warmup      float64 `json:"warmup_s"`              // seconds
	Hold        float64 `json:"hold_s,omitempty"`      // connect: seconds

	// Duration is how long the measured window lasted, in seconds: the configured duration
	// unless the run was interrupted or every connection failed (echo, broadcast).
	Duration float64 `json:"duration_s"`
	// Interrupted is set when the run's context ended before the run did.
	Interrupted bool `json:"interrupted,omitempty"`

	// Connected is how many connections opened: echo connections, broadcast subscribers
	// that joined, connect handshakes that succeeded.
	Connected int64 `json:"connected"`

	// Messages sent in the measured window (see the package documentation): Sent × the
	// receivers = Received + Lost + InFlight.
	Sent     int64 `json:"sent"`      // echo: messages; broadcast: messages published
	Received int64 `json:"received"`  // echo: replies; broadcast: deliveries
	Lost     int64 `json:"lost"`      // missing from connections that failed
	InFlight int64 `json:"in_flight"` // missing from the others when the drain ended
	Late     int64 `json:"late"`      // on a schedule: sends that started late
	Bytes    int64 `json:"bytes"`     // payload (echo) or text (broadcast) bytes received

	MessagesPerSecond float64 `json:"msgs_per_s"` // Received over Duration
	MBPerSecond       float64 `json:"mb_per_s"`   // Bytes over Duration, in 10⁶ bytes

	// Connect: how long the handshakes took, from the first's intended start to the last's
	// end, in seconds; handshakes a second; how many connections were still open when the
	// hold ended.
	OpenTime            float64 `json:"open_time_s,omitempty"`
	HandshakesPerSecond float64 `json:"handshakes_per_s,omitempty"`
	Held                int64   `json:"held,omitempty"`

	// Latency is of echo round trips, broadcast deliveries (from the intended send time)
	// or handshakes.
	Latency Latency `json:"latency_us"`

	// ClientCPU is the generator's CPU time, user and system, in seconds over the measured
	// window (echo, broadcast) or the opening (connect); ClientCPUPerOp the same per reply,
	// delivery or handshake, in microseconds. Both are zero where the platform cannot tell.
	ClientCPU      float64 `json:"client_cpu_s"`
	ClientCPUPerOp float64 `json:"client_cpu_us_per_op"`

	// ServerPID is the server's process ID, when the run was given it (Config.ServerPID).
	// ServerCPU and ServerCPUPerOp are then its CPU time over the same window as
	// ClientCPU's, from /proc, and ServerSysPerOp the part of ServerCPUPerOp spent in
	// the kernel (system time: system calls, and on loopback the peer's share of TCP,
	// which a loopback sender does); for connect, ServerRSSBefore and ServerRSSHeld are
	// its resident memory in bytes before the first handshake and at the end of the hold,
	// and ServerRSSPerConn their difference per connection held.
	ServerPID        int     `json:"server_pid,omitempty"`
	ServerCPU        float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPerOp   float64 `json:"server_cpu_us_per_op,omitempty"`
	ServerSysPerOp   float64 `json:"server_sys_cpu_us_per_op,omitempty"`
	ServerRSSBefore  int64   `json:"server_rss_before,omitempty"`
	ServerRSSHeld    int64   `json:"server_rss_held,omitempty"`
	ServerRSSPerConn float64 `json:"server_rss_per_conn,omitempty"`

	// Errors counts the errors by kind, most frequent first.
	Errors []ErrorCount `json:"errors"`

	looped int64 // echo: connections an event loop served, for tests
}

// newResult returns a Result with the fields every run fills from its configuration.
func (r *runner) newResult(mode string, measured int64, interrupted bool) *Result {
	return &Result{
		Mode:        mode,
		URL:         r.cfg.URL,
		Compress:    r.cfg.Compress,
		Warmup:      r.cfg.Warmup.Seconds(),
		Duration:    time.Duration(measured).Seconds(),
		Interrupted: interrupted,
		ServerPID:   r.cfg.ServerPID,
		Errors:      r.errs.list(),
	}
}

// cpu sets the CPU times the meter measured, per op of ops.
func (res *Result) cpu(m *cpuMeter, ops int64) {
	res.ClientCPU, res.ClientCPUPerOp = m.perOp(ops)
	res.ServerCPU, res.ServerCPUPerOp, res.ServerSysPerOp = m.serverPerOp(ops)
}

// rates sets the throughputs, of received messages over the measured window.
func (res *Result) rates(received int64) {
	if res.Duration > 0 {
		res.MessagesPerSecond = float64(received) / res.Duration
		res.MBPerSecond = float64(res.Bytes) / 1e6 / res.Duration
	}
}

// Errored returns the number of errors.
func (res *Result) Errored() int64 {
	var n int64
	for _, e := range res.Errors {
		n += e.Count
	}
	return n
}

// WriteTable writes the result as a table, for people.
func (res *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "duplex bench %s %s\n", res.Mode, res.URL)
	b.WriteString(res.describe())
	if res.Interrupted {
		b.WriteString("  interrupted: the numbers are of the run until then\n")
	}
	t := &table{b: &b}
	switch res.Mode {
	case "connect":
		t.section("handshakes", []string{"opened", "failed", "held", "time to open", "handshakes/s"},
			count(res.Connected), count(int64(res.Connections)-res.Connected), count(res.Held),
			seconds(res.OpenTime), rate(res.HandshakesPerSecond))
	case "broadcast":
		t.section("messages", []string{"published", "deliveries", "lost", "in flight", "late"},
			count(res.Sent), count(res.Received), count(res.Lost), count(res.InFlight), count(res.Late))
		t.section("throughput", []string{"deliveries/s", "MB/s"}, rate(res.MessagesPerSecond), mb(res.MBPerSecond))
	default:
		t.section("messages", []string{"sent", "received", "lost", "in flight", "late"},
			count(res.Sent), count(res.Received), count(res.Lost), count(res.InFlight), count(res.Late))
		t.section("throughput", []string{"msgs/s", "MB/s"}, rate(res.MessagesPerSecond), mb(res.MBPerSecond))
	}
	l := res.Latency
	if l.Count == 0 {
		t.line("latency", "none measured")
	} else {
		t.section("latency", []string{"p50", "p90", "p99", "p99.9", "max"},
			micros(l.P50), micros(l.P90), micros(l.P99), micros(l.P999), micros(l.Max))
	}
	op := map[string]string{"echo": "msg", "broadcast": "delivery", "connect": "handshake"}[res.Mode]
	if res.ClientCPUPerOp > 0 {
		t.line("client CPU", fmt.Sprintf("%s µs/%s (%s in all)", strconv.FormatFloat(res.ClientCPUPerOp, 'f', 2, 64), op, seconds(res.ClientCPU)))
	}
	if res.ServerCPUPerOp > 0 {
		t.line("server CPU", fmt.Sprintf("%s µs/%s, %s of it in the kernel (%s in all, process %d)", strconv.FormatFloat(res.ServerCPUPerOp, 'f', 2, 64), op,
			strconv.FormatFloat(res.ServerSysPerOp, 'f', 2, 64), seconds(res.ServerCPU), res.ServerPID))
	}
	if res.ServerRSSHeld > 0 {
		t.line("server RSS", fmt.Sprintf("%s before, %s held: %s per connection", kib(float64(res.ServerRSSBefore)), kib(float64(res.ServerRSSHeld)), kib(res.ServerRSSPerConn)))
	}
	if len(res.Errors) == 0 {
		t.line("errors", "none")
	} else {
		rows := make([][]string, len(res.Errors))
		for i, e := range res.Errors {
			rows[i] = []string{e.Kind, count(e.Count), e.First}
		}
		t.rows("errors", []string{"kind", "count", "first"}, rows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describe returns the lines under the title, which say what was run.
func (res *Result) describe() string {
	var b strings.Builder
	compress := ""
	if res.Compress {
		compress = ", compressed"
	}
	switch res.Mode {
	case "connect":
		fmt.Fprintf(&b, "  %s", plural(res.Connections, "connection"))
		if res.Rate > 0 {
			fmt.Fprintf(&b, " at %s handshakes/s", rate(res.Rate))
		} else {
			b.WriteString(" as fast as they open")
		}
		fmt.Fprintf(&b, "%s, held %s\n", compress, seconds(res.Hold))
		return b.String()
	case "broadcast":
		if res.Protocol == ProtocolRelay {
			fmt.Fprintf(&b, "  1 publisher, %s (%d joined) of a relay\n", plural(res.Subscribers, "subscriber"), res.Connected)
			fmt.Fprintf(&b, "  %d-byte binary messages at %s msgs/s%s%s\n", res.Size, rate(res.Rate), bursts(res.Burst), compress)
			break
		}
		fmt.Fprintf(&b, "  1 publisher, %s (%d joined) in room %s\n", plural(res.Subscribers, "subscriber"), res.Connected, res.Room)
		fmt.Fprintf(&b, "  %d-byte texts at %s msgs/s%s%s\n", res.Size, rate(res.Rate), bursts(res.Burst), compress)
	default:
		kind := "text"
		if res.Binary {
			kind = "binary"
		}
		fmt.Fprintf(&b, "  %s (%d open), %d-byte %s messages%s\n", plural(res.Connections, "connection"), res.Connected, res.Size, kind, compress)
		if res.Rate > 0 {
			fmt.Fprintf(&b, "  open loop at %s msgs/s, up to %d in flight per connection\n", rate(res.Rate), res.Pipeline)
		} else {
			fmt.Fprintf(&b, "  closed loop, %d in flight per connection\n", res.Pipeline)
		}
	}
	fmt.Fprintf(&b, "  measured %s", seconds(res.Duration))
	if res.Warmup > 0 {
		fmt.Fprintf(&b, " after a %s warm-up", seconds(res.Warmup))
	}
	b.WriteString("\n")
	return b.String()
}

// table lays out the sections of WriteTable: a label, then columns with their headings.
type table struct{ b *strings.Builder }

const labelWidth = 12

func (t *table) line(label, text string) {
	fmt.Fprintf(t.b, "\n  %-*s%s\n", labelWidth, label, text)
}

func (t *table) section(label string, heads []string, values ...string) {
	t.rows(label, heads, [][]string{values})
}

func (t *table) rows(label string, heads []string, rows [][]string) {
	t.b.WriteString("\n")
	tw := tabwriter.NewWriter(t.b, 0, 0, 3, ' ', tabwriter.TabIndent)
	fmt.Fprintf(tw, "  %-*s%s\n", labelWidth, label, strings.Join(heads, "\t"))
	for _, r := range rows {
		fmt.Fprintf(tw, "  %-*s%s\n", labelWidth, "", strings.Join(r, "\t"))
	}
	tw.Flush()
}

// The formats of the table's numbers.

// plural returns n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func count(n int64) string { return strconv.FormatInt(n, 10) }

func rate(r float64) string { return strconv.FormatFloat(r, 'f', 1, 64) }

func mb(r float64) string { return strconv.FormatFloat(r, 'f', 2, 64) }

// kib formats bytes in KiB, or MiB from 1 MiB on.
func kib(b float64) string {
	if b >= 1<<20 {
		return strconv.FormatFloat(b/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(b/(1<<10), 'f', 2, 64) + " KiB"
}

// seconds formats a duration in seconds, to the millisecond.
func seconds(s float64) string {
	return (time.Duration(math.Round(s*1e3)) * time.Millisecond).String()
}

// micros formats a latency in microseconds with three significant digits.
func micros(us float64) string {
	switch {
	case us < 10:
		return strconv.FormatFloat(us, 'f', 2, 64) + "µs"
	case us < 100:
		return strconv.FormatFloat(us, 'f', 1, 64) + "µs"
	case us < 1e3:
		return strconv.FormatFloat(us, 'f', 0, 64) + "µs"
	case us < 1e4:
		return strconv.FormatFloat(us/1e3, 'f', 2, 64) + "ms"
	case us < 1e5:
		return strconv.FormatFloat(us/1e3, 'f', 1, 64) + "ms"
	case us < 1e6:
		return strconv.FormatFloat(us/1e3, 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(us/1e6, 'f', 2, 64) + "s"
}

// bursts describes a broadcast's bursts, if its messages came in bursts.
func bursts(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" in bursts of %d", n)
}
