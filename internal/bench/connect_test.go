package bench

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestBenchConnect checks that the connections open, on schedule or as fast as they can, are
// timed, held and closed.
func TestBenchConnect(t *testing.T) {
	base := startServer(t, unlimited())
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"rate", Config{Connections: 20, Rate: 200, Hold: 50 * time.Millisecond, ProgressInterval: 10 * time.Millisecond, Progress: func(Progress) {}}},
		{"unpaced", Config{Connections: 100, Compress: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.URL = base
			res, err := Connect(testContext(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkErrors(t, res, map[string]int64{})
			checkPercentiles(t, res.Latency)
			n := int64(cfg.Connections)
			if res.Connected != n || res.Held != n || res.Latency.Count != n || res.HandshakesPerSecond <= 0 {
				t.Errorf("opened %d, held %d, %d latencies, %v handshakes/s; want %d", res.Connected, res.Held, res.Latency.Count, res.HandshakesPerSecond, n)
			}
			if got := float64(res.Connected) / res.OpenTime; res.HandshakesPerSecond != got {
				t.Errorf("%v handshakes/s, want opened/open time %v", res.HandshakesPerSecond, got)
			}
			if cfg.Rate > 0 && (res.OpenTime < 0.09 || res.HandshakesPerSecond > 1.2*cfg.Rate) {
				t.Errorf("opened %d in %vs at %v/s: faster than %v/s", res.Connected, res.OpenTime, res.HandshakesPerSecond, cfg.Rate)
			}
			t.Logf("%d in %vs, %.0f/s, p50 %vµs, %v µs CPU each", res.Connected, res.OpenTime, res.HandshakesPerSecond, res.Latency.P50, res.ClientCPUPerOp)
		})
	}
}

// TestBenchConnectRefused checks that refused handshakes are counted, and the others held.
func TestBenchConnectRefused(t *testing.T) {
	cfg := unlimited()
	cfg.MaxConnections = 5
	base := startServer(t, cfg)
	res, err := Connect(testContext(t), Config{URL: base, Connections: 8, Rate: 500})
	if err != nil {
		t.Fatal(err)
	}
	checkErrors(t, res, map[string]int64{kindHandshake: 3})
	if res.Connected != 5 || res.Held != 5 || res.Latency.Count != 5 {
		t.Errorf("opened %d, held %d, %d latencies; want 5", res.Connected, res.Held, res.Latency.Count)
	}
}

// TestBenchConnectInterrupted checks that a run whose context ends while connections open
// stops, and closes those open.
func TestBenchConnectInterrupted(t *testing.T) {
	base := startServer(t, unlimited())
	ctx, cancel := context.WithCancel(testContext(t))
	var once sync.Once
	res, err := Connect(ctx, Config{URL: base, Connections: 1000, Rate: 100, Hold: time.Hour, ProgressInterval: 10 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Open >= 5 {
				once.Do(cancel)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Connected < 5 || res.Connected > 100 || res.Held != res.Connected {
		t.Errorf("interrupted %v with %d open, %d held", res.Interrupted, res.Connected, res.Held)
	}
	checkErrors(t, res, map[string]int64{})
}
