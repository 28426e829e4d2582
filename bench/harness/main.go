// Command harness runs the benchmarks of issue #6 and prints their tables in markdown:
// every scenario against every server of bench/servers, with one load generator,
// duplex bench.
//
// It builds the servers and duplex into a temporary directory, raises the soft limit of
// open files to the hard one (which the processes it starts inherit), and then, for each
// scenario, runs the servers in turn, A B C … once per round: each server in a process of
// its own pinned to CPU 0 (taskset -c 0), started afresh, and duplex bench pinned to CPU
// 1, given the server's process ID so that it reads the server's CPU time (and for
// connect its memory) from /proc over exactly its own measured window, warm-up left out.
// Each cell is reported as the median of the rounds with their range, and compared with
// the best competitor (the fastest, or least costly, of gorilla, coder, gws and gobwas)
// and with rawtcp. The targets are then checked cell by cell.
//
// bench/run runs it from bench/:
//
//	bench/run --quick
//	bench/run --duration 3s --out RESULTS.md
//	bench/run --only 'echo c=64' --servers duplex,gws,rawtcp
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// options are the harness's flags.
type options struct {
	rounds   int
	duration time.Duration
	warmup   time.Duration
	quick    bool
	only     *regexp.Regexp
	servers  []string
	out      string
	args     []string // as given, for the report
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: args}
	f := flag.NewFlagSet("bench/run", flag.ContinueOnError)
	f.SetOutput(stderr)
	f.IntVar(&o.rounds, "rounds", 3, "run every scenario `n` times, the servers interleaved A B C … each time")
	f.DurationVar(&o.duration, "duration", 5*time.Second, "measure each echo and broadcast run for `duration`")
	f.DurationVar(&o.warmup, "warmup", time.Second, "load each server for `duration` before measuring")
	f.BoolVar(&o.quick, "quick", false, "a quick check of everything: 1 round of 1s (0.3s warm-up), a smaller set of scenarios")
	only := f.String("only", "", "run only the scenarios whose name matches `regexp`, such as 'echo c=64' or 'broadcast|idle'")
	servers := f.String("servers", strings.Join(serverNames, ","), "run only these servers, a comma-separated `list`")
	f.StringVar(&o.out, "out", "", "also write the report, with the machine and the targets, to `file` (markdown)")
	f.Usage = func() {
		fmt.Fprint(stderr, "Usage: bench/run [flags]\n\nRun the benchmarks of issue #6 against bench/servers and print their tables.\n\nFlags:\n")
		f.PrintDefaults()
	}
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if f.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q", f.Arg(0))}
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if o.quick {
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["warmup"] {
			o.warmup = 300 * time.Millisecond
		}
	}
	if o.rounds < 1 || o.duration <= 0 || o.warmup < 0 {
		return nil, usageError{errors.New("--rounds and --duration must be positive, --warmup not negative")}
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return nil, usageError{fmt.Errorf("--only: %v", err)}
		}
		o.only = re
	}
	for _, s := range strings.Split(*servers, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(serverNames, s) {
			return nil, usageError{fmt.Errorf("--servers: unknown server %q: %s", s, strings.Join(serverNames, ", "))}
		}
		o.servers = append(o.servers, s)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	benchDir, err := findBenchDir()
	if err != nil {
		return err
	}
	var notes []string
	files, err := raiseFileLimit()
	if err != nil {
		notes = append(notes, fmt.Sprintf("could not raise the open-file limit: %v", err))
	}
	pin, pinNote := newPinning()
	if pinNote != "" {
		notes = append(notes, pinNote)
		fmt.Fprintf(stderr, "harness: %s\n", pinNote)
	}
	maxIdle := maxConnections(files)

	var scs []*scenario
	for _, sc := range scenarios(maxIdle) {
		if o.quick && !sc.quick || !o.quick && sc.quickOnly || o.only != nil && !o.only.MatchString(sc.name) {
			continue
		}
		scs = append(scs, sc)
	}
	if len(scs) == 0 {
		return usageError{errors.New("--only matches no scenario")}
	}
	res := newResults(scs, o.servers)
	runs := 0
	for _, sc := range scs {
		if uint64(sc.fds) > files {
			res.skipped[sc] = fmt.Sprintf("needs %d open files per process, the limit here is %d", sc.fds, files)
			continue
		}
		for _, s := range o.servers {
			if !(sc.compress && s == "rawtcp") {
				runs += o.rounds
			}
		}
	}
	fmt.Fprintf(stderr, "harness: %d scenarios, %d runs of about %v each\n", len(scs), runs, o.duration+o.warmup+time.Second)

	dir, err := os.MkdirTemp("", "duplex-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(stderr, "harness: building the servers and duplex into %s\n", dir)
	duplex, err := build(ctx, benchDir, dir)
	if err != nil {
		return err
	}
	goVersion := goVersion(ctx)
	tree := treeVersion(ctx, benchDir)

	started := time.Now()
	done := 0
	var runErr error
scenarios:
	for _, sc := range scs {
		if _, skip := res.skipped[sc]; skip {
			fmt.Fprintf(stderr, "harness: %s: skipped: %s\n", sc.name, res.skipped[sc])
			continue
		}
		for round := range o.rounds {
			for _, name := range o.servers {
				if sc.compress && name == "rawtcp" {
					continue // no compression
				}
				if ctx.Err() != nil {
					runErr = ctx.Err()
					break scenarios
				}
				r, err := runCell(ctx, pin, filepath.Join(dir, "servers", name), name, duplex, sc, o)
				done++
				if err != nil {
					if ctx.Err() != nil {
						runErr = ctx.Err()
						break scenarios
					}
					fmt.Fprintf(stderr, "harness: %s, round %d, %s: %v\n", sc.name, round+1, name, err)
					notes = append(notes, fmt.Sprintf("%s, round %d, %s failed: %v", sc.name, round+1, name, err))
					continue
				}
				res.add(sc, name, r, round)
				fmt.Fprintf(stderr, "[%d/%d %s] %s, round %d, %s: %s\n", done, runs, time.Since(started).Round(time.Second), sc.name, round+1, name, oneLine(sc, r))
			}
		}
		res.writeTable(stdout, sc)
	}

	var doc strings.Builder
	writeHeader(&doc, o, goVersion, tree, pin, files, maxIdle, time.Since(started))
	for _, sc := range scs {
		res.writeTable(&doc, sc)
	}
	doc.WriteString("## Targets\n\nEach target of the issue, cell by cell, on the medians.\n\n")
	res.writeTargets(&doc)
	if len(notes) > 0 {
		doc.WriteString("\n## Notes\n\n")
		for _, n := range notes {
			fmt.Fprintf(&doc, "- %s\n", n)
		}
	}
	fmt.Fprint(stdout, "## Targets\n\n")
	res.writeTargets(stdout)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(doc.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "harness: wrote %s\n", o.out)
	}
	return runErr
}

// runCell runs one server for one scenario: it starts the server, runs the warm-up (for
// connect) and the measured bench, and stops the server.
func runCell(ctx context.Context, pin pinning, bin, name, duplex string, sc *scenario, o *options) (*benchResult, error) {
	srv, err := startServer(ctx, pin, name, bin, sc.compress)
	if err != nil {
		return nil, err
	}
	url := srv.url(sc.kind)
	if sc.warmup != nil {
		if _, err := runBench(ctx, pin, duplex, sc.warmup, url, srv.pid(), o); err != nil {
			srv.stop()
			return nil, err
		}
	}
	r, err := runBench(ctx, pin, duplex, sc.bench, url, srv.pid(), o)
	if serr := srv.stop(); serr != nil && err == nil {
		var exit *exec.ExitError
		if !errors.As(serr, &exit) || exit.ExitCode() != 0 {
			err = fmt.Errorf("%s exited: %v: %s", name, serr, srv.stderr)
		}
	}
	return r, err
}

// oneLine summarises a run for the progress lines.
func oneLine(sc *scenario, r *benchResult) string {
	var s string
	switch sc.kind {
	case kindIdle:
		s = fmt.Sprintf("%d held, RSS +%.2f KiB/conn", r.Held, r.ServerRSSPerConn/1024)
	case kindHandshakes:
		s = fmt.Sprintf("%s handshakes/s, server %s µs/handshake", formatRate(r.HandshakesPerSec), formatMicros(r.ServerCPUPerOp))
	default:
		s = fmt.Sprintf("%s/s, p50 %s, server %s µs/%s, generator %s", formatRate(r.MessagesPerSecond), formatLatency(r.Latency.P50),
			formatMicros(r.ServerCPUPerOp), sc.unit(), formatMicros(r.ClientCPUPerOp))
	}
	if e := r.errorSummary(); e != "" {
		s += "; " + e
	}
	return s
}

// findBenchDir returns the directory of the bench module: the working directory, where
// bench/run starts the harness.
func findBenchDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	mod, err := os.ReadFile(filepath.Join(wd, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "module github.com/duplex-ws/duplex/bench\n") {
		return "", errors.New("run from the bench directory, as bench/run does")
	}
	return wd, nil
}

func goVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "version").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
}

// writeHeader writes the report's title and the machine it ran on.
func writeHeader(w io.Writer, o *options, goVersion, tree string, pin pinning, files uint64, maxIdle int, took time.Duration) {
	cpu, n := cpuModel()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(w, "# Benchmark results\n\n")
	fmt.Fprintf(w, "- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "- Tree: %s\n", tree)
	fmt.Fprintf(w, "- Go: %s\n", goVersion)
	fmt.Fprintf(w, "- CPU: %s, %d logical CPUs\n", cpu, n)
	fmt.Fprintf(w, "- Kernel: Linux %s\n", strings.TrimSpace(string(kernel)))
	fmt.Fprintf(w, "- Command: `bench/run %s` (%d round(s), %v measured after a %v warm-up per echo and broadcast run; took %v)\n",
		strings.Join(o.args, " "), o.rounds, o.duration, o.warmup, took.Round(time.Second))
	if pin.taskset != "" {
		fmt.Fprintf(w, "- Pinning: each server on CPU 0, duplex bench on CPU 1 (taskset); Go sets GOMAXPROCS to 1 in each\n")
	} else {
		fmt.Fprintf(w, "- Pinning: none (no taskset): servers and generator share the CPUs\n")
	}
	fmt.Fprintf(w, "- Open files: %d per process; the most connections held here: %d\n\n", files, maxIdle)
	fmt.Fprint(w, `Every cell runs the servers in turn, in a fresh process each, once per round; the
numbers are the median of the rounds, with their range (min–max) when there are several.
Server CPU is user and system time from /proc/PID/stat (10 ms ticks), read by duplex
bench at the start and the end of its measured window, per message echoed (per delivery,
per handshake); "of it, user" is the part outside the kernel (the server's code, its
library and Go's runtime), the rest being system calls and, on loopback, the TCP work a
sender does for its receiver too. "vs best" compares with the best of the competitors
(gorilla, coder, gws, gobwas): the lowest CPU, the highest rate; "vs rawtcp" with the
raw TCP baseline. Latencies are round trips (echo), from the intended send time to each
delivery (broadcast), or of handshakes; p50 and p99 are medians over the rounds.
"generator" is duplex bench's own CPU per operation, on its own CPU: where it nears the
time available (1 s/s ÷ the rate), the generator, not the server, bounds the rate, and
only the CPU columns compare the servers. Echo messages are binary (no UTF-8 check
anywhere).

`)
}

// treeVersion returns the commit of the working tree that was built, and whether it had
// changes, as git tells (read only).
func treeVersion(ctx context.Context, dir string) string {
	head, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown (no git)"
	}
	v := "commit " + strings.TrimSpace(string(head))
	if st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no", "..").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		v += ", with uncommitted changes"
	}
	return v
}

// cpuModel returns the model name of the first CPU in /proc/cpuinfo, and how many there are.
func cpuModel() (string, int) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH, runtime.NumCPU()
	}
	model := ""
	n := 0
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			n++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		}
	}
	return model, n
}
