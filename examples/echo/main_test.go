package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/internal/testenv"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// newServer serves routes over loopback and, at the end of the test, waits for the echo
// loops as run does.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	var sessions sync.WaitGroup
	srv := httptest.NewServer(routes(&sessions))
	t.Cleanup(func() {
		srv.Close()
		sessions.Wait()
	})
	return srv
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

func TestEchoTextAndBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := newServer(t)
	c, _, err := ws.Dial(ctx, wsURL(srv.URL)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	for _, m := range []struct {
		typ ws.MessageType
		msg []byte
	}{
		{ws.MessageText, []byte("hello, wörld")},
		{ws.MessageBinary, []byte{0, 1, 2, 0xff}},
		{ws.MessageText, nil},
		{ws.MessageBinary, bytes.Repeat([]byte("0123456789"), 10_000)},
	} {
		if err := c.Write(ctx, m.typ, m.msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != m.typ || !bytes.Equal(got, m.msg) {
			t.Fatalf("echo of a %s message of %d bytes: got a %s message of %d bytes", m.typ, len(m.msg), typ, len(got))
		}
	}
	if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestPage(t *testing.T) {
	srv := newServer(t)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<script>", "new WebSocket(", `"/ws"`, "onopen", "onmessage", "onerror", "onclose"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("page does not contain %q", want)
		}
	}

	resp, err = http.Get(srv.URL + "/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %s, want 404", resp.Status)
	}
}

// TestNotWebSocket checks that a plain GET of /ws is refused by Accept with an HTTP error.
func TestNotWebSocket(t *testing.T) {
	srv := newServer(t)
	resp, err := http.Get(srv.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("GET /ws without an upgrade: %s, want 426", resp.Status)
	}
}

// TestRunShutdown runs the whole program and checks that ending its context closes a
// connected client with 1001 and makes run return nil.
func TestRunShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var out testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(runCtx, "127.0.0.1:0", &out) }()

	addr := testenv.WaitMatch(t, ctx, &out, regexp.MustCompile(`ws://(\S+)/ws`))
	c, _, err := ws.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, ws.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
		t.Fatalf("echo: %q, %v", msg, err)
	}

	stop()
	_, _, err = c.Read(ctx)
	if got := ws.CloseStatus(err); got != ws.StatusGoingAway {
		t.Fatalf("read after shutdown: %v; want close status 1001", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("run did not return after its context ended")
	}
}
