package cli

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/testenv"
	"github.com/duplex-ws/duplex/ws"
)

// serving is a duplex serve started by a test.
type serving struct {
	base           string // http://127.0.0.1:PORT or https://…
	stdout, stderr *testenv.Buffer
	cancel         context.CancelFunc
	done           chan error
}

var bannerURL = regexp.MustCompile(`Duplex is serving (https?://[^/\s]+)/`)

// serve runs duplex serve with args and the environment vars until the test stops it,
// and waits for it to print its URL.
func serve(t *testing.T, ctx context.Context, vars map[string]string, args ...string) *serving {
	t.Helper()
	runCtx, cancel := context.WithCancel(context.Background())
	s := &serving{stdout: new(testenv.Buffer), stderr: new(testenv.Buffer), cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(runCtx, append([]string{"serve"}, args...), &env{
			stdin: strings.NewReader(""), stdout: s.stdout, stderr: s.stderr, lookupEnv: lookupIn(vars),
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := bannerURL.FindStringSubmatch(s.stdout.String()); m != nil {
			s.base = m[1]
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("duplex serve ended: %v\nstderr: %s", err, s.stderr)
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("duplex serve printed no URL: %v\nstdout: %s", ctx.Err(), s.stdout)
		}
	}
}

// stop interrupts duplex serve, as SIGINT would, and returns what it returned.
func (s *serving) stop(t *testing.T, ctx context.Context) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-ctx.Done():
		t.Fatalf("duplex serve did not stop: %v", ctx.Err())
		return nil
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestServe runs duplex serve on a free port, with the environment choosing JSON logs,
// and checks its endpoints, then that an interrupt closes a chat connection with 1001
// and ends the command without an error.
func TestServe(t *testing.T) {
	ctx := testContext(t)
	s := serve(t, ctx, map[string]string{"DUPLEX_LOG_FORMAT": "json"}, "--addr", "127.0.0.1:0")
	wsBase := "ws" + strings.TrimPrefix(s.base, "http")
	for _, want := range []string{wsBase + "/ws/echo", wsBase + "/ws/chat?room=lobby&name=NICK", s.base + "/metrics", "Ctrl-C"} {
		if !strings.Contains(s.stdout.String(), want) {
			t.Errorf("stdout %q does not mention %s", s.stdout, want)
		}
	}

	resp, err := http.Get(s.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok\n" {
		t.Errorf("/healthz: %q", body)
	}

	c, _, err := ws.Dial(ctx, wsBase+"/ws/chat?room=lobby&name=ada", &ws.DialOptions{Subprotocols: []string{"duplex.chat.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "duplex.chat.v1" {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	var welcome struct{ Type string }
	if err := c.ReadJSON(ctx, &welcome); err != nil || welcome.Type != "welcome" {
		t.Fatalf("first message: %+v, %v", welcome, err)
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				ended <- err
				return
			}
		}
	}()

	if err := s.stop(t, ctx); err != nil || ExitCode(err) != 0 {
		t.Errorf("duplex serve returned %v, want nil", err)
	}
	var ce *ws.CloseError
	if err := <-ended; !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway {
		t.Errorf("the chat connection ended with %v, want 1001", err)
	}
	for line := range strings.Lines(s.stderr.String()) {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %q is not JSON: %v", line, err)
		}
	}
	if !strings.Contains(s.stderr.String(), `"msg":"serving"`) {
		t.Errorf("stderr %q has no serving record", s.stderr)
	}
}

// TestServeSelfSigned runs duplex serve --tls-self-signed and checks that wss works and
// presents the certificate whose fingerprint the command printed.
func TestServeSelfSigned(t *testing.T) {
	ctx := testContext(t)
	s := serve(t, ctx, map[string]string{"DUPLEX_TLS_SELF_SIGNED": "1"}, "--addr=127.0.0.1:0", "--log-level=error")
	if !strings.HasPrefix(s.base, "https://") {
		t.Fatalf("serving %s, want https", s.base)
	}
	printed := regexp.MustCompile(`[0-9A-F]{2}(:[0-9A-F]{2}){31}`).FindString(s.stdout.String())
	if printed == "" {
		t.Fatalf("stdout %q shows no fingerprint", s.stdout)
	}
	// Trust the certificate by its fingerprint, as a user comparing it would.
	pinned := &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if fingerprint(sum[:]) != printed {
				return errors.New("not the certificate whose fingerprint was printed")
			}
			return nil
		},
	}
	c, _, err := ws.Dial(ctx, "wss"+strings.TrimPrefix(s.base, "https")+"/ws/echo", &ws.DialOptions{TLSConfig: pinned})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, ws.MessageText, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Read(ctx); err != nil || string(p) != "over tls" {
		t.Fatalf("echo: %q, %v", p, err)
	}
	if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.stop(t, ctx); err != nil {
		t.Errorf("duplex serve returned %v", err)
	}
}
