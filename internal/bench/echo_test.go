package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/server"
	"github.com/duplex-ws/duplex/ws"
)

// checkCounts checks what holds for every result: the messages sent in the measured
// window are received, lost or in flight; every reply received is in the latencies, whose
// percentiles are in order; the rates are of the window.
func checkCounts(t *testing.T, res *Result, receivers int64) {
	t.Helper()
	if got := res.Received + res.Lost + res.InFlight; res.Sent*receivers != got {
		t.Errorf("sent %d × %d receivers ≠ received %d + lost %d + in flight %d", res.Sent, receivers, res.Received, res.Lost, res.InFlight)
	}
	if res.Latency.Count != res.Received {
		t.Errorf("%d latencies for %d messages received", res.Latency.Count, res.Received)
	}
	checkPercentiles(t, res.Latency)
	if res.Duration > 0 {
		if want := float64(res.Received) / res.Duration; res.MessagesPerSecond != want {
			t.Errorf("msgs/s %v, want received/duration %v", res.MessagesPerSecond, want)
		}
		if want := float64(res.Bytes) / 1e6 / res.Duration; res.MBPerSecond != want {
			t.Errorf("MB/s %v, want bytes/duration %v", res.MBPerSecond, want)
		}
	}
	if runtime.GOOS == "linux" && res.Received > 0 && (res.ClientCPU <= 0 || res.ClientCPUPerOp <= 0) {
		t.Errorf("client CPU %v s, %v µs per message: want both measured", res.ClientCPU, res.ClientCPUPerOp)
	}
}

func checkPercentiles(t *testing.T, l Latency) {
	t.Helper()
	if l.Count == 0 {
		return
	}
	ps := []float64{l.Min, l.P50, l.P90, l.P99, l.P999, l.Max}
	for i := 1; i < len(ps); i++ {
		if ps[i] < ps[i-1] {
			t.Errorf("percentiles out of order: min, p50, p90, p99, p99.9, max = %v", ps)
			return
		}
	}
	if l.Max <= 0 || l.Mean < l.Min || l.Mean > l.Max {
		t.Errorf("latency %+v", l)
	}
}

// checkErrors checks the errors counted, by kind.
func checkErrors(t *testing.T, res *Result, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	for _, e := range res.Errors {
		got[e.Kind] = e.Count
		if e.First == "" {
			t.Errorf("no message for the %s errors", e.Kind)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("errors %v, want %v (%+v)", got, want, res.Errors)
	}
}

// TestBenchEcho runs the loops against duplex serve's echo: a closed loop with one message in
// flight (an event loop on Linux, a goroutine per connection elsewhere), a pipeline (a
// writer and a reader), with compression and binary messages, and checks that every count
// adds up.
func TestBenchEcho(t *testing.T) {
	base := startServer(t, unlimited())
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"closed", Config{Connections: 4, Size: 128}},
		{"pipeline", Config{Connections: 3, Size: 1000, Pipeline: 8, Binary: true}},
		{"compressed", Config{Connections: 2, Size: 4096, Pipeline: 2, Compress: true}},
		{"empty", Config{Connections: 1, Size: 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.URL = base // no path: /ws/echo
			cfg.Duration = 300 * time.Millisecond
			res := echoChecked(t, cfg, map[string]int64{})
			if res.URL != base+"/ws/echo" || res.Connected != int64(cfg.Connections) || res.Received == 0 {
				t.Errorf("%s: %d of %d connections, %d replies", res.URL, res.Connected, cfg.Connections, res.Received)
			}
			if res.Lost != 0 || res.InFlight != 0 || res.Late != 0 {
				t.Errorf("lost %d, in flight %d, late %d: want every reply, none late", res.Lost, res.InFlight, res.Late)
			}
			if res.Bytes != res.Received*int64(cfg.Size) {
				t.Errorf("%d bytes for %d replies of %d", res.Bytes, res.Received, cfg.Size)
			}
			if res.Duration != cfg.Duration.Seconds() {
				t.Errorf("measured %vs, want %v", res.Duration, cfg.Duration)
			}
			want := max(cfg.Pipeline, 1)
			if res.Pipeline != want || res.Rate != 0 || res.Binary != cfg.Binary || res.Compress != cfg.Compress {
				t.Errorf("result says pipeline %d, rate %v, binary %v, compress %v", res.Pipeline, res.Rate, res.Binary, res.Compress)
			}
		})
	}
}

// TestBenchEchoOpenLoop checks that a schedule is kept: the messages sent are the rate times
// the duration, whatever the connections, and the replies come at that rate.
func TestBenchEchoOpenLoop(t *testing.T) {
	base := startServer(t, unlimited())
	const rate, d = 400, 500 * time.Millisecond
	res, err := Echo(testContext(t), Config{URL: base, Connections: 3, Size: 64, Rate: rate, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, 1)
	checkErrors(t, res, map[string]int64{})
	want := rate * d.Seconds()
	if float64(res.Sent) < 0.8*want || float64(res.Sent) > 1.2*want {
		t.Errorf("sent %d messages in %v at %d/s, want %v ± 20%%", res.Sent, d, rate, want)
	}
	if res.MessagesPerSecond < 0.8*rate || res.MessagesPerSecond > 1.2*rate {
		t.Errorf("%v msgs/s, want %d ± 20%%", res.MessagesPerSecond, rate)
	}
	if res.Pipeline != 134 {
		t.Errorf("pipeline %d, want the default: a second's worth, 400/3", res.Pipeline)
	}
	t.Logf("%d sent, %d late, p50 %vµs", res.Sent, res.Late, res.Latency.P50)
}

// TestBenchEchoLate checks that a schedule the server cannot keep up with makes sends late,
// and that their latency counts from when they were due: a server that takes 10 ms a
// message, with 2 in flight at most, answers 100 a second of the 300 due.
func TestBenchEchoLate(t *testing.T) {
	url := startEcho(t, func(c *ws.Conn, typ ws.MessageType, msg []byte) error {
		time.Sleep(10 * time.Millisecond) // slowness, not synchronisation
		return c.Write(context.Background(), typ, msg)
	})
	res, err := Echo(testContext(t), Config{URL: url, Connections: 1, Size: 16, Rate: 300, Pipeline: 2, Duration: 300 * time.Millisecond, Drain: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, 1)
	checkErrors(t, res, map[string]int64{})
	if res.Late < res.Sent/2 {
		t.Errorf("%d of %d sends late, want most", res.Late, res.Sent)
	}
	// The last replies come some 200 ms after they were due, though each took about 10 ms.
	if res.Latency.Max < 100e3 {
		t.Errorf("max latency %vµs: the lateness is not counted", res.Latency.Max)
	}
	t.Logf("sent %d, received %d, late %d, in flight %d; p50 %vµs, max %vµs", res.Sent, res.Received, res.Late, res.InFlight, res.Latency.P50, res.Latency.Max)
}

// TestBenchEchoWarmup checks that the messages of the warm-up are left out: on a schedule,
// exactly those due in the measured window are counted.
func TestBenchEchoWarmup(t *testing.T) {
	base := startServer(t, unlimited())
	const rate = 500
	res, err := Echo(testContext(t), Config{URL: base, Connections: 2, Rate: rate, Warmup: 200 * time.Millisecond, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, 1)
	// 100 messages are due in the window, 200 with the warm-up.
	if res.Sent < 98 || res.Sent > 102 || res.Received != res.Sent {
		t.Errorf("sent %d, received %d: want the 100 due after the warm-up", res.Sent, res.Received)
	}
	if res.Warmup != 0.2 || res.Duration != 0.2 {
		t.Errorf("warm-up %vs, duration %vs", res.Warmup, res.Duration)
	}
}

// TestBenchEchoErrors checks that errors are counted by kind, once per connection.
func TestBenchEchoErrors(t *testing.T) {
	refusing := unlimited()
	refusing.MaxConnections = 2
	killing := unlimited()
	killing.RateLimit, killing.RateBurst = 10, 3
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return "ws://" + ln.Addr().String()
	}
	silent := func() string { // accepts TCP connections and never answers
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var conns []net.Conn
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
		t.Cleanup(func() {
			ln.Close()
			wg.Wait()
			for _, c := range conns {
				c.Close()
			}
		})
		return "ws://" + ln.Addr().String()
	}
	wrongSize := func() string {
		return startEcho(t, func(c *ws.Conn, typ ws.MessageType, msg []byte) error {
			return c.Write(context.Background(), typ, append(msg, 'x'))
		})
	}
	for _, tc := range []struct {
		name      string
		url       func() string
		cfg       Config
		want      map[string]int64
		connected int64
	}{
		{"refused", func() string { return startServer(t, refusing) }, Config{Connections: 4}, map[string]int64{kindHandshake: 2}, 2},
		{"killed", func() string { return startServer(t, killing) }, Config{Connections: 3, Pipeline: 2}, map[string]int64{kindClosed: 3}, 3},
		{"unreachable", closedPort, Config{Connections: 3}, map[string]int64{kindDial: 3}, 0},
		{"silent", silent, Config{Connections: 2, DialTimeout: 100 * time.Millisecond}, map[string]int64{kindTimeout: 2}, 0},
		{"mismatch", wrongSize, Config{Connections: 2}, map[string]int64{kindMismatch: 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.URL = tc.url()
			cfg.Size = 32
			cfg.Duration = 300 * time.Millisecond
			res, err := Echo(testContext(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, res, 1)
			checkErrors(t, res, tc.want)
			if res.Connected != tc.connected {
				t.Errorf("%d connections opened, want %d", res.Connected, tc.connected)
			}
			if tc.name == "killed" && (res.Lost+res.Received == 0 || res.InFlight != 0) {
				t.Errorf("received %d, lost %d, in flight %d: the killed connections' messages are lost", res.Received, res.Lost, res.InFlight)
			}
			if tc.name == "killed" && res.Errors[0].First == "" {
				t.Errorf("no message")
			}
		})
	}
}

// TestBenchEchoInterrupted checks that a run whose context ends stops at once, with the
// measurements so far: with a writer and a reader per connection, and in a closed loop
// (an event loop, on Linux, which the run wakes to let go of its connections).
func TestBenchEchoInterrupted(t *testing.T) {
	base := startServer(t, unlimited())
	for _, pipeline := range []int{4, 1} {
		t.Run(fmt.Sprint("pipeline=", pipeline), func(t *testing.T) {
			ctx, cancel := context.WithCancel(testContext(t))
			var once sync.Once
			res, err := Echo(ctx, Config{URL: base, Connections: 2, Pipeline: pipeline, Duration: time.Hour, ProgressInterval: 10 * time.Millisecond,
				Progress: func(p Progress) {
					if p.Phase == "measuring" && p.Messages > 100 {
						once.Do(cancel)
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Interrupted || res.Received == 0 || res.Duration <= 0 || res.Duration > 10 {
				t.Errorf("interrupted %v after %vs with %d replies", res.Interrupted, res.Duration, res.Received)
			}
			checkCounts(t, res, 1)
			checkErrors(t, res, map[string]int64{})
		})
	}
}

// TestBenchProgress checks the progress reports: phases in order, counts that only grow.
func TestBenchProgress(t *testing.T) {
	base := startServer(t, unlimited())
	var reports []Progress
	res, err := Echo(testContext(t), Config{URL: base, Connections: 2, Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond,
		ProgressInterval: 20 * time.Millisecond, Progress: func(p Progress) { reports = append(reports, p) }})
	if err != nil {
		t.Fatal(err)
	}
	phases := map[string]int{"dialing": 0, "warmup": 1, "measuring": 2, "draining": 3, "done": 4}
	for i, p := range reports {
		if _, ok := phases[p.Phase]; !ok {
			t.Fatalf("phase %q", p.Phase)
		}
		if i > 0 {
			q := reports[i-1]
			if phases[p.Phase] < phases[q.Phase] || p.Messages < q.Messages || p.Elapsed < q.Elapsed {
				t.Errorf("report %d %+v after %+v", i, p, q)
			}
		}
	}
	last := reports[len(reports)-1]
	if len(reports) < 5 || last.Phase != "done" || last.Messages < res.Received || last.Open != 0 || last.Errors != 0 {
		t.Errorf("%d reports, the last %+v (result: %d received)", len(reports), last, res.Received)
	}
}

// TestBenchConfigErrors checks that a Config that cannot work is an error.
func TestBenchConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "http://127.0.0.1:1/"},
		{URL: "ws://"},
		{URL: "ws://127.0.0.1:1", Connections: -1},
		{URL: "ws://127.0.0.1:1", Rate: -1},
		{URL: "ws://127.0.0.1:1", Duration: -1},
	} {
		if _, err := Echo(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	if _, err := Broadcast(context.Background(), Config{URL: "ws://127.0.0.1:1", Size: 10}); err == nil {
		t.Errorf("broadcast of 10 bytes: no error")
	}
}

func TestBenchClassify(t *testing.T) {
	for _, tc := range []struct {
		kind string
		err  error
		want string
	}{
		{kindRead, &ws.CloseError{Code: ws.StatusPolicyViolation}, kindClosed},
		{kindRead, fmt.Errorf("x: %w", &ws.CloseError{Code: ws.StatusAbnormalClosure}), kindRead},
		{kindRead, &ws.ProtocolError{Code: ws.StatusProtocolError}, kindProtocol},
		{kindDial, fmt.Errorf("x: %w", ws.ErrBadHandshake), kindHandshake},
		{kindDial, context.DeadlineExceeded, kindTimeout},
		{kindDial, errors.New("refused"), kindDial},
		{kindWrite, errors.New("broken pipe"), kindWrite},
		{kindMismatch, &ws.CloseError{Code: 1000}, kindMismatch},
	} {
		if got := classify(tc.kind, tc.err); got != tc.want {
			t.Errorf("classify(%s, %v) = %s, want %s", tc.kind, tc.err, got, tc.want)
		}
	}
}

var _ = server.Config{}
