package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/internal/server"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// testContext bounds a test.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testServer is a server running on a loopback port.
type testServer struct {
	*server.Server
	http string // base URL: http://127.0.0.1:PORT or https://…
	ws   string // ws://127.0.0.1:PORT or wss://…

	cancel context.CancelFunc
	ran    chan error
}

// start runs a server configured by cfg on a loopback port, until the test ends; Run must
// then return nil.
func start(t *testing.T, cfg *server.Config) *testServer {
	t.Helper()
	var c server.Config
	if cfg != nil {
		c = *cfg
	}
	if testing.Verbose() {
		c.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := server.New(&c)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, cancel: cancel, ran: make(chan error, 1)}
	scheme := "http"
	if s.Certificate() != nil {
		scheme = "https"
	}
	ts.http = scheme + "://" + ln.Addr().String()
	ts.ws = "ws" + strings.TrimPrefix(ts.http, "http")
	go func() { ts.ran <- s.Run(ctx, ln) }()
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

// stop cancels Run's context and returns what Run returned.
func (ts *testServer) stop() error {
	ts.cancel()
	err, ok := <-ts.ran
	if !ok {
		return nil // stopped already
	}
	close(ts.ran)
	return err
}

// tWriter sends the server's log to the test's, with -v.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// chatURL returns the chat URL for room and name.
func (ts *testServer) chatURL(room, name string) string {
	q := url.Values{"room": {room}, "name": {name}}
	return ts.ws + "/ws/chat?" + q.Encode()
}

// event is any server event of the chat, decoded. Members is decoded on demand, by
// members: with 200 members, decoding every list would make most of a test's time.
type event struct {
	Type    string          `json:"type"`
	Room    string          `json:"room"`
	Name    string          `json:"name"`
	From    string          `json:"from"`
	Text    string          `json:"text"`
	Members json.RawMessage `json:"members"`
	Error   string          `json:"error"`
	TS      int64           `json:"ts"`
}

// members returns the decoded members list of ev.
func (ev event) members() []string {
	var m []string
	json.Unmarshal(ev.Members, &m)
	return m
}

// client is a chat connection whose events are read by a goroutine into a list that the
// test polls.
type client struct {
	name string
	c    *ws.Conn

	notify chan struct{} // signalled when an event arrives or reading ends
	done   chan struct{} // closed when reading has ended

	mu     sync.Mutex
	events []event
	err    error // why reading ended
}

// join connects name to room, starts reading its events and waits for its welcome: the
// server adds a member to its room after the handshake, so only then does the test know
// that members joining later come after it.
func (ts *testServer) join(t *testing.T, ctx context.Context, room, name string) *client {
	t.Helper()
	c, _, err := ws.Dial(ctx, ts.chatURL(room, name), nil)
	if err != nil {
		t.Fatalf("joining %s as %s: %v", room, name, err)
	}
	cl := startClient(t, name, c)
	cl.wait(t, ctx, "welcome", count("welcome", 1))
	return cl
}

func startClient(t *testing.T, name string, c *ws.Conn) *client {
	cl := &client{name: name, c: c, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go cl.read()
	t.Cleanup(func() {
		c.CloseNow()
		<-cl.done
	})
	return cl
}

func (cl *client) read() {
	defer close(cl.done)
	for {
		_, msg, err := cl.c.Read(context.Background())
		var ev event
		if err == nil {
			err = json.Unmarshal(msg, &ev)
		}
		cl.mu.Lock()
		if err != nil {
			cl.err = err
		} else {
			cl.events = append(cl.events, ev)
		}
		cl.mu.Unlock()
		select {
		case cl.notify <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// wait waits until cond holds for the events received so far, and returns them. It fails
// the test if reading ends or ctx does first.
func (cl *client) wait(t *testing.T, ctx context.Context, what string, cond func([]event) bool) []event {
	t.Helper()
	for {
		cl.mu.Lock()
		evs, err := cl.events, cl.err
		cl.mu.Unlock()
		if cond(evs) {
			return evs
		}
		if err != nil {
			t.Fatalf("%s: waiting for %s: reading ended: %v", cl.name, what, err)
		}
		select {
		case <-cl.notify:
		case <-ctx.Done():
			t.Fatalf("%s: waiting for %s: %v; received %d events", cl.name, what, ctx.Err(), len(evs))
		}
	}
}

// closed waits until reading ends and returns why.
func (cl *client) closed(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case <-cl.done:
	case <-ctx.Done():
		t.Fatalf("%s: waiting for the connection to close: %v", cl.name, ctx.Err())
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.err
}

// send sends a chat message.
func (cl *client) send(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	msg, _ := json.Marshal(map[string]string{"type": "message", "text": text})
	if err := cl.c.Write(ctx, ws.MessageText, msg); err != nil {
		t.Fatalf("%s: sending: %v", cl.name, err)
	}
}

// has returns a condition: an event of type typ whose name (or sender) is name.
func has(typ, name string) func([]event) bool {
	return func(evs []event) bool {
		for _, ev := range evs {
			if ev.Type == typ && (ev.Name == name || ev.From == name) {
				return true
			}
		}
		return false
	}
}

// count returns a condition: at least n events of type typ.
func count(typ string, n int) func([]event) bool {
	return func(evs []event) bool { return len(ofType(evs, typ)) >= n }
}

func ofType(evs []event, typ string) []event {
	var out []event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// wantClose checks that err is the close frame code and reason (any reason if "").
func wantClose(t *testing.T, who string, err error, code ws.StatusCode, reason string) {
	t.Helper()
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != code || (reason != "" && ce.Reason != reason) {
		t.Errorf("%s: connection ended with %v, want close %d %q", who, err, code, reason)
	}
}

// get fetches url and returns the status and body.
func get(t *testing.T, ctx context.Context, client *http.Client, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// dialStatus dials url and returns the HTTP status of the refused handshake and its body;
// it fails the test if the handshake succeeds.
func dialStatus(t *testing.T, ctx context.Context, url string, opts *ws.DialOptions) (int, string) {
	t.Helper()
	c, resp, err := ws.Dial(ctx, url, opts)
	if err == nil {
		c.CloseNow()
		t.Fatalf("dialing %s succeeded, want a refusal", url)
	}
	if resp == nil {
		t.Fatalf("dialing %s: %v, want an HTTP refusal", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// poll checks cond every few milliseconds until it holds, failing the test if ctx ends
// first.
func poll(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}
