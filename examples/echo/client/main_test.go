package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/internal/testenv"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// peer is an in-process server. Its handler calls reply for each message, which returns
// the reply to send, or a close code to end the connection with; closed receives the
// close status with which the connection ended, as the server saw it.
type peer struct {
	url    string
	closed chan ws.StatusCode
}

func newPeer(t *testing.T, reply func(typ ws.MessageType, msg []byte) (ws.MessageType, []byte, ws.StatusCode)) *peer {
	t.Helper()
	p := &peer{closed: make(chan ws.StatusCode, 1)}
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				p.closed <- ws.CloseStatus(err)
				return
			}
			typ, msg, code := reply(typ, msg)
			if code != 0 {
				c.Close(code, "closed by the test")
				p.closed <- code
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				p.closed <- -1
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		handlers.Wait()
	})
	p.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return p
}

func echoReply(typ ws.MessageType, msg []byte) (ws.MessageType, []byte, ws.StatusCode) {
	return typ, msg, 0
}

// serverSaw returns how the connection ended for the server.
func (p *peer) serverSaw(t *testing.T, ctx context.Context) ws.StatusCode {
	t.Helper()
	select {
	case code := <-p.closed:
		return code
	case <-ctx.Done():
		t.Fatal("the server's connection did not end")
		return 0
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRunArgs(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, echoReply)
	var out bytes.Buffer
	if err := run(ctx, p.url, []string{"hello", "wörld", ""}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "hello\nwörld\n\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if code := p.serverSaw(t, ctx); code != ws.StatusNormalClosure {
		t.Errorf("the server saw close status %d, want 1000", code)
	}
}

func TestRunStdin(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, echoReply)
	var out bytes.Buffer
	if err := run(ctx, p.url, nil, strings.NewReader("one\ntwo\nthree"), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "one\ntwo\nthree\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if code := p.serverSaw(t, ctx); code != ws.StatusNormalClosure {
		t.Errorf("the server saw close status %d, want 1000", code)
	}
}

func TestRunPrintsBinary(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, func(_ ws.MessageType, msg []byte) (ws.MessageType, []byte, ws.StatusCode) {
		return ws.MessageBinary, msg, 0
	})
	var out bytes.Buffer
	if err := run(ctx, p.url, []string{"abc"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "[3 bytes] 61 62 63\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// TestRunServerCloses checks that a server's closure ends run, as an error unless it is
// a normal closure.
func TestRunServerCloses(t *testing.T) {
	for _, code := range []ws.StatusCode{ws.StatusNormalClosure, ws.StatusPolicyViolation} {
		t.Run(code.String(), func(t *testing.T) {
			ctx := testContext(t)
			p := newPeer(t, func(ws.MessageType, []byte) (ws.MessageType, []byte, ws.StatusCode) {
				return 0, nil, code
			})
			// The input never ends, so only the server's closure can end run.
			stdin, input := io.Pipe()
			defer input.Close()
			go input.Write([]byte("hello\n"))
			err := run(ctx, p.url, nil, stdin, io.Discard)
			if code == ws.StatusNormalClosure {
				if err != nil {
					t.Fatalf("run: %v, want nil", err)
				}
				return
			}
			if ws.CloseStatus(err) != code {
				t.Fatalf("run: %v, want an error with close status %d", err, code)
			}
		})
	}
}

// TestRunContextEnds checks that ending ctx (as Ctrl-C does) closes the connection with
// 1000 and makes run return, though its input has not ended.
func TestRunContextEnds(t *testing.T) {
	ctx := testContext(t)
	p := newPeer(t, echoReply)
	stdin, input := io.Pipe()
	defer input.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var out testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(runCtx, p.url, nil, stdin, &out) }()

	if _, err := input.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	for out.String() != "first\n" {
		select {
		case <-ctx.Done():
			t.Fatalf("output %q, want %q", out.String(), "first\n")
		case <-time.After(5 * time.Millisecond):
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("run did not return after its context ended")
	}
	if code := p.serverSaw(t, ctx); code != ws.StatusNormalClosure {
		t.Errorf("the server saw close status %d, want 1000", code)
	}
}

func TestRunNotAWebSocketServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	err := run(testContext(t), "ws"+strings.TrimPrefix(srv.URL, "http"), []string{"hello"}, nil, io.Discard)
	if !errors.Is(err, ws.ErrBadHandshake) {
		t.Fatalf("run: %v, want an error wrapping ws.ErrBadHandshake", err)
	}
}
