package bench

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestBenchTCPEcho runs Echo's loops over rawtcp, and checks that every count adds up and
// that the messages count as binary.
func TestBenchTCPEcho(t *testing.T) {
	url := startTCP(t, nil)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"closed", Config{Connections: 3, Size: 128}},
		{"pipeline", Config{Connections: 2, Size: 100 << 10, Pipeline: 4}}, // over tcpCopyMax: writev
		{"open-loop", Config{Connections: 2, Size: 16, Rate: 500}},
		{"empty", Config{Connections: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.URL = url
			cfg.Duration = 300 * time.Millisecond
			res := echoChecked(t, cfg, map[string]int64{})
			if res.URL != url || res.Connected != int64(cfg.Connections) || res.Received == 0 || !res.Binary {
				t.Errorf("%s: %d of %d connections, %d replies, binary %v", res.URL, res.Connected, cfg.Connections, res.Received, res.Binary)
			}
			if res.Lost != 0 || res.InFlight != 0 || res.Bytes != res.Received*int64(cfg.Size) {
				t.Errorf("lost %d, in flight %d, %d bytes in %d replies of %d", res.Lost, res.InFlight, res.Bytes, res.Received, cfg.Size)
			}
		})
	}
}

// TestBenchTCPErrors checks the errors of rawtcp: a reply of the wrong size, one longer
// than the run can expect, a server that is not there.
func TestBenchTCPErrors(t *testing.T) {
	longer := startTCP(t, func(msg []byte) []byte { return append(msg, 'x') })
	huge := startTCP(t, func([]byte) []byte { return make([]byte, 64<<10) })
	for _, tc := range []struct {
		name string
		url  string
		want map[string]int64
	}{
		{"mismatch", longer, map[string]int64{kindMismatch: 2}},
		{"too large", huge, map[string]int64{kindProtocol: 2}},
		{"unreachable", "tcp://127.0.0.1:1", map[string]int64{kindDial: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Echo(testContext(t), Config{URL: tc.url, Connections: 2, Size: 32, Duration: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, res, 1)
			checkErrors(t, res, tc.want)
		})
	}
}

// TestBenchBroadcastRelay checks Broadcast against plain relays, over WebSocket (with and
// without compression) and rawtcp: every subscriber receives every message, timed.
func TestBenchBroadcastRelay(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		cfg  Config
	}{
		{"ws", startRelay(t), Config{}},
		{"ws-compressed", startRelay(t), Config{Compress: true, Size: 1000}},
		{"ws-protocol-flag", startRelay(t), Config{Protocol: ProtocolRelay, Size: 8}},
		{"tcp", startTCP(t, nil), Config{Size: 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const subs, rate = 5, 200
			cfg := tc.cfg
			cfg.URL, cfg.Subscribers, cfg.Rate = tc.url, subs, rate
			cfg.Warmup, cfg.Duration = 100*time.Millisecond, 300*time.Millisecond
			res, err := Broadcast(testContext(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, res, subs)
			checkErrors(t, res, map[string]int64{})
			if res.Protocol != ProtocolRelay || res.Room != "" || res.Connected != subs || res.URL != tc.url {
				t.Errorf("protocol %q, room %q, %d joined, URL %s", res.Protocol, res.Room, res.Connected, res.URL)
			}
			if res.Sent < 58 || res.Sent > 62 || res.Received != subs*res.Sent || res.Lost != 0 || res.InFlight != 0 {
				t.Errorf("%d deliveries (lost %d, in flight %d) of %d messages to %d subscribers; want the 60 due after the warm-up", res.Received, res.Lost, res.InFlight, res.Sent, subs)
			}
			size := cfg.Size
			if size == 0 {
				size = defaultBroadcast
			}
			if res.Size != size || res.Bytes != res.Received*int64(size) {
				t.Errorf("size %d, %d bytes in %d deliveries", res.Size, res.Bytes, res.Received)
			}
		})
	}
}

// TestBenchConnectTCP checks that Connect opens, holds and closes rawtcp connections.
func TestBenchConnectTCP(t *testing.T) {
	res, err := Connect(testContext(t), Config{URL: startTCP(t, nil), Connections: 50, Hold: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkErrors(t, res, map[string]int64{})
	if res.Connected != 50 || res.Held != 50 || res.Latency.Count != 50 || res.HandshakesPerSecond <= 0 {
		t.Errorf("opened %d, held %d, %d latencies, %v/s", res.Connected, res.Held, res.Latency.Count, res.HandshakesPerSecond)
	}
}

// TestBenchServerPID checks that a run given the server's process, here the test's own,
// which serves it, reports that process's CPU time and, for Connect, its memory.
func TestBenchServerPID(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := Echo(context.Background(), Config{URL: "ws://127.0.0.1:1", ServerPID: os.Getpid()}); err == nil {
			t.Error("ServerPID: no error where there is no /proc")
		}
		t.Skip("reads /proc")
	}
	pid := os.Getpid()
	res, err := Echo(testContext(t), Config{URL: startEcho(t, nil), Connections: 2, Size: 1024, Duration: 300 * time.Millisecond, ServerPID: pid})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, 1)
	// The process is the server and the generator: the same CPU time, to /proc's ticks of
	// 10 ms, twice.
	if res.ServerPID != pid || res.ServerCPU <= 0 || res.ServerCPUPerOp <= 0 || res.ServerCPU < res.ClientCPU-0.021 || res.ServerCPU > res.ClientCPU+0.021 {
		t.Errorf("server %d: %vs, %vµs a message; client %vs, %vµs", res.ServerPID, res.ServerCPU, res.ServerCPUPerOp, res.ClientCPU, res.ClientCPUPerOp)
	}
	if res.ServerSysPerOp < 0 || res.ServerSysPerOp > res.ServerCPUPerOp {
		t.Errorf("server: %vµs a message in the kernel, of %vµs", res.ServerSysPerOp, res.ServerCPUPerOp)
	}

	res, err = Connect(testContext(t), Config{URL: startEcho(t, nil), Connections: 200, ServerPID: pid})
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerRSSBefore <= 0 || res.ServerRSSHeld <= 0 || res.ServerRSSPerConn != float64(res.ServerRSSHeld-res.ServerRSSBefore)/200 {
		t.Errorf("RSS %d before, %d held, %v per connection", res.ServerRSSBefore, res.ServerRSSHeld, res.ServerRSSPerConn)
	}

	if _, err := Echo(context.Background(), Config{URL: "ws://127.0.0.1:1", ServerPID: 1 << 30}); err == nil {
		t.Error("a process that does not exist: no error")
	}
}

// TestBenchBroadcastProtocol checks the protocol Broadcast speaks by default, by URL, and
// the sizes each allows.
func TestBenchBroadcastProtocol(t *testing.T) {
	for _, tc := range []struct {
		url, protocol, want string
	}{
		{"ws://h", "", ProtocolChat},
		{"ws://h/", "", ProtocolChat},
		{"ws://h/ws/chat?x=1", "", ProtocolChat},
		{"wss://h/broadcast", "", ProtocolRelay},
		{"tcp://h:1", "", ProtocolRelay},
		{"ws://h/broadcast", ProtocolChat, ProtocolChat},
		{"ws://h/ws/chat", ProtocolRelay, ProtocolRelay},
		{"tcp://h:1", ProtocolChat, ""},
		{"ws://h", "mqtt", ""},
	} {
		got, err := BroadcastProtocol(tc.url, tc.protocol)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("BroadcastProtocol(%q, %q) = %q, %v; want %q", tc.url, tc.protocol, got, err, tc.want)
		}
	}
	for _, cfg := range []Config{
		{URL: "ws://h/broadcast", Size: 7},
		{URL: "ws://h/ws/chat", Size: 3000},
		{URL: "tcp://h:1", Protocol: ProtocolChat},
		{URL: "tcp://h:1", Compress: true},
	} {
		if _, err := Broadcast(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}
