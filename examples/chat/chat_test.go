package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
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

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startRoom serves a hub over loopback and returns the room's WebSocket URL and the hub,
// which is closed at the end of the test.
func startRoom(t *testing.T, opts *hubOptions) (string, *hub) {
	t.Helper()
	room := newHub(opts)
	srv := httptest.NewServer(routes(room))
	t.Cleanup(func() {
		srv.Close()
		room.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", room
}

func dial(t *testing.T, ctx context.Context, roomURL, name string) *ws.Conn {
	t.Helper()
	c, _, err := ws.Dial(ctx, roomURL+"?name="+url.QueryEscape(name), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// join connects a member and waits until it and every member in others have received the
// announcement, so that the test knows who is in the room.
func join(t *testing.T, ctx context.Context, roomURL, name string, others ...*ws.Conn) *ws.Conn {
	t.Helper()
	c := dial(t, ctx, roomURL, name)
	want := event{Type: "join", Name: name}
	for _, m := range append(others, c) {
		if got := readEvent(t, ctx, m); got != want {
			t.Fatalf("event %+v, want %+v", got, want)
		}
	}
	return c
}

func readEvent(t *testing.T, ctx context.Context, c *ws.Conn) event {
	t.Helper()
	var ev event
	if err := c.ReadJSON(ctx, &ev); err != nil {
		t.Fatalf("reading an event: %v", err)
	}
	return ev
}

// TestBroadcastOrder has three members send messages at the same time, and checks that
// every member receives every message, all in the same order, each sender's in the order
// sent.
func TestBroadcastOrder(t *testing.T) {
	ctx := testContext(t)
	roomURL, _ := startRoom(t, &hubOptions{QueueSize: 1024})
	names := []string{"ann", "bob", "cyd"}
	var members []*ws.Conn
	for _, name := range names {
		members = append(members, join(t, ctx, roomURL, name, members...))
	}

	const perSender = 100
	received := make([][]event, len(members))
	errs := make(chan error, 2*len(members))
	var wg sync.WaitGroup
	for i, c := range members {
		wg.Go(func() {
			for n := range perSender {
				if err := c.Write(ctx, ws.MessageText, fmt.Appendf(nil, "%d", n)); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for range perSender * len(members) {
				var ev event
				if err := c.ReadJSON(ctx, &ev); err != nil {
					errs <- fmt.Errorf("%s: %w", names[i], err)
					return
				}
				received[i] = append(received[i], ev)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for i, evs := range received {
		next := map[string]int{}
		for _, ev := range evs {
			if ev.Type != "message" || ev.Text != fmt.Sprint(next[ev.Name]) {
				t.Fatalf("%s received %+v, want message %d from %s", names[i], ev, next[ev.Name], ev.Name)
			}
			next[ev.Name]++
		}
		if i > 0 && !equalEvents(evs, received[0]) {
			t.Errorf("%s and %s received the messages in different orders", names[0], names[i])
		}
	}
}

func equalEvents(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSlowConsumerDropped has a member that never reads, and another that publishes
// messages and reads them back, one at a time. Once the idle member's queue is full it is
// dropped, the publisher's own messages keep coming all along, and the dropped member,
// when it reads at last, finds a close frame with 1008.
func TestSlowConsumerDropped(t *testing.T) {
	ctx := testContext(t)
	// Small socket buffers on both ends of the idle member's connection fill in a few
	// messages; then its queue fills.
	room := newHub(&hubOptions{QueueSize: 4, ReadLimit: 64 << 10, WriteTimeout: time.Minute})
	srv := httptest.NewUnstartedServer(routes(room))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		room.Close()
	})
	roomURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	slow, _, err := ws.Dial(ctx, roomURL+"?name=slow", &ws.DialOptions{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := new(net.Dialer).DialContext(ctx, network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(smallReadBuffer)
			}
			return c, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	if ev := readEvent(t, ctx, slow); ev != (event{Type: "join", Name: "slow"}) {
		t.Fatalf("event %+v, want slow's join", ev)
	}
	fast := join(t, ctx, roomURL, "fast", slow)

	text := strings.Repeat("x", 16<<10)
	dropped := false
	for n := 0; !dropped; n++ {
		if n == 1000 {
			t.Fatal("the member that never reads was not dropped")
		}
		if err := fast.Write(ctx, ws.MessageText, []byte(text)); err != nil {
			t.Fatal(err)
		}
		// The message comes back, at most after the announcement of the drop.
		for {
			ev := readEvent(t, ctx, fast)
			if ev.Type == "leave" {
				if want := (event{Type: "leave", Name: "slow", Reason: "slow consumer"}); ev != want {
					t.Fatalf("event %+v, want %+v", ev, want)
				}
				t.Logf("dropped after %d messages", n+1)
				dropped = true
				continue
			}
			if ev.Type != "message" || ev.Name != "fast" || len(ev.Text) != len(text) {
				t.Fatalf("event %+v, want fast's message", ev.Type)
			}
			break
		}
	}

	// The others still receive.
	if err := fast.Write(ctx, ws.MessageText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if ev := readEvent(t, ctx, fast); ev != (event{Type: "message", Name: "fast", Text: "still here"}) {
		t.Fatalf("event %+v, want fast's message", ev)
	}

	// The dropped member gets what was on its way, then the close frame.
	for err == nil {
		_, _, err = slow.Read(ctx)
	}
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.StatusPolicyViolation || ce.Reason != "slow consumer" {
		t.Fatalf("the dropped member's read: %v, want a close frame 1008 \"slow consumer\"", err)
	}
}

// The sizes of the socket buffers in TestSlowConsumerDropped. The receive buffer holds
// two loopback segments (of 64 KiB): with less, the receiver would never announce that
// its window reopened, and the sender would find out only by probing, after a delay.
const (
	smallWriteBuffer = 16 << 10
	smallReadBuffer  = 128 << 10
)

// smallBuffers gives the connections it accepts small socket send buffers.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).SetWriteBuffer(smallWriteBuffer); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func TestLeaveAnnounced(t *testing.T) {
	ctx := testContext(t)
	roomURL, _ := startRoom(t, nil)
	ann := join(t, ctx, roomURL, "ann")
	bob := join(t, ctx, roomURL, "bob", ann)
	if err := bob.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if ev := readEvent(t, ctx, ann); ev != (event{Type: "leave", Name: "bob", Reason: "left"}) {
		t.Fatalf("event %+v, want bob's departure", ev)
	}
}

func TestMessageTooBig(t *testing.T) {
	ctx := testContext(t)
	roomURL, _ := startRoom(t, &hubOptions{ReadLimit: 16})
	ann := join(t, ctx, roomURL, "ann")
	bob := join(t, ctx, roomURL, "bob", ann)
	if err := bob.Write(ctx, ws.MessageText, []byte("seventeen bytes!!")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.Read(ctx); ws.CloseStatus(err) != ws.StatusMessageTooBig {
		t.Fatalf("read after a message over the limit: %v, want close status 1009", err)
	}
	if ev := readEvent(t, ctx, ann); ev != (event{Type: "leave", Name: "bob", Reason: "message too big"}) {
		t.Fatalf("event %+v, want bob's departure", ev)
	}
}

func TestNameTaken(t *testing.T) {
	ctx := testContext(t)
	roomURL, _ := startRoom(t, nil)
	join(t, ctx, roomURL, "ann")
	again := dial(t, ctx, roomURL, "ann")
	_, _, err := again.Read(ctx)
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.StatusPolicyViolation || ce.Reason != "name already taken" {
		t.Fatalf("read: %v, want a close frame 1008 \"name already taken\"", err)
	}
}

func TestBadName(t *testing.T) {
	ctx := testContext(t)
	roomURL, _ := startRoom(t, nil)
	for _, name := range []string{"", "has space", strings.Repeat("n", 33), "<b>"} {
		_, resp, err := ws.Dial(ctx, roomURL+"?name="+url.QueryEscape(name), nil)
		if !errors.Is(err, ws.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("name %q: %v, want a 400 response", name, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

// TestClose checks that closing the hub closes every member with 1001 and refuses new
// ones.
func TestClose(t *testing.T) {
	ctx := testContext(t)
	roomURL, room := startRoom(t, nil)
	ann := join(t, ctx, roomURL, "ann")
	bob := join(t, ctx, roomURL, "bob", ann)
	// Close waits for the members to answer its close frames, which they do as they
	// read.
	closed := make(chan struct{})
	go func() {
		room.Close()
		close(closed)
	}()
	for _, c := range []*ws.Conn{ann, bob} {
		if _, _, err := c.Read(ctx); ws.CloseStatus(err) != ws.StatusGoingAway {
			t.Fatalf("read after Close: %v, want close status 1001", err)
		}
	}
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close did not return")
	}
	_, resp, err := ws.Dial(ctx, roomURL+"?name=cyd", nil)
	if resp != nil {
		resp.Body.Close()
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v, want a 503 response", err)
	}
}

// TestRunShutdown runs the whole program and checks that ending its context closes every
// member with 1001 and makes run return nil.
func TestRunShutdown(t *testing.T) {
	ctx := testContext(t)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var out testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(runCtx, "127.0.0.1:0", &out) }()

	addr := testenv.WaitMatch(t, ctx, &out, regexp.MustCompile(`ws://(\S+)/ws`))
	roomURL := "ws://" + addr + "/ws"
	ann := join(t, ctx, roomURL, "ann")
	bob := join(t, ctx, roomURL, "bob", ann)
	if err := ann.Write(ctx, ws.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*ws.Conn{ann, bob} {
		if ev := readEvent(t, ctx, c); ev != (event{Type: "message", Name: "ann", Text: "hi"}) {
			t.Fatalf("event %+v, want ann's message", ev)
		}
	}

	stop()
	for _, c := range []*ws.Conn{ann, bob} {
		if _, _, err := c.Read(ctx); ws.CloseStatus(err) != ws.StatusGoingAway {
			t.Fatalf("read after shutdown: %v, want close status 1001", err)
		}
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

func TestPage(t *testing.T) {
	srv := httptest.NewServer(routes(newHub(nil)))
	defer srv.Close()
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
	for _, want := range []string{"<script>", "new WebSocket(", "/ws?name=", "onmessage", "onclose"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("page does not contain %q", want)
		}
	}
}
