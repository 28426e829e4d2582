package bench

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// loops are the ways an Echo connection runs, for the allocation test and the benchmark:
// one goroutine writing a message and reading its reply; a writer and a reader keeping 16
// in flight; a writer on a schedule it can never keep, always sending late.
var loops = []struct {
	name string
	cfg  Config
}{
	{"closed", Config{}},
	{"pipeline=16", Config{Pipeline: 16}},
	{"open-loop", Config{Rate: 1e9, Pipeline: 16}},
}

// echoMessages runs one Echo connection of cfg for n messages of size bytes against the
// echo at url, and returns the result.
func echoMessages(tb testing.TB, url string, cfg Config, n int64, size int) *Result {
	tb.Helper()
	cfg.URL = url
	cfg.Connections = 1
	cfg.Size = size
	cfg.Binary = true
	cfg.Duration = time.Hour
	cfg.limit = n
	res, err := Echo(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if res.Received != n || res.Errored() != 0 {
		tb.Fatalf("%d replies of %d, errors %+v", res.Received, n, res.Errors)
	}
	return res
}

// TestBenchEchoLoopAllocs checks that a message costs the generator no allocation in steady
// state, nor the echo server (ws, with ReadAppend) that the test runs in the same process:
// the allocations of a run of 11000 messages and one of 1000 differ by less than one per
// hundred messages, for each loop.
func TestBenchEchoLoopAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers: allocations cannot be counted")
	}
	url := startEcho(t, nil)
	mallocs := func(cfg Config, n int64) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		echoMessages(t, url, cfg, n, 1024)
		runtime.ReadMemStats(&after)
		return after.Mallocs - before.Mallocs
	}
	for _, l := range loops {
		t.Run(l.name, func(t *testing.T) {
			mallocs(l.cfg, 100) // warms the pools
			short, long := mallocs(l.cfg, 1000), mallocs(l.cfg, 11000)
			perMessage := (float64(long) - float64(short)) / 10000
			t.Logf("%d allocations for 1000 messages, %d for 11000: %.4f per message", short, long, perMessage)
			if perMessage >= 0.01 {
				t.Errorf("%.4f allocations per message, want 0", perMessage)
			}
		})
	}
}

// BenchmarkEchoLoop measures the generator's loops against an echo server in the same
// process (ws, reading with ReadAppend): one operation is a 1 KiB message written, its
// reply read, checked and timed. allocs/op is 0 in steady state (what a run's dialling
// and setting up allocates, spread over b.N); client-µs/op is the process's CPU time per
// message, the server's included, from the run's own getrusage measurement.
func BenchmarkEchoLoop(b *testing.B) {
	url := startEcho(b, nil)
	for _, l := range loops {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(1024)
			res := echoMessages(b, url, l.cfg, int64(b.N), 1024)
			b.ReportMetric(res.ClientCPUPerOp, "cpu-µs/op")
		})
	}
}
