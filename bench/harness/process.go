package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// build compiles the servers and duplex into dir, and returns the path of duplex.
func build(ctx context.Context, benchDir, dir string) (string, error) {
	servers := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "servers")+string(filepath.Separator), "./servers/...")
	servers.Dir = benchDir
	if out, err := servers.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./servers/...: %v\n%s", err, out)
	}
	duplex := filepath.Join(dir, "duplex")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", duplex, "./cmd/duplex")
	cmd.Dir = filepath.Dir(benchDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/duplex: %v\n%s", err, out)
	}
	return duplex, nil
}

// pinning runs commands on one CPU each with taskset, when it can.
type pinning struct {
	taskset string // its path; empty when commands run unpinned
}

// newPinning finds taskset, and checks that it can pin to CPUs 0 and 1.
func newPinning() (pinning, string) {
	path, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{}, "taskset (util-linux) not found: the servers and the generator ran unpinned, sharing the CPUs"
	}
	for _, cpu := range []string{"0", "1"} {
		if out, err := exec.Command(path, "-c", cpu, "true").CombinedOutput(); err != nil {
			return pinning{}, fmt.Sprintf("taskset -c %s failed (%v: %s): the servers and the generator ran unpinned", cpu, err, bytes.TrimSpace(out))
		}
	}
	return pinning{taskset: path}, ""
}

// command returns the command that runs name with args on cpu.
func (p pinning) command(ctx context.Context, cpu string, name string, args ...string) *exec.Cmd {
	if p.taskset == "" {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, p.taskset, append([]string{"-c", cpu, name}, args...)...)
}

// A server is a benchmark server running in a process of its own, pinned to CPU 0.
type server struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	done   chan error // the process's exit, once
}

// startServer runs the server bin, with compression if asked, and waits for its
// "listening on ADDR" line.
func startServer(ctx context.Context, pin pinning, name, bin string, compress bool) (*server, error) {
	args := []string{"-addr", "127.0.0.1:0"}
	if compress {
		args = append(args, "-compress", "no-takeover")
	}
	// The command is not tied to ctx: stop ends it, with a signal rather than a kill.
	cmd := pin.command(context.Background(), "0", bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &server{name: name, cmd: cmd, stderr: new(bytes.Buffer), done: make(chan error, 1)}
	cmd.Stderr = &limitedWriter{w: s.stderr, n: 64 << 10}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		lines <- line
		io.Copy(io.Discard, br) // a server that writes more must not block on a full pipe
		s.done <- cmd.Wait()
	}()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			s.stop()
			return nil, fmt.Errorf("%s: first line %q, not listening on ADDR; stderr: %s", name, line, s.stderr)
		}
		s.addr = addr
		return s, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	s.stop()
	return nil, fmt.Errorf("%s: no listening line: %s", name, s.stderr)
}

// pid returns the server's process ID: taskset execs the server in its own process.
func (s *server) pid() int { return s.cmd.Process.Pid }

// url returns the URL of the endpoint a scenario loads.
func (s *server) url(k kind) string {
	switch {
	case s.name == "rawtcp":
		return "tcp://" + s.addr
	case k == kindBroadcast:
		return "ws://" + s.addr + "/broadcast"
	}
	return "ws://" + s.addr + "/echo"
}

// stop ends the server with SIGTERM, or SIGKILL if it has not exited 5 seconds later.
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case err := <-s.done:
		return err
	case <-timer.C:
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("%s did not exit on SIGTERM: killed", s.name)
	}
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// benchResult is the part of duplex bench --json that the harness reads (the Result of
// internal/bench).
type benchResult struct {
	Mode              string  `json:"mode"`
	Connected         int64   `json:"connected"`
	Sent              int64   `json:"sent"`
	Received          int64   `json:"received"`
	Lost              int64   `json:"lost"`
	InFlight          int64   `json:"in_flight"`
	Late              int64   `json:"late"`
	Duration          float64 `json:"duration_s"`
	MessagesPerSecond float64 `json:"msgs_per_s"`
	HandshakesPerSec  float64 `json:"handshakes_per_s"`
	Held              int64   `json:"held"`
	Latency           struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_us"`
	ClientCPUPerOp   float64 `json:"client_cpu_us_per_op"`
	ServerCPU        float64 `json:"server_cpu_s"`
	ServerCPUPerOp   float64 `json:"server_cpu_us_per_op"`
	ServerSysPerOp   float64 `json:"server_sys_cpu_us_per_op"`
	ServerRSSBefore  int64   `json:"server_rss_before"`
	ServerRSSHeld    int64   `json:"server_rss_held"`
	ServerRSSPerConn float64 `json:"server_rss_per_conn"`
	Errors           []struct {
		Kind  string `json:"kind"`
		Count int64  `json:"count"`
		First string `json:"first"`
	} `json:"errors"`
}

// errorSummary returns the run's errors, lost and in-flight messages, or "".
func (r *benchResult) errorSummary() string {
	var parts []string
	for _, e := range r.Errors {
		parts = append(parts, fmt.Sprintf("%d %s (%s)", e.Count, e.Kind, e.First))
	}
	if r.Lost > 0 {
		parts = append(parts, fmt.Sprintf("%d lost", r.Lost))
	}
	if r.InFlight > 0 && r.Mode != "connect" {
		parts = append(parts, fmt.Sprintf("%d in flight at the end", r.InFlight))
	}
	return strings.Join(parts, ", ")
}

// runBench runs duplex bench, pinned to CPU 1, with args, the URL and the flags every run
// gets, and returns its result.
func runBench(ctx context.Context, pin pinning, duplex string, args []string, url string, pid int, o *options) (*benchResult, error) {
	full := append([]string{"bench", args[0], url}, args[1:]...)
	full = append(full, "--json", "--server-pid", strconv.Itoa(pid))
	if args[0] != "connect" {
		full = append(full, "--duration", o.duration.String(), "--warmup", o.warmup.String())
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration+o.warmup+2*time.Minute)
	defer cancel()
	cmd := pin.command(ctx, "1", duplex, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limitedWriter{w: &stderr, n: 64 << 10}
	err := cmd.Run()
	var res benchResult
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		if err == nil {
			err = jerr
		}
		return nil, fmt.Errorf("duplex %s: %v: %s%s", strings.Join(full, " "), err, stderr.Bytes(), stdout.Bytes())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return nil, err
	}
	return &res, nil // exit status 1, nothing measured, shows in the result
}

// raiseFileLimit raises the soft limit of open files to the hard limit, for this process
// and the processes it starts, and returns it.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	// Setting it explicitly also makes os/exec's children inherit it: Go raises the soft
	// limit of its own process at start, but restores the original one in children unless
	// the program sets the limit itself.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return lim.Cur, err
	}
	return lim.Cur, nil
}

// maxConnections returns the most connections a process can hold here, with fdSpare
// files beside: bounded by the open-file limit and by the local ports of 127.0.0.1 (every
// connection of the generator takes one), in hundreds.
func maxConnections(files uint64) int {
	n := int(min(files, 1<<20)) - fdSpare
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				n = min(n, hi-lo+1-fdSpare)
			}
		}
	}
	return max(n/100*100, 0)
}
