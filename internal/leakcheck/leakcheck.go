// Package leakcheck fails a test binary that leaves goroutines running.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// Main runs the tests and then waits, up to five seconds, for every goroutine the tests
// started to end. If some remain, it prints their stacks and exits with status 1.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := wait(5 * time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "leakcheck: %d goroutine(s) still running after the tests:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// Check fails t if goroutines started during the test are still running after it, waiting
// up to five seconds for them to end. Call it as defer leakcheck.Check(t)() at the
// start of a test; it must not run in parallel with other tests.
func Check(t testing.TB) func() {
	before := map[string]bool{}
	for _, g := range stacks() {
		before[firstLine(g)] = true
	}
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var leaked []string
			for _, g := range interesting() {
				if !before[firstLine(g)] {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("leakcheck: %d goroutine(s) leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func wait(timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		g := interesting()
		if len(g) == 0 || time.Now().After(deadline) {
			return g
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// interesting returns the stacks of the goroutines that are not the test runner's own or
// the runtime's.
func interesting() []string {
	var out []string
	for _, g := range stacks() {
		if !ignored(g) {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

func stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Split(strings.TrimSpace(string(buf)), "\n\n")
}

func firstLine(g string) string {
	line, _, _ := strings.Cut(g, "\n")
	return line
}

func ignored(g string) bool {
	body := g
	if _, rest, ok := strings.Cut(g, "\n"); ok {
		body = rest
	}
	switch {
	case strings.Contains(body, "leakcheck.stacks("),
		strings.Contains(body, "testing.(*M).Run("),
		strings.Contains(body, "testing.tRunner("),
		strings.Contains(body, "testing.runFuzzing"),
		strings.Contains(body, "testing.runFuzzTests"),
		strings.Contains(body, "os/signal.signal_recv"),
		strings.Contains(body, "runtime.ensureSigM"),
		// ws.Conn.WhenReadable's poller: one goroutine for the life of the process,
		// started by the first wait, like the runtime's own.
		strings.Contains(body, "duplex/ws.(*poller).run("),
		strings.HasPrefix(strings.TrimSpace(body), "runtime.goexit"):
		return true
	}
	return false
}
