package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// loops are the ways an Echo connection runs, for the allocation test and the benchmark:
// a closed loop, served by an event loop (on Linux) or by a goroutine that writes a
// message and reads its reply; a writer and a reader keeping 16 in flight; a writer on a
// schedule it can never keep, always sending late.
var loops = []struct {
	name string
	cfg  Config
}{
	{"closed", Config{}},
	{"closed-goroutine", Config{noEventLoop: true}},
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

// echoServers returns the echo servers of the allocation test and the benchmark, run in
// the test's process: ws reading with ReadAppend, and rawtcp.
func echoServers(tb testing.TB) []struct{ name, url string } {
	return []struct{ name, url string }{{"ws", startEcho(tb, nil)}, {"tcp", startTCP(tb, nil)}}
}

// TestBenchEchoLoopAllocs checks that a message costs the generator no allocation in steady
// state, nor the echo server that the test runs in the same process, over WebSocket and
// over rawtcp: the allocations of a run of 11000 messages and one of 1000 differ by less
// than one per hundred messages, for each loop, and for messages that rawtcp writes with
// writev.
func TestBenchEchoLoopAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers: allocations cannot be counted")
	}
	for _, srv := range echoServers(t) {
		for _, l := range loops {
			for _, size := range []int{1024, tcpCopyMax + 1} {
				if size > tcpCopyMax && (srv.name != "tcp" || l.name != "closed-goroutine") {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%d", srv.name, l.name, size), func(t *testing.T) {
					mallocs := func(n int64) uint64 {
						var before, after runtime.MemStats
						runtime.ReadMemStats(&before)
						echoMessages(t, srv.url, l.cfg, n, size)
						runtime.ReadMemStats(&after)
						return after.Mallocs - before.Mallocs
					}
					mallocs(100) // warms the pools
					short, long := mallocs(1000), mallocs(11000)
					perMessage := (float64(long) - float64(short)) / 10000
					t.Logf("%d allocations for 1000 messages, %d for 11000: %.4f per message", short, long, perMessage)
					if perMessage >= 0.01 {
						t.Errorf("%.4f allocations per message, want 0", perMessage)
					}
				})
			}
		}
	}
}

// BenchmarkEchoLoop measures the generator's loops against an echo server in the same
// process (ws, reading with ReadAppend; rawtcp): one operation is a 1 KiB message written, its
// reply read, checked and timed. allocs/op is 0 in steady state (what a run's dialling
// and setting up allocates, spread over b.N); client-µs/op is the process's CPU time per
// message, the server's included, from the run's own getrusage measurement.
func BenchmarkEchoLoop(b *testing.B) {
	for _, srv := range echoServers(b) {
		for _, l := range loops {
			b.Run(srv.name+"/"+l.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(1024)
				res := echoMessages(b, srv.url, l.cfg, int64(b.N), 1024)
				b.ReportMetric(res.ClientCPUPerOp, "cpu-µs/op")
			})
		}
	}
}
