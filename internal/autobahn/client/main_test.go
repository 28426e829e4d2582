package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// fakeSuite plays the Autobahn fuzzing server's side of the testee protocol: a case count,
// cases that send messages and expect them echoed, and the reports request.
type fakeSuite struct {
	mu      sync.Mutex
	echoed  map[string]bool // case number → every message came back
	agent   string
	reports bool
}

func (f *fakeSuite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	switch r.URL.Path {
	case "/getCaseCount":
		c.Write(ctx, ws.MessageText, []byte("2"))
		c.Close(ws.StatusNormalClosure, "")
	case "/runCase":
		msgs := []struct {
			typ ws.MessageType
			p   []byte
		}{{ws.MessageText, []byte("κόσμε")}, {ws.MessageBinary, bytes.Repeat([]byte{1}, 70000)}}
		ok := true
		for _, m := range msgs {
			c.Write(ctx, m.typ, m.p)
			typ, got, err := c.Read(ctx)
			ok = ok && err == nil && typ == m.typ && bytes.Equal(got, m.p)
		}
		f.mu.Lock()
		f.echoed[r.URL.Query().Get("case")] = ok
		f.agent = r.URL.Query().Get("agent")
		f.mu.Unlock()
		c.Close(ws.StatusNormalClosure, "")
	case "/updateReports":
		f.mu.Lock()
		f.reports = true
		f.mu.Unlock()
		c.Close(ws.StatusNormalClosure, "")
	}
}

func TestClientRunsEveryCase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	suite := &fakeSuite{echoed: map[string]bool{}}
	srv := httptest.NewServer(suite)
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	if err := run(ctx, []string{"-url", url, "-agent", "duplex test"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	suite.mu.Lock()
	defer suite.mu.Unlock()
	if !suite.echoed["1"] || !suite.echoed["2"] || len(suite.echoed) != 2 {
		t.Errorf("cases echoed: %v", suite.echoed)
	}
	if suite.agent != "duplex test" || !suite.reports {
		t.Errorf("agent %q, reports %v", suite.agent, suite.reports)
	}
	want := "case 1/2: closed 1000\ncase 2/2: closed 1000\nreports updated\n"
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
}
