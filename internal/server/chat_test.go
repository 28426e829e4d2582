package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/server"
	"github.com/duplex-ws/duplex/ws"
)

// TestChat walks through docs/chat-protocol.md: the welcome first, joins, a message to
// everyone with its text trimmed, and a leave.
func TestChat(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	ada := ts.join(t, ctx, "lobby", "ada")
	evs := ada.wait(t, ctx, "ada's join", has("join", "ada"))
	if w := evs[0]; w.Type != "welcome" || w.Room != "lobby" || w.Name != "ada" || !slices.Equal(w.members(), []string{"ada"}) || w.TS == 0 {
		t.Errorf("first event %+v, want ada's welcome to lobby, members [ada]", w)
	}
	bob := ts.join(t, ctx, "lobby", "bob")
	evs = ada.wait(t, ctx, "bob's join", has("join", "bob"))
	if j := evs[len(evs)-1]; !slices.Equal(j.members(), []string{"ada", "bob"}) {
		t.Errorf("join %+v, want members [ada bob]", j)
	}
	if w := bob.wait(t, ctx, "welcome", count("welcome", 1))[0]; !slices.Equal(w.members(), []string{"ada", "bob"}) {
		t.Errorf("bob's welcome %+v, want members [ada bob]", w)
	}

	ada.send(t, ctx, "  hello, bob  ")
	for _, cl := range []*client{ada, bob} {
		m := ofType(cl.wait(t, ctx, "ada's message", count("message", 1)), "message")[0]
		if m.From != "ada" || m.Text != "hello, bob" || m.Room != "lobby" {
			t.Errorf("%s received %+v, want ada's trimmed text", cl.name, m)
		}
	}

	bob.c.Close(ws.StatusNormalClosure, "bye")
	evs = ada.wait(t, ctx, "bob's leave", has("leave", "bob"))
	if l := evs[len(evs)-1]; !slices.Equal(l.members(), []string{"ada"}) {
		t.Errorf("leave %+v, want members [ada]", l)
	}
}

// TestRoomsIsolate checks that members of one room receive nothing from another, and that
// a name may be used in two rooms.
func TestRoomsIsolate(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	a := ts.join(t, ctx, "a", "ada")
	b := ts.join(t, ctx, "b", "ada")
	a.send(t, ctx, "in a")
	b.send(t, ctx, "in b")
	for _, c := range []struct {
		cl   *client
		room string
	}{{a, "a"}, {b, "b"}} {
		c.cl.wait(t, ctx, "own message", count("message", 1))
		c.cl.send(t, ctx, "last")
		for _, ev := range c.cl.wait(t, ctx, "last message", count("message", 2)) {
			if ev.Room != c.room || ev.Type == "message" && ev.Text == "in "+otherRoom(c.room) {
				t.Errorf("room %s received %+v", c.room, ev)
			}
		}
	}
}

func otherRoom(r string) string {
	if r == "a" {
		return "b"
	}
	return "a"
}

// TestChatManyMembers has 200 members in one room, 4 of them sending at the same time,
// and checks that every member receives every message, all in one order, each sender's
// in the order sent.
func TestChatManyMembers(t *testing.T) {
	const members, senders, each = 200, 4, 25
	ctx := testContext(t)
	ts := start(t, &server.Config{MaxConnectionsPerIP: -1})
	clients := make([]*client, members)
	for i := range clients {
		clients[i] = ts.join(t, ctx, "big", fmt.Sprintf("m%03d", i))
	}
	last := clients[members-1].name
	for _, cl := range clients {
		cl.wait(t, ctx, "the last join", has("join", last))
	}

	var wg sync.WaitGroup
	for _, cl := range clients[:senders] {
		wg.Go(func() {
			for i := range each {
				msg, _ := json.Marshal(map[string]string{"type": "message", "text": strconv.Itoa(i)})
				if err := cl.c.Write(ctx, ws.MessageText, msg); err != nil {
					t.Errorf("%s: %v", cl.name, err)
					return
				}
			}
		})
	}
	wg.Wait()

	var first []event
	for _, cl := range clients {
		got := ofType(cl.wait(t, ctx, "every message", count("message", senders*each)), "message")
		if first == nil {
			first = got
			next := map[string]int{}
			for _, m := range got {
				if m.Text != strconv.Itoa(next[m.From]) {
					t.Fatalf("%s received %q from %s, want %d", cl.name, m.Text, m.From, next[m.From])
				}
				next[m.From]++
			}
			continue
		}
		if !slices.EqualFunc(got, first, func(a, b event) bool { return a.From == b.From && a.Text == b.Text }) {
			t.Fatalf("%s received the messages in another order than %s", cl.name, clients[0].name)
		}
	}
}

// TestSlowConsumer has a member that never reads. Once the server's buffers for it are
// full and its queue too, it is dropped and announced, while the others receive every
// message; when it reads at last, its connection ends with 1008 "slow consumer".
func TestSlowConsumer(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{QueueSize: 16, RateLimit: -1})
	stuck, _, err := ws.Dial(ctx, ts.chatURL("lobby", "stuck"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.CloseNow()
	fast := ts.join(t, ctx, "lobby", "fast")
	pub := ts.join(t, ctx, "lobby", "pub")
	fast.wait(t, ctx, "pub's join", has("join", "pub"))

	// Large messages fill the stuck connection's buffers sooner. The publisher waits for
	// each message to reach the others, so only the stuck member falls behind.
	filler := strings.Repeat("😀", 1990)
	dropped := has("leave", "stuck")
	sent := 0
	for {
		pub.send(t, ctx, fmt.Sprintf("%d %s", sent, filler))
		sent++
		pub.wait(t, ctx, "own message", count("message", sent))
		if dropped(fast.wait(t, ctx, "the message", count("message", sent))) {
			break
		}
		if sent == 20000 {
			t.Fatal("the stuck member is still in after 20000 messages")
		}
	}
	evs := fast.wait(t, ctx, "stuck's leave", dropped)
	if l := ofType(evs, "leave"); len(l) != 1 || !slices.Equal(l[0].members(), []string{"fast", "pub"}) {
		t.Errorf("leave events %+v, want stuck's, members [fast pub]", l)
	}
	for i, m := range ofType(evs, "message") {
		if !strings.HasPrefix(m.Text, strconv.Itoa(i)+" ") {
			t.Fatalf("message %d is %.10q…", i, m.Text)
		}
	}
	t.Logf("stuck was dropped after %d messages of %d bytes", sent, len(filler))
	if got := metric(t, ctx, ts, `duplex_slow_consumers_total{endpoint="chat"}`); got != 1 {
		t.Errorf("duplex_slow_consumers_total{endpoint=\"chat\"} = %v, want 1", got)
	}

	for {
		_, _, err := stuck.Read(ctx)
		if err != nil {
			wantClose(t, "stuck", err, ws.StatusPolicyViolation, "slow consumer")
			break
		}
	}
}

// TestJoinRefused checks the answers to bad rooms and names, given before the upgrade
// (also to a request that is not a WebSocket handshake, as the web page's probe is), and
// that a refused request holds no name.
func TestJoinRefused(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	for _, tc := range []struct {
		room, name string
		status     int
		reason     string
	}{
		{"bad room", "ada", http.StatusBadRequest, "room must be"},
		{strings.Repeat("r", 65), "ada", http.StatusBadRequest, "room must be"},
		{"lobby", "", http.StatusBadRequest, "name must be"},
		{"lobby", " ada", http.StatusBadRequest, "name must be"},
		{"lobby", "ada ", http.StatusBadRequest, "name must be"},
		{"lobby", "   ", http.StatusBadRequest, "name must be"},
		{"lobby", "a\tb", http.StatusBadRequest, "name must be"},
		{"lobby", "<script>", http.StatusBadRequest, "name must be"},
		{"lobby", strings.Repeat("n", 33), http.StatusBadRequest, "name must be"},
		{"lobby", "\xff", http.StatusBadRequest, "name must be"},
	} {
		status, body := dialStatus(t, ctx, ts.chatURL(tc.room, tc.name), nil)
		if status != tc.status || !strings.Contains(body, tc.reason) {
			t.Errorf("room %q, name %q: %d %q, want %d %q", tc.room, tc.name, status, body, tc.status, tc.reason)
		}
	}

	ts.join(t, ctx, "lobby", "ada")
	status, body := dialStatus(t, ctx, ts.chatURL("lobby", "ada"), nil)
	if status != http.StatusConflict || !strings.Contains(body, "taken") {
		t.Errorf("a name taken: %d %q, want 409", status, body)
	}
	plain := "http" + strings.TrimPrefix(ts.chatURL("lobby", "ada"), "ws")
	if status, _ := get(t, ctx, http.DefaultClient, plain, nil); status != http.StatusConflict {
		t.Errorf("plain GET of a name taken: %d, want 409", status)
	}
	plain = "http" + strings.TrimPrefix(ts.chatURL("lobby", "Zoë"), "ws")
	if status, _ := get(t, ctx, http.DefaultClient, plain, nil); status != http.StatusUpgradeRequired {
		t.Errorf("plain GET of a free name: %d, want 426", status)
	}
	// Neither the refused handshake nor the plain GET kept the name; Unicode is welcome;
	// an absent room is the lobby.
	c, _, err := ws.Dial(ctx, ts.ws+"/ws/chat?name=Zo%C3%AB", nil)
	if err != nil {
		t.Fatalf("joining as Zoë: %v", err)
	}
	zoe := startClient(t, "Zoë", c)
	if w := zoe.wait(t, ctx, "welcome", count("welcome", 1))[0]; w.Room != "lobby" || w.Name != "Zoë" {
		t.Errorf("welcome %+v, want Zoë in lobby", w)
	}
	ts.join(t, ctx, "lobby", "देवनागरी नाम")
}

// TestSubprotocol checks that duplex.chat.v1 is agreed when offered, and that a client
// offering none is served too.
func TestSubprotocol(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	for _, offer := range [][]string{{"other", server.ChatSubprotocol}, nil} {
		c, _, err := ws.Dial(ctx, ts.chatURL("lobby", "ada"), &ws.DialOptions{Subprotocols: offer})
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		if offer != nil {
			want = server.ChatSubprotocol
		}
		if got := c.Subprotocol(); got != want {
			t.Errorf("offering %q: agreed %q, want %q", offer, got, want)
		}
		cl := startClient(t, "ada", c)
		cl.wait(t, ctx, "welcome", count("welcome", 1))
		c.Close(ws.StatusNormalClosure, "")
		cl.closed(t, ctx)
		// The name is free once the server has seen the close, which may come after the
		// client's Close returns.
		poll(t, ctx, "ada's name to be free", func() bool {
			status, _ := get(t, ctx, http.DefaultClient, "http"+strings.TrimPrefix(ts.chatURL("lobby", "ada"), "ws"), nil)
			return status != http.StatusConflict
		})
	}
}

// TestInvalidMessages checks that invalid messages are answered with an error to their
// sender alone, and that the tenth closes the connection with 1008.
func TestInvalidMessages(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, nil)
	bad := ts.join(t, ctx, "lobby", "bad")
	other := ts.join(t, ctx, "lobby", "other")
	bad.wait(t, ctx, "other's join", has("join", "other"))
	invalid := []struct {
		typ  ws.MessageType
		msg  string
		want string
	}{
		{ws.MessageText, "not json", "JSON objects"},
		{ws.MessageText, `["message"]`, "JSON objects"},
		{ws.MessageBinary, `{"type":"message","text":"hi"}`, "JSON text"},
		{ws.MessageText, `{"type":"shout","text":"hi"}`, `unknown type "shout"`},
		{ws.MessageText, `{"text":"hi"}`, `unknown type ""`},
		{ws.MessageText, `{"type":"message"}`, "text must be 1 to 2000 characters"},
		{ws.MessageText, `{"type":"message","text":42}`, "text must be 1 to 2000 characters"},
		{ws.MessageText, `{"type":"message","text":" \n "}`, "text must be 1 to 2000 characters"},
		{ws.MessageText, `{"type":"message","text":"` + strings.Repeat("é", 2001) + `"}`, "text must be 1 to 2000 characters"},
	}
	for i, tc := range invalid {
		if err := bad.c.Write(ctx, tc.typ, []byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		e := ofType(bad.wait(t, ctx, "an error", count("error", i+1)), "error")[i]
		if !strings.Contains(e.Error, tc.want) || e.TS == 0 {
			t.Errorf("%.30q: error %+v, want %q", tc.msg, e, tc.want)
		}
	}
	bad.send(t, ctx, strings.Repeat("é", 2000)) // valid: 2000 characters
	bad.wait(t, ctx, "the valid message", count("message", 1))
	if err := bad.c.Write(ctx, ws.MessageText, []byte("tenth")); err != nil {
		t.Fatal(err)
	}
	wantClose(t, "bad", bad.closed(t, ctx), ws.StatusPolicyViolation, "too many invalid messages")
	for _, ev := range other.wait(t, ctx, "bad's leave", has("leave", "bad")) {
		if ev.Type == "error" {
			t.Errorf("other received %+v", ev)
		}
	}
}

// TestRateLimit checks that a chat member sending faster than the rate limit is closed
// with 1008 "rate limit exceeded", and so is an echo connection.
func TestRateLimit(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{RateLimit: 0.5, RateBurst: 5}) // a token every 2 s
	cl := ts.join(t, ctx, "lobby", "fast")
	for range 20 {
		msg := []byte(`{"type":"message","text":"spam"}`)
		if cl.c.Write(ctx, ws.MessageText, msg) != nil {
			break // closed already
		}
	}
	wantClose(t, "chat", cl.closed(t, ctx), ws.StatusPolicyViolation, "rate limit exceeded")

	echo, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer echo.CloseNow()
	for i := 0; ; i++ {
		if err := echo.Write(ctx, ws.MessageText, []byte("spam")); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if _, _, err := echo.Read(ctx); err != nil {
			wantClose(t, "echo", err, ws.StatusPolicyViolation, "rate limit exceeded")
			if i != 5 {
				t.Errorf("closed at message %d, want 5 (the sixth, past the burst)", i)
			}
			break
		}
	}
}

// TestMessageTooBig checks that a message over MaxMessageSize closes the connection with
// 1009.
func TestMessageTooBig(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{MaxMessageSize: 1024})
	cl := ts.join(t, ctx, "lobby", "big")
	cl.send(t, ctx, strings.Repeat("x", 900)) // fits, with the JSON around it
	cl.wait(t, ctx, "the message", count("message", 1))
	if err := cl.c.Write(ctx, ws.MessageText, make([]byte, 1025)); err != nil {
		t.Fatal(err)
	}
	wantClose(t, "chat", cl.closed(t, ctx), ws.StatusMessageTooBig, "")
}

// TestHeartbeat checks that a peer that does not answer pings is dropped, while one that
// does stays.
func TestHeartbeat(t *testing.T) {
	ctx := testContext(t)
	ts := start(t, &server.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 500 * time.Millisecond})
	quiet, _, err := ws.Dial(ctx, ts.chatURL("lobby", "quiet"), nil) // never reads: no pongs
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.CloseNow()
	pings := make(chan struct{}, 100)
	c, _, err := ws.Dial(ctx, ts.chatURL("lobby", "alive"), &ws.DialOptions{
		ConnOptions: ws.ConnOptions{OnPing: func([]byte) {
			select {
			case pings <- struct{}{}:
			default:
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	alive := startClient(t, "alive", c)
	alive.wait(t, ctx, "quiet's leave", has("leave", "quiet"))
	for range 6 { // six times the interval, and alive is still in
		select {
		case <-pings:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	alive.send(t, ctx, "still here")
	alive.wait(t, ctx, "own message", count("message", 1))
}

// metric returns the value of the sample name (with its labels) at /metrics, or -1.
func metric(t *testing.T, ctx context.Context, ts *testServer, name string) float64 {
	t.Helper()
	_, body := get(t, ctx, http.DefaultClient, ts.http+"/metrics", nil)
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}
