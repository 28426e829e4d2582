package main

import (
	"strings"
	"testing"
)

func TestStatOf(t *testing.T) {
	for _, tc := range []struct {
		vals []float64
		want stat
	}{
		{nil, stat{}},
		{[]float64{3}, stat{3, 3, 3, 1}},
		{[]float64{5, 1, 3}, stat{3, 1, 5, 3}},
		{[]float64{4, 1, 3, 2}, stat{2.5, 1, 4, 4}},
	} {
		if got := statOf(tc.vals); got != tc.want {
			t.Errorf("statOf(%v) = %+v, want %+v", tc.vals, got, tc.want)
		}
	}
}

// TestReport checks a table and the targets on made-up runs: the medians, the ratios to
// the best competitor and to rawtcp, and the verdicts.
func TestReport(t *testing.T) {
	scs := scenarios(19900)
	var echo, idle *scenario
	for _, sc := range scs {
		switch sc.name {
		case "echo c=64 1KiB":
			echo = sc
		case "idle k=10000":
			idle = sc
		}
	}
	if echo == nil || idle == nil || scs[len(scs)-3].name != "handshakes" {
		t.Fatalf("scenarios: %+v", scs)
	}
	r := newResults([]*scenario{echo, idle}, serverNames)
	run := func(rate, cpu float64) *benchResult {
		res := &benchResult{Mode: "echo", MessagesPerSecond: rate, ServerCPUPerOp: cpu, ServerSysPerOp: 0.75 * cpu, ClientCPUPerOp: 1}
		res.Latency.P50, res.Latency.P99 = 500, 2000
		return res
	}
	for round, v := range []struct{ duplex, gws, raw float64 }{{100e3, 110e3, 150e3}, {120e3, 100e3, 160e3}, {110e3, 90e3, 155e3}} {
		r.add(echo, "duplex", run(v.duplex, 1e6/v.duplex), round)
		r.add(echo, "gws", run(v.gws, 1e6/v.gws), round)
		r.add(echo, "rawtcp", run(v.raw, 1e6/v.raw), round)
		r.add(idle, "duplex", &benchResult{Mode: "connect", Held: 10000, ServerRSSPerConn: 3 << 10}, round)
	}
	r.add(echo, "gorilla", &benchResult{Mode: "echo", MessagesPerSecond: 50e3, ServerCPUPerOp: 20, Lost: 3}, 0)

	var b strings.Builder
	r.writeTable(&b, echo)
	for _, want := range []string{
		"| server | msgs/s | p50 | p99 | server CPU µs/msg | of it, user | CPU vs best (gws) | CPU vs rawtcp | msgs/s vs best (gws) |",
		"| duplex | 110.0k (100.0k–120.0k) | 500 µs | 2 ms | 9.09 (8.33–10.00) | 2.27 | 0.91× | 1.41× | 1.10× | 0.71× | 1.00 |",
		"| gws | 100.0k (90.0k–110.0k) |",
		"- gorilla, round 1: 3 lost",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	r.writeTargets(&b)
	for _, want := range []string{
		"| Echo: server CPU per message ≤ the best competitor's, every C×S cell | echo c=64 1KiB | 9.09 µs/msg | 10.00 (gws) | 0.91× | MET |",
		"| Echo: server CPU per message ≤ 1.05× raw TCP's, S ≤ 1 KiB | echo c=64 1KiB | 9.09 µs/msg | 6.45 (rawtcp) | 1.41× | MISSED |",
		"| Idle memory ≤ 4 KiB per connection | idle k=10000 | 3.00 KiB/conn | 4.00 (target) | 0.75× | MET |",
		"- Echo: throughput ≥ every competitor's: **MET** (1 of 1 cells)",
		"- Echo: server CPU per message ≤ 1.05× raw TCP's, S ≤ 1 KiB: **MISSED** (met in 0 of 1 cells)",
		"- Broadcast: server CPU per delivery ≤ 0.8× the best competitor's, N = 1000 and 10000: not measured",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the targets lack %q:\n%s", want, b.String())
		}
	}
}
