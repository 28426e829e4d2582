package cli

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) { leakcheck.Main(m) }

// result is what a run of the command line left.
type result struct {
	err            error
	stdout, stderr string
}

// runArgs runs the command line with environment variables vars, to completion.
func runArgs(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &env{
		stdin:     strings.NewReader(""),
		stdout:    &stdout,
		stderr:    &stderr,
		lookupEnv: lookupIn(vars),
	})
	return result{err, stdout.String(), stderr.String()}
}

func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// TestHelp compares the help of duplex and duplex serve with testdata; go test -update
// rewrites the files.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"help.golden", []string{"--help"}},
		{"help.golden", []string{"-h"}},
		{"help.golden", []string{"help"}},
		{"serve-help.golden", []string{"serve", "--help"}},
		{"serve-help.golden", []string{"serve", "-h"}},
		{"serve-help.golden", []string{"help", "serve"}},
	} {
		// The help shows the defaults, whatever the environment says.
		r := runArgs(t, map[string]string{"DUPLEX_ADDR": "0.0.0.0:1"}, tc.args...)
		if r.err != nil || ExitCode(r.err) != 0 || r.stderr != "" {
			t.Errorf("%q: %v, exit %d, stderr %q", tc.args, r.err, ExitCode(r.err), r.stderr)
		}
		path := filepath.Join("testdata", tc.golden)
		if *update {
			if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.stdout != string(want) {
			t.Errorf("%q: the help differs from %s (go test -update rewrites it):\n%s", tc.args, path, r.stdout)
		}
	}
}

// TestUsageErrors checks that mistakes in the command line or the environment are
// reported clearly on stderr, with exit status 2, before anything is served.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{nil, []string{}, "Usage:"},
		{nil, []string{"nope"}, `unknown command "nope"`},
		{nil, []string{"serve", "--nope"}, "flag provided but not defined: -nope"},
		{nil, []string{"serve", "extra"}, `unexpected argument "extra"`},
		{nil, []string{"serve", "--queue-size", "abc"}, `invalid value "abc" for flag -queue-size`},
		{nil, []string{"serve", "--queue-size", "0"}, "--queue-size must be at least 1"},
		{nil, []string{"serve", "--rate-burst", "0"}, "--rate-burst must be at least 1"},
		{nil, []string{"serve", "--rate-limit", "-2"}, "--rate-limit must be 0 (no limit) or more"},
		{nil, []string{"serve", "--max-connections", "-1"}, "--max-connections must be 0 (no limit) or more"},
		{nil, []string{"serve", "--max-connections-per-ip", "-1"}, "--max-connections-per-ip must be 0"},
		{nil, []string{"serve", "--max-message-size", "1XB"}, "not a size"},
		{nil, []string{"serve", "--write-timeout", "0s"}, "--write-timeout must be positive"},
		{nil, []string{"serve", "--ping-interval", "-1s"}, "--ping-interval must be positive, or 0"},
		{nil, []string{"serve", "--pong-timeout", "0s"}, "--pong-timeout must be positive"},
		{nil, []string{"serve", "--shutdown-timeout", "ten"}, `invalid value "ten" for flag -shutdown-timeout`},
		{nil, []string{"serve", "--tls-cert", "cert.pem"}, "--tls-cert and --tls-key go together"},
		{nil, []string{"serve", "--tls-self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "exclude each other"},
		{nil, []string{"serve", "--tls-cert", "missing.pem", "--tls-key", "missing.pem"}, "loading the TLS certificate"},
		{nil, []string{"serve", "--log-format", "xml"}, `--log-format must be text or json, not "xml"`},
		{nil, []string{"serve", "--compression", "gzip"}, `--compression must be none, no-takeover or takeover, not "gzip"`},
		{nil, []string{"serve", "--log-level", "loud"}, `--log-level must be debug, info, warn or error, not "loud"`},
		{nil, []string{"serve", "--addr", "8080"}, `--addr "8080"`},
		{nil, []string{"serve", "--allow-origin", "[a-"}, "malformed origin pattern"},
		{map[string]string{"DUPLEX_QUEUE_SIZE": "abc"}, []string{"serve"}, `invalid value "abc" for DUPLEX_QUEUE_SIZE (--queue-size)`},
		{map[string]string{"DUPLEX_TLS_SELF_SIGNED": "maybe"}, []string{"serve"}, `invalid value "maybe" for DUPLEX_TLS_SELF_SIGNED`},
		{map[string]string{"DUPLEX_LOG_FORMAT": "xml"}, []string{"serve"}, "--log-format must be text or json"},
	} {
		r := runArgs(t, tc.vars, tc.args...)
		if code := ExitCode(r.err); code != 2 {
			t.Errorf("%q %v: exit %d (%v), want 2", tc.args, tc.vars, code, r.err)
		}
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q %v: stderr %q, want %q", tc.args, tc.vars, r.stderr, tc.want)
		}
		if len(tc.args) > 0 && tc.args[0] == "serve" && !strings.HasSuffix(r.stderr, "Run 'duplex serve --help' for usage.\n") {
			t.Errorf("%q: stderr %q does not point to the help", tc.args, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%q: stdout %q, want nothing", tc.args, r.stdout)
		}
	}
}

// TestListenError checks that an address in use is an error with exit status 1.
func TestListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := runArgs(t, nil, "serve", "--addr", ln.Addr().String())
	if code := ExitCode(r.err); code != 1 || !strings.Contains(r.stderr, "duplex serve: listen tcp") {
		t.Errorf("exit %d, stderr %q; want 1 and the listen error", code, r.stderr)
	}
}

// TestEnv checks that environment variables set every kind of flag, that flags win over
// them, and that 0 in a flag means no limit in the server's Config.
func TestEnv(t *testing.T) {
	vars := map[string]string{
		"DUPLEX_ADDR":             "0.0.0.0:9000",
		"DUPLEX_ALLOW_ORIGIN":     "a.example, *.b.example",
		"DUPLEX_MAX_CONNECTIONS":  "5",
		"DUPLEX_MAX_MESSAGE_SIZE": "1MiB",
		"DUPLEX_RATE_LIMIT":       "0",
		"DUPLEX_PING_INTERVAL":    "0",
		"DUPLEX_PONG_TIMEOUT":     "3s",
		"DUPLEX_TLS_SELF_SIGNED":  "true",
		"DUPLEX_LOG_LEVEL":        "debug",
		"DUPLEX_QUEUE_SIZE":       "", // empty: unset
	}
	o, err := parseServe(nil, lookupIn(vars))
	if err != nil {
		t.Fatal(err)
	}
	c := o.config(nil)
	if c.Addr != "0.0.0.0:9000" || strings.Join(c.AllowOrigins, " ") != "a.example *.b.example" ||
		c.MaxConnections != 5 || c.MaxMessageSize != 1<<20 || c.RateLimit != -1 || c.PingInterval != -1 ||
		c.PongTimeout != 3*time.Second || !c.TLSSelfSigned || o.logLevel != "debug" || c.QueueSize != 256 {
		t.Errorf("from the environment: %+v, %+v", c, o)
	}

	o, err = parseServe([]string{"--max-connections", "7", "--allow-origin", "c.example", "--allow-origin=d.example", "--tls-self-signed=false"}, lookupIn(vars))
	if err != nil {
		t.Fatal(err)
	}
	c = o.config(nil)
	if c.MaxConnections != 7 || strings.Join(c.AllowOrigins, " ") != "c.example d.example" || c.TLSSelfSigned || c.Addr != "0.0.0.0:9000" {
		t.Errorf("flags over the environment: %+v", c)
	}

	o, err = parseServe([]string{"--max-connections=0", "--max-connections-per-ip=0", "--max-message-size=0"}, lookupIn(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c := o.config(nil); c.MaxConnections != -1 || c.MaxConnectionsPerIP != -1 || c.MaxMessageSize != -1 || c.RateLimit != 50 || c.PingInterval != 30*time.Second {
		t.Errorf("0 for no limit, and defaults: %+v", c)
	}
}

func TestSize(t *testing.T) {
	for s, want := range map[string]int64{
		"0": 0, "1": 1, "65536": 65536, "64KiB": 64 << 10, "1 MiB": 1 << 20, "2GiB": 2 << 30, "512B": 512,
		"": -1, "1KB": -1, "-1": -1, "1.5MiB": -1, "KiB": -1, "99999999999GiB": -1,
	} {
		got, err := parseSize(s)
		if want < 0 {
			if err == nil {
				t.Errorf("parseSize(%q) = %d, want an error", s, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 1000: "1000", 1024: "1KiB", 64 << 10: "64KiB", 3 << 20: "3MiB", 1<<20 + 1: "1048577"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
