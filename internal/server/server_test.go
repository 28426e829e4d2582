package server_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/server"
	"github.com/duplex-ws/duplex/ws"
)

// TestEcho checks that /ws/echo sends back every message unchanged, type and payload.
func TestEcho(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	c, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, m := range []struct {
		typ ws.MessageType
		p   []byte
	}{
		{ws.MessageText, []byte("hello")},
		{ws.MessageBinary, []byte{0, 1, 2, 0xff}},
		{ws.MessageText, nil},
		{ws.MessageBinary, bytes.Repeat([]byte{7}, 60000)},
	} {
		if err := c.Write(ctx, m.typ, m.p); err != nil {
			t.Fatal(err)
		}
		typ, p, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != m.typ || !bytes.Equal(p, m.p) {
			t.Errorf("sent %v of %d bytes, received %v of %d bytes", m.typ, len(m.p), typ, len(p))
		}
	}
	if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestPages checks the embedded web page, /healthz and the routing of other requests.
func TestPages(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	index, err := os.ReadFile("web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, ctx, http.DefaultClient, ts.http+"/", nil); status != http.StatusOK || body != string(index) {
		t.Errorf("GET /: %d, %d bytes; want 200 and web/index.html", status, len(body))
	}
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/healthz", http.StatusOK, "ok\n"},
		{"/no-such-page", http.StatusNotFound, ""},
		{"/app.js", http.StatusOK, ""},
		{"/style.css", http.StatusOK, ""},
	} {
		status, body := get(t, ctx, http.DefaultClient, ts.http+tc.path, nil)
		if status != tc.status || tc.body != "" && body != tc.body {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, status, body, tc.status, tc.body)
		}
	}
	resp, err := http.Post(ts.http+"/ws/echo", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ws/echo: %d, want 405", resp.StatusCode)
	}
}

// TestMaxConnections checks that connections over the limit are refused with 503 before
// the upgrade, on both endpoints, and admitted again once one closes.
func TestMaxConnections(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{MaxConnections: 2})
	first, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.CloseNow()
	ts.join(t, ctx, "lobby", "ada")
	for _, url := range []string{ts.ws + "/ws/echo", ts.chatURL("lobby", "bob")} {
		if status, body := dialStatus(t, ctx, url, nil); status != http.StatusServiceUnavailable || !strings.Contains(body, "too many connections") {
			t.Errorf("%s: %d %q, want 503 too many connections", url, status, body)
		}
	}
	first.Close(ws.StatusNormalClosure, "")
	poll(t, ctx, "a free slot", func() bool {
		c, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil)
		if err == nil {
			c.CloseNow()
		}
		return err == nil
	})
	if got := metric(t, ctx, ts, `duplex_upgrades_rejected_total{reason="max_connections"}`); got < 2 {
		t.Errorf("rejections for max_connections: %v, want at least 2", got)
	}
}

// TestMaxConnectionsPerIP checks the per-IP limit: a second connection from 127.0.0.1 is
// refused with 503, one from 127.0.0.2 is not.
func TestMaxConnectionsPerIP(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{MaxConnectionsPerIP: 1})
	first, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.CloseNow()
	if status, body := dialStatus(t, ctx, ts.ws+"/ws/echo", nil); status != http.StatusServiceUnavailable || !strings.Contains(body, "from 127.0.0.1") {
		t.Errorf("second connection from 127.0.0.1: %d %q, want 503", status, body)
	}
	from2 := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	probe, err := from2.DialContext(ctx, "tcp", strings.TrimPrefix(ts.ws, "ws://"))
	if err != nil {
		t.Skipf("cannot connect from 127.0.0.2 on this system: %v", err)
	}
	probe.Close()
	c, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", &ws.DialOptions{NetDialContext: from2.DialContext})
	if err != nil {
		t.Fatalf("connection from 127.0.0.2: %v", err)
	}
	c.CloseNow()
}

// TestOrigin checks the origin policy: no Origin header (not a browser) and the server's
// own origin are allowed, another is refused with 403 unless AllowOrigins matches it.
func TestOrigin(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{AllowOrigins: []string{"*.example.com"}})
	host := strings.TrimPrefix(ts.http, "http://")
	for i, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + host, true},
		{"https://app.example.com", true},
		{"https://example.org", false},
		{"http://127.0.0.1:1", false},
		{"null", false},
	} {
		// A name of its own per case: a closed member's name is released
		// asynchronously, and a name still held would be refused with 409 first.
		for _, path := range []string{"/ws/echo", "/ws/chat?name=ada" + strconv.Itoa(i)} {
			opts := &ws.DialOptions{HTTPHeader: http.Header{}}
			if tc.origin != "" {
				opts.HTTPHeader.Set("Origin", tc.origin)
			}
			c, resp, err := ws.Dial(ctx, ts.ws+path, opts)
			if tc.ok {
				if err != nil {
					t.Errorf("%s from %q: %v, want allowed", path, tc.origin, err)
					continue
				}
				c.Close(ws.StatusNormalClosure, "")
				continue
			}
			if err == nil {
				c.CloseNow()
				t.Errorf("%s from %q: allowed, want 403", path, tc.origin)
			} else if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s from %q: %v, want 403", path, tc.origin, err)
			}
		}
	}
	if got := metric(t, ctx, ts, `duplex_upgrades_rejected_total{reason="origin"}`); got != 6 {
		t.Errorf("rejections for origin: %v, want 6", got)
	}
}

// TestShutdown checks that stopping the server closes every connection, chat and echo,
// with 1001, and that Run returns nil.
func TestShutdown(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	var clients []*client
	for _, m := range [][2]string{{"a", "ada"}, {"a", "bob"}, {"b", "cy"}} {
		cl := ts.join(t, ctx, m[0], m[1])
		cl.wait(t, ctx, "welcome", count("welcome", 1))
		clients = append(clients, cl)
	}
	echo, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer echo.CloseNow()
	echoEnd := make(chan error, 1)
	go func() {
		_, _, err := echo.Read(ctx)
		echoEnd <- err
	}()

	if err := ts.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, cl := range clients {
		wantClose(t, cl.name, cl.closed(t, ctx), ws.StatusGoingAway, "server shutting down")
		if l := ofType(cl.events, "leave"); len(l) != 0 {
			t.Errorf("%s received leaves %+v at shutdown", cl.name, l)
		}
	}
	wantClose(t, "echo", <-echoEnd, ws.StatusGoingAway, "server shutting down")
	if _, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil); err == nil {
		t.Error("the server still accepts connections")
	}
}

// TestShutdownTimeout has a client that never answers the closing handshake: Run closes
// it when ShutdownTimeout has passed, and returns nil.
func TestShutdownTimeout(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{ShutdownTimeout: 200 * time.Millisecond})
	mute, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil) // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer mute.CloseNow()
	begin := time.Now()
	if err := ts.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(begin); d > 4*time.Second {
		t.Errorf("Run returned after %v, want about the 200ms shutdown timeout", d)
	}
}

// TestEchoSlowConsumer has an echo client that sends and never reads. Once its echoes fill
// the buffers between them, a write waits, and after WriteTimeout the server drops it as
// a slow consumer: counted, and its connection ends, for the client too.
func TestEchoSlowConsumer(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{WriteTimeout: 200 * time.Millisecond, RateLimit: -1})
	stuck, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.CloseNow()
	sent := make(chan int, 1)
	go func() {
		msg := bytes.Repeat([]byte("x"), 60<<10) // within the default MaxMessageSize
		n := 0
		for n < 1000 && stuck.Write(ctx, ws.MessageBinary, msg) == nil {
			n++
		}
		sent <- n
	}()
	for metric(t, ctx, ts, `duplex_slow_consumers_total{endpoint="echo"}`) != 1 {
		select {
		case <-ctx.Done():
			t.Fatal("the client that never reads was not dropped")
		case <-time.After(20 * time.Millisecond):
		}
	}
	for {
		_, _, err := stuck.Read(ctx)
		if err == nil {
			continue
		}
		// The echoes the client has not read are ahead of the close frame, and the server,
		// closing with the client's messages unread, resets the connection: the client
		// sees 1006 unless it read up to the close frame first (§7.1.5).
		var ce *ws.CloseError
		switch {
		case ctx.Err() != nil:
			t.Fatalf("the dropped connection did not end: %v", err)
		case errors.As(err, &ce) && ce.Code == ws.StatusAbnormalClosure:
		default:
			wantClose(t, "stuck", err, ws.StatusPolicyViolation, "slow consumer")
		}
		break
	}
	t.Logf("dropped after %d messages of 60 KiB", <-sent)
	for metric(t, ctx, ts, `duplex_connections_open{endpoint="echo"}`) != 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the dropped connection is still counted open")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestMetrics checks that /metrics lists every metric, and that the counters move with
// traffic.
func TestMetrics(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	_, body := get(t, ctx, http.DefaultClient, ts.http+"/metrics", nil)
	for _, name := range []string{
		"duplex_connections_open", "duplex_connections_total",
		"duplex_messages_received_total", "duplex_messages_sent_total",
		"duplex_received_bytes_total", "duplex_sent_bytes_total",
		"duplex_chat_rooms", "duplex_chat_members", "duplex_slow_consumers_total",
		"duplex_upgrades_rejected_total", "go_goroutines",
	} {
		if !strings.Contains(body, "\n# TYPE "+name+" ") {
			t.Errorf("/metrics has no %s", name)
		}
	}

	c, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for range 3 {
		c.Write(ctx, ws.MessageText, []byte("12345"))
		c.Read(ctx)
	}
	ts.join(t, ctx, "lobby", "ada").wait(t, ctx, "join", count("join", 1)) // welcome and join
	dialStatus(t, ctx, ts.chatURL("lobby", "ada"), nil)                    // 409
	want := map[string]float64{
		`duplex_connections_open{endpoint="echo"}`:            1,
		`duplex_connections_total{endpoint="echo"}`:           1,
		`duplex_messages_received_total{endpoint="echo"}`:     3,
		`duplex_received_bytes_total{endpoint="echo"}`:        15,
		`duplex_messages_sent_total{endpoint="echo"}`:         3,
		`duplex_sent_bytes_total{endpoint="echo"}`:            15,
		`duplex_connections_open{endpoint="chat"}`:            1,
		`duplex_messages_sent_total{endpoint="chat"}`:         2,
		`duplex_chat_rooms`:                                   1,
		`duplex_chat_members`:                                 1,
		`duplex_upgrades_rejected_total{reason="name_taken"}`: 1,
	}
	poll(t, ctx, "the metrics to count the traffic", func() bool {
		for name, v := range want {
			if metric(t, ctx, ts, name) != v {
				return false
			}
		}
		return true
	})
}

// TestConfigErrors checks that New refuses settings that cannot work.
func TestConfigErrors(t *testing.T) {
	for _, cfg := range []server.Config{
		{TLSCertFile: "cert.pem"},
		{TLSSelfSigned: true, TLSCertFile: "cert.pem", TLSKeyFile: "key.pem"},
		{TLSCertFile: "no-such-cert.pem", TLSKeyFile: "no-such-key.pem"},
		{AllowOrigins: []string{"[a-"}},
		{QueueSize: -1},
		{RateLimit: 1, RateBurst: -1},
	} {
		if _, err := server.New(&cfg); !errors.Is(err, server.ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}

// TestRunServeError checks that Run returns the error that stops serving.
func TestRunServeError(t *testing.T) {
	s, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := s.Run(context.Background(), ln); err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Run on a closed listener: %v, want its error", err)
	}
}
