package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/internal/testenv"
	"github.com/duplex-ws/duplex/ws"
)

// TestMain runs the tests, or, when the test binary is started by TestSignal with
// DUPLEX_TEST_MAIN=1, the duplex command itself.
func TestMain(m *testing.M) {
	if os.Getenv("DUPLEX_TEST_MAIN") == "1" {
		main()
		return
	}
	leakcheck.Main(m)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var bannerURL = regexp.MustCompile(`Duplex is serving (http://[^/\s]+)/`)

// TestRun runs duplex serve through run on a free port, checks that it serves, and that
// cancelling its context (what SIGINT does) ends it with status 0.
func TestRun(t *testing.T) {
	ctx := testContext(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stdout := new(testenv.Buffer)
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(runCtx, []string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, strings.NewReader(""), stdout, &stderr)
	}()
	var base string
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for base == "" {
		select {
		case c := <-code:
			t.Fatalf("run ended with %d: %s", c, stderr.String())
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no URL printed")
		}
		if m := bannerURL.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("run returned %d, want 0; stderr: %s", c, stderr.String())
	}
}

// TestRunUsage checks the exit statuses of help and of a bad flag.
func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{[]string{"serve", "--help"}, 0},
		{[]string{}, 2},
		{[]string{"serve", "--max-connections", "many"}, 2},
		{[]string{"bench"}, 2},
	} {
		var out, errOut bytes.Buffer
		if got := run(context.Background(), tc.args, strings.NewReader(""), &out, &errOut); got != tc.code {
			t.Errorf("%q: exit %d, want %d; stderr %q", tc.args, got, tc.code, errOut.String())
		}
	}
}

// TestSignal runs the duplex command as a process, interrupts it with SIGINT while a
// chat member is connected, and checks that the member receives 1001 and the process
// exits with status 0.
func TestSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT for another process on Windows")
	}
	ctx := testContext(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "serve", "--addr", "127.0.0.1:0", "--log-level", "warn")
	// atexit_sleep_ms: a race-enabled binary otherwise waits a second before exiting.
	cmd.Env = append(os.Environ(), "DUPLEX_TEST_MAIN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()

	lines := bufio.NewScanner(stdout)
	var base string
	for base == "" && lines.Scan() {
		if m := bannerURL.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no URL printed; stderr: %s", stderr.String())
	}
	go io.Copy(io.Discard, stdout) // the rest, so the process never blocks writing it

	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/chat?name=ada", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil { // the welcome
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce *ws.CloseError
		if !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway {
			t.Errorf("the connection ended with %v, want 1001", err)
		}
		break
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("duplex exited with %v, want status 0; stderr: %s", err, stderr.String())
	}
}
