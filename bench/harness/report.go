package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// cell is one server's runs of one scenario.
type cell struct {
	runs  []*benchResult
	notes []string // the errors of its runs, by round
}

// results are the runs of every scenario, by scenario and server.
type results struct {
	scenarios []*scenario
	servers   []string
	cells     map[*scenario]map[string]*cell
	skipped   map[*scenario]string // why a scenario did not run
}

func newResults(scs []*scenario, servers []string) *results {
	r := &results{scenarios: scs, servers: servers, cells: map[*scenario]map[string]*cell{}, skipped: map[*scenario]string{}}
	for _, sc := range scs {
		r.cells[sc] = map[string]*cell{}
	}
	return r
}

func (r *results) add(sc *scenario, server string, res *benchResult, round int) {
	c := r.cells[sc][server]
	if c == nil {
		c = &cell{}
		r.cells[sc][server] = c
	}
	c.runs = append(c.runs, res)
	if s := res.errorSummary(); s != "" {
		c.notes = append(c.notes, fmt.Sprintf("round %d: %s", round+1, s))
	}
}

// stat is a median with the range of the values it is of.
type stat struct {
	med, lo, hi float64
	n           int
}

func statOf(vals []float64) stat {
	if len(vals) == 0 {
		return stat{}
	}
	v := slices.Clone(vals)
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return stat{med: med, lo: v[0], hi: v[len(v)-1], n: len(v)}
}

// metric reads one number of a run.
type metric func(*benchResult) float64

func throughput(r *benchResult) float64 {
	if r.Mode == "connect" {
		return r.HandshakesPerSec
	}
	return r.MessagesPerSecond
}

func serverCPU(r *benchResult) float64 { return r.ServerCPUPerOp }
func clientCPU(r *benchResult) float64 { return r.ClientCPUPerOp }
func p50(r *benchResult) float64       { return r.Latency.P50 }
func p99(r *benchResult) float64       { return r.Latency.P99 }
func rssPerConn(r *benchResult) float64 {
	return r.ServerRSSPerConn / 1024
}
func rssBefore(r *benchResult) float64 { return float64(r.ServerRSSBefore) / (1 << 20) }
func held(r *benchResult) float64      { return float64(r.Held) }

// serverUser is the server's CPU outside the kernel.
func serverUser(r *benchResult) float64 { return max(r.ServerCPUPerOp-r.ServerSysPerOp, 0) }

// stat returns the metric over the server's runs of sc; n is zero if it has none.
func (r *results) stat(sc *scenario, server string, m metric) stat {
	c := r.cells[sc][server]
	if c == nil {
		return stat{}
	}
	vals := make([]float64, 0, len(c.runs))
	for _, run := range c.runs {
		vals = append(vals, m(run))
	}
	return statOf(vals)
}

// best returns the competitor with the lowest (or, if highest, the highest) median of the
// metric, and that median; "" if none ran.
func (r *results) best(sc *scenario, m metric, highest bool) (string, float64) {
	name, v := "", 0.0
	for _, s := range r.servers {
		if !competitor(s) {
			continue
		}
		st := r.stat(sc, s, m)
		if st.n == 0 || st.med <= 0 {
			continue
		}
		if name == "" || highest && st.med > v || !highest && st.med < v {
			name, v = s, st.med
		}
	}
	return name, v
}

// unit returns what a scenario's operation is called.
func (sc *scenario) unit() string {
	switch sc.kind {
	case kindBroadcast:
		return "delivery"
	case kindHandshakes:
		return "handshake"
	}
	return "msg"
}

// writeTable writes the scenario's table in markdown.
func (r *results) writeTable(w io.Writer, sc *scenario) {
	fmt.Fprintf(w, "### %s\n\n%s.\n\n", sc.name, sc.title)
	if why, ok := r.skipped[sc]; ok {
		fmt.Fprintf(w, "Skipped: %s.\n\n", why)
		return
	}
	if sc.kind == kindIdle {
		r.writeIdleTable(w, sc)
	} else {
		r.writeLoadTable(w, sc)
	}
	for _, s := range r.servers {
		if c := r.cells[sc][s]; c != nil {
			for _, n := range c.notes {
				fmt.Fprintf(w, "- %s, %s\n", s, n)
			}
		}
	}
	fmt.Fprintln(w)
}

func (r *results) writeLoadTable(w io.Writer, sc *scenario) {
	rateName := map[kind]string{kindEcho: "msgs/s", kindBroadcast: "deliveries/s", kindHandshakes: "handshakes/s"}[sc.kind]
	unit := sc.unit()
	bestCPUName, bestCPU := r.best(sc, serverCPU, false)
	bestRateName, bestRate := r.best(sc, throughput, true)
	rawCPU, rawRate := r.stat(sc, "rawtcp", serverCPU), r.stat(sc, "rawtcp", throughput)
	fmt.Fprintf(w, "| server | %s | p50 | p99 | server CPU µs/%s | of it, user | CPU vs best (%s) | CPU vs rawtcp | %s vs best (%s) | %s vs rawtcp | generator µs/%s |\n",
		rateName, unit, orNone(bestCPUName), rateName, orNone(bestRateName), rateName, unit)
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	bound := false
	for _, s := range r.servers {
		rate := r.stat(sc, s, throughput)
		if rate.n == 0 {
			continue
		}
		cpu := r.stat(sc, s, serverCPU)
		mark := ""
		if r.generatorBound(sc, s) {
			mark, bound = " †", true
		}
		fmt.Fprintf(w, "| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s,
			withRange(rate, formatRate), mark, formatLatency(r.stat(sc, s, p50).med), formatLatency(r.stat(sc, s, p99).med),
			withRange(cpu, formatMicros), formatMicros(r.stat(sc, s, serverUser).med), ratio(cpu.med, bestCPU), ratio(cpu.med, rawCPU.med),
			ratio(rate.med, bestRate), ratio(rate.med, rawRate.med), formatMicros(r.stat(sc, s, clientCPU).med))
	}
	if bound {
		fmt.Fprintf(w, "\n† The generator was busy %.0f%% of the time or more: the rate is as much its limit as the server's.\n", 100*generatorBusy)
	}
}

// generatorBusy is the share of its CPU past which the generator is taken to bound a
// rate (its CPU per operation times the rate, from the medians).
const generatorBusy = 0.85

// generatorBound reports whether the generator bounded the server's rate in sc.
func (r *results) generatorBound(sc *scenario, server string) bool {
	if sc.kind == kindBroadcast {
		return false // a fixed rate
	}
	return r.stat(sc, server, clientCPU).med*r.stat(sc, server, throughput).med/1e6 >= generatorBusy
}

func (r *results) writeIdleTable(w io.Writer, sc *scenario) {
	bestName, best := r.best(sc, rssPerConn, false)
	raw := r.stat(sc, "rawtcp", rssPerConn)
	fmt.Fprintf(w, "| server | held | RSS before | RSS growth KiB/conn | vs best (%s) | vs rawtcp |\n", orNone(bestName))
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|")
	for _, s := range r.servers {
		st := r.stat(sc, s, rssPerConn)
		if st.n == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %.0f | %.1f MiB | %s | %s | %s |\n", s, r.stat(sc, s, held).med, r.stat(sc, s, rssBefore).med,
			withRange(st, func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }), ratio(st.med, best), ratio(st.med, raw.med))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// withRange formats a median, and the range when there are several values.
func withRange(s stat, f func(float64) string) string {
	if s.n < 2 {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), f(s.lo), f(s.hi))
}

func ratio(v, ref float64) string {
	if v <= 0 || ref <= 0 {
		return "–"
	}
	return strconv.FormatFloat(v/ref, 'f', 2, 64) + "×"
}

func formatRate(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func formatMicros(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// formatLatency formats microseconds.
func formatLatency(us float64) string {
	switch {
	case us >= 1e6:
		return strconv.FormatFloat(us/1e6, 'f', 2, 64) + " s"
	case us >= 1e3:
		return strconv.FormatFloat(us/1e3, 'g', 3, 64) + " ms"
	}
	return strconv.FormatFloat(us, 'g', 3, 64) + " µs"
}

// A target of the issue, checked cell by cell on the medians.
type target struct {
	name  string
	kinds []kind
	cells func(sc *scenario) bool
	// check returns Duplex's value, the reference's, the reference's name, the ratio and
	// whether the target is met; ok false when the cell cannot be judged.
	check func(r *results, sc *scenario) (v, ref float64, refName string, rat float64, met, ok bool)
	unit  string
}

// against returns a check of the metric of duplex against the best competitor (or
// rawtcp), met when the ratio is at most limit (at least, if higher).
func against(m metric, rawtcp, higher bool, limit float64) func(*results, *scenario) (float64, float64, string, float64, bool, bool) {
	return func(r *results, sc *scenario) (float64, float64, string, float64, bool, bool) {
		d := r.stat(sc, "duplex", m)
		refName, ref := "rawtcp", r.stat(sc, "rawtcp", m).med
		if !rawtcp {
			refName, ref = r.best(sc, m, higher)
		}
		if d.n == 0 || d.med <= 0 || ref <= 0 {
			return 0, 0, "", 0, false, false
		}
		rat := d.med / ref
		met := rat <= limit
		if higher {
			met = rat >= limit
		}
		return d.med, ref, refName, rat, met, true
	}
}

func targets() []target {
	cxs := func(sc *scenario) bool {
		return strings.HasPrefix(sc.name, "echo c=") && !strings.HasSuffix(sc.name, "MiB")
	}
	small := func(sc *scenario) bool { return cxs(sc) && !strings.HasSuffix(sc.name, "64KiB") }
	large := func(sc *scenario) bool {
		return strings.HasPrefix(sc.name, "echo c=") && (strings.HasSuffix(sc.name, "64KiB") || strings.HasSuffix(sc.name, "MiB")) ||
			strings.HasPrefix(sc.name, "pipelined")
	}
	echo := func(sc *scenario) bool { return sc.kind == kindEcho && !sc.compress }
	return []target{
		{name: "Echo: server CPU per message ≤ the best competitor's, every C×S cell", cells: cxs,
			check: against(serverCPU, false, false, 1), unit: "µs/msg"},
		{name: "Echo: server CPU per message ≤ 1.05× raw TCP's, S ≤ 1 KiB", cells: small,
			check: against(serverCPU, true, false, 1.05), unit: "µs/msg"},
		{name: "Echo: server CPU per message ≤ 0.85× the best competitor's, S ≥ 64 KiB and pipelined", cells: large,
			check: against(serverCPU, false, false, 0.85), unit: "µs/msg"},
		{name: "Echo: throughput ≥ every competitor's", cells: echo,
			check: against(throughput, false, true, 1), unit: "msgs/s"},
		{name: "Broadcast: server CPU per delivery ≤ 0.8× the best competitor's, N = 1000 and 10000",
			cells: func(sc *scenario) bool { return sc.kind == kindBroadcast && sc.name != "broadcast n=100" },
			check: against(serverCPU, false, false, 0.8), unit: "µs/delivery"},
		{name: "Idle memory ≤ 4 KiB per connection", cells: func(sc *scenario) bool { return sc.kind == kindIdle },
			check: func(r *results, sc *scenario) (float64, float64, string, float64, bool, bool) {
				d := r.stat(sc, "duplex", rssPerConn)
				if d.n == 0 {
					return 0, 0, "", 0, false, false
				}
				return d.med, 4, "target", d.med / 4, d.med <= 4, true
			}, unit: "KiB/conn"},
		{name: "1 MiB echo no slower than raw TCP", cells: func(sc *scenario) bool { return sc.name == "echo c=4 1MiB" },
			check: against(throughput, true, true, 1), unit: "msgs/s"},
		{name: "Deflate echo: msgs/s ≥ 1.3× the fastest competitor's, same mode", cells: func(sc *scenario) bool { return sc.compress },
			check: against(throughput, false, true, 1.3), unit: "msgs/s"},
	}
}

// writeTargets writes the targets, each with its cells and a verdict.
func (r *results) writeTargets(w io.Writer) {
	fmt.Fprintln(w, "| target | cell | Duplex | reference | ratio | |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|---|")
	var summary []string
	for _, t := range targets() {
		met, judged := 0, 0
		for _, sc := range r.scenarios {
			if !t.cells(sc) {
				continue
			}
			v, ref, refName, rat, ok, judgeable := t.check(r, sc)
			if !judgeable {
				continue
			}
			judged++
			verdict := "MISSED"
			if ok {
				met++
				verdict = "MET"
			}
			if t.unit == "msgs/s" && (r.generatorBound(sc, "duplex") || refName != "" && r.generatorBound(sc, refName)) {
				verdict += " (generator-bound †)"
			}
			f := formatMicros
			if t.unit == "msgs/s" {
				f = formatRate
			}
			fmt.Fprintf(w, "| %s | %s | %s %s | %s (%s) | %s | %s |\n", t.name, sc.name, f(v), t.unit, f(ref), refName,
				strconv.FormatFloat(rat, 'f', 2, 64)+"×", verdict)
		}
		switch {
		case judged == 0:
			summary = append(summary, fmt.Sprintf("- %s: not measured", t.name))
		case met == judged:
			summary = append(summary, fmt.Sprintf("- %s: **MET** (%d of %d cells)", t.name, met, judged))
		default:
			summary = append(summary, fmt.Sprintf("- %s: **MISSED** (met in %d of %d cells)", t.name, met, judged))
		}
	}
	fmt.Fprintf(w, "\n%s\n", strings.Join(summary, "\n"))
}
