package hub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/duplex-ws/duplex/hub"
	"github.com/duplex-ws/duplex/ws"
)

// epoch is the fixed clock of the tests' events: 1700000000000 ms.
var epoch = time.UnixMilli(1700000000000)

func newHub(t *testing.T, opts *hub.Options) *hub.Hub {
	t.Helper()
	o := hub.Options{Now: func() time.Time { return epoch }}
	if opts != nil {
		o = *opts
		o.Now = func() time.Time { return epoch }
	}
	h := hub.New(&o)
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// join reserves name in room and joins it with a new fakeConn.
func join(t *testing.T, h *hub.Hub, room, name string) (*hub.Member, *fakeConn) {
	t.Helper()
	return joinConn(t, h, room, name, newFakeConn())
}

func joinConn(t *testing.T, h *hub.Hub, room, name string, c *fakeConn) (*hub.Member, *fakeConn) {
	t.Helper()
	m, err := h.Reserve(room, name)
	if err != nil {
		t.Fatalf("Reserve(%q, %q): %v", room, name, err)
	}
	if err := m.Join(c); err != nil {
		t.Fatalf("Join(%q, %q): %v", room, name, err)
	}
	return m, c
}

// TestEvents checks the bytes of every event against docs/chat-protocol.md: the joining
// member's welcome first, then its join, which everyone receives; messages to everyone,
// the sender included; errors to the sender alone; leaves to the others.
func TestEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, nil)
		ada, adaConn := join(t, h, "lobby", "ada")
		bob, bobConn := join(t, h, "lobby", "bob")
		ada.Publish("hello")
		bob.SendError("text must be 1 to 2000 characters")
		synctest.Wait() // a member that leaves gets nothing more, even what is queued
		bob.Leave(ws.StatusNormalClosure, "")
		<-bob.Done()
		synctest.Wait()

		wantAda := []string{
			`{"type":"welcome","room":"lobby","name":"ada","members":["ada"],"ts":1700000000000}`,
			`{"type":"join","room":"lobby","name":"ada","members":["ada"],"ts":1700000000000}`,
			`{"type":"join","room":"lobby","name":"bob","members":["ada","bob"],"ts":1700000000000}`,
			`{"type":"message","room":"lobby","from":"ada","text":"hello","ts":1700000000000}`,
			`{"type":"leave","room":"lobby","name":"bob","members":["ada"],"ts":1700000000000}`,
		}
		wantBob := []string{
			`{"type":"welcome","room":"lobby","name":"bob","members":["ada","bob"],"ts":1700000000000}`,
			`{"type":"join","room":"lobby","name":"bob","members":["ada","bob"],"ts":1700000000000}`,
			`{"type":"message","room":"lobby","from":"ada","text":"hello","ts":1700000000000}`,
			`{"type":"error","error":"text must be 1 to 2000 characters","ts":1700000000000}`,
		}
		if got := adaConn.events(); !slices.Equal(got, wantAda) {
			t.Errorf("ada received\n%s\nwant\n%s", lines(got), lines(wantAda))
		}
		if got := bobConn.events(); !slices.Equal(got, wantBob) {
			t.Errorf("bob received\n%s\nwant\n%s", lines(got), lines(wantBob))
		}
		if code, _ := bobConn.closedWith(); code != ws.StatusNormalClosure || !bobConn.isClosed() {
			t.Errorf("bob's connection: closed %v with %v, want closed with 1000", bobConn.isClosed(), code)
		}
	})
}

func sameMessage(a, b event) bool { return a.From == b.From && a.Text == b.Text }

func lines(s []string) string {
	out := ""
	for _, l := range s {
		out += "\t" + l + "\n"
	}
	return out
}

// TestNames checks that a name is held from Reserve until the member leaves, in its room
// only, and that a reserved member that never joins gives its name back.
func TestNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, nil)
		reserved, err := h.Reserve("lobby", "ada")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Reserve("lobby", "ada"); !errors.Is(err, hub.ErrNameTaken) {
			t.Fatalf("second Reserve of a reserved name: %v, want ErrNameTaken", err)
		}
		reserved.Leave(ws.StatusNormalClosure, "")
		<-reserved.Done()
		if err := reserved.Join(newFakeConn()); !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Join after Leave: %v, want ErrClosed", err)
		}

		ada, _ := join(t, h, "lobby", "ada")
		if _, err := h.Reserve("lobby", "ada"); !errors.Is(err, hub.ErrNameTaken) {
			t.Fatalf("Reserve of a joined name: %v, want ErrNameTaken", err)
		}
		join(t, h, "other", "ada") // another room
		ada.Leave(ws.StatusNormalClosure, "")
		<-ada.Done()
		join(t, h, "lobby", "ada")
	})
}

// TestRoomsIsolate checks that a room's events reach its members only.
func TestRoomsIsolate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, nil)
		a, aConn := join(t, h, "a", "ada")
		_, bConn := join(t, h, "b", "bob")
		a.Publish("only in a")
		synctest.Wait()
		if n := len(ofType(aConn.decoded(t), "message")); n != 1 {
			t.Errorf("room a received %d messages, want 1", n)
		}
		for _, ev := range bConn.decoded(t) {
			if ev.Room != "b" || ev.Name == "ada" || ev.Type == "message" {
				t.Errorf("room b received %+v", ev)
			}
		}
		if got := h.Stats(); got.Rooms != 2 || got.Members != 2 {
			t.Errorf("Stats = %+v, want 2 rooms, 2 members", got)
		}
	})
}

// TestOrder has members publish at the same time and checks that every member receives
// every message, all in one order, each sender's in the order sent.
func TestOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const members, each = 5, 100
		h := newHub(t, &hub.Options{QueueSize: members * each * 2})
		var ms []*hub.Member
		var conns []*fakeConn
		for i := range members {
			m, c := join(t, h, "lobby", fmt.Sprint("m", i))
			ms = append(ms, m)
			conns = append(conns, c)
		}
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(func() {
				for i := range each {
					m.Publish(fmt.Sprint(i))
				}
			})
		}
		wg.Wait()
		synctest.Wait()

		first := ofType(conns[0].decoded(t), "message")
		if len(first) != members*each {
			t.Fatalf("received %d messages, want %d", len(first), members*each)
		}
		next := map[string]int{}
		for _, ev := range first {
			if ev.Text != fmt.Sprint(next[ev.From]) {
				t.Fatalf("from %s: %q, want %d", ev.From, ev.Text, next[ev.From])
			}
			next[ev.From]++
		}
		for i, c := range conns[1:] {
			if got := ofType(c.decoded(t), "message"); !slices.EqualFunc(got, first, sameMessage) {
				t.Errorf("member %d received another order than member 0", i+1)
			}
		}
	})
}

// TestSlowConsumerQueueFull has a member that reads nothing: once its queue is full, it is
// dropped and announced, while publishing never waits and the others receive everything;
// its connection is closed with 1008 "slow consumer" when the stuck write times out.
func TestSlowConsumerQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const queue, sent = 4, 50
		h := newHub(t, &hub.Options{QueueSize: queue, WriteTimeout: 10 * time.Second})
		stuckConn := newFakeConn()
		stuckConn.stuck = true
		stuck, _ := joinConn(t, h, "lobby", "stuck", stuckConn)
		ada, adaConn := join(t, h, "lobby", "ada")

		start := time.Now()
		for i := range sent {
			ada.Publish(fmt.Sprint(i))
			synctest.Wait() // ada's writer keeps up; stuck's does not
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("publishing took %v of the fake clock: it waited for a connection", d)
		}
		evs := adaConn.decoded(t)
		if n := len(ofType(evs, "message")); n != sent {
			t.Errorf("ada received %d messages, want %d", n, sent)
		}
		leaves := ofType(evs, "leave")
		if len(leaves) != 1 || leaves[0].Name != "stuck" || !slices.Equal(leaves[0].Members, []string{"ada"}) {
			t.Errorf("ada's leave events: %+v, want stuck's, members [ada]", leaves)
		}
		if got := h.Stats(); got.SlowConsumers != 1 || got.Members != 1 {
			t.Errorf("Stats = %+v, want 1 slow consumer, 1 member", got)
		}

		<-stuck.Done() // after the stuck write's WriteTimeout
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("the stuck connection was closed after %v, want the write timeout, 10s", d)
		}
		if code, reason := stuckConn.closedWith(); code != ws.StatusPolicyViolation || reason != hub.ReasonSlowConsumer {
			t.Errorf("stuck connection closed with %v %q, want 1008 %q", code, reason, hub.ReasonSlowConsumer)
		}
	})
}

// TestSlowConsumerWriteTimeout has a member whose queue never fills but whose connection
// accepts nothing: it is dropped when its write times out.
func TestSlowConsumerWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, &hub.Options{WriteTimeout: 3 * time.Second})
		stuckConn := newFakeConn()
		stuckConn.stuck = true
		stuck, _ := joinConn(t, h, "lobby", "stuck", stuckConn)
		_, adaConn := join(t, h, "lobby", "ada")
		start := time.Now()
		<-stuck.Done()
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("dropped after %v, want 3s", d)
		}
		if code, reason := stuckConn.closedWith(); code != ws.StatusPolicyViolation || reason != hub.ReasonSlowConsumer {
			t.Errorf("closed with %v %q, want 1008 %q", code, reason, hub.ReasonSlowConsumer)
		}
		synctest.Wait()
		if leaves := ofType(adaConn.decoded(t), "leave"); len(leaves) != 1 || leaves[0].Name != "stuck" {
			t.Errorf("ada's leave events: %+v, want stuck's", leaves)
		}
		if got := h.Stats(); got.SlowConsumers != 1 {
			t.Errorf("Stats = %+v, want 1 slow consumer", got)
		}
	})
}

// TestLostConnection checks that a member whose connection fails leaves, announced.
func TestLostConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, nil)
		_, adaConn := join(t, h, "lobby", "ada")
		bob, bobConn := join(t, h, "lobby", "bob")
		bobConn.CloseNow()
		bob.SendError("to a closed connection") // its write fails
		<-bob.Done()
		synctest.Wait()
		if leaves := ofType(adaConn.decoded(t), "leave"); len(leaves) != 1 || leaves[0].Name != "bob" {
			t.Errorf("ada's leave events: %+v, want bob's", leaves)
		}
		if got := h.Stats(); got.SlowConsumers != 0 || got.Members != 1 {
			t.Errorf("Stats = %+v, want no slow consumer, 1 member", got)
		}
	})
}

// TestClose checks that Close closes every connection with 1001, waits for the writers,
// and refuses new members.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, nil)
		var conns []*fakeConn
		for _, room := range []string{"a", "b"} {
			for _, name := range []string{"ada", "bob"} {
				_, c := join(t, h, room, name)
				conns = append(conns, c)
			}
		}
		pending, err := h.Reserve("a", "cy")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i, c := range conns {
			code, reason := c.closedWith()
			if !c.isClosed() || code != ws.StatusGoingAway || reason != hub.ReasonShutdown {
				t.Errorf("connection %d: closed %v with %v %q, want 1001 %q", i, c.isClosed(), code, reason, hub.ReasonShutdown)
			}
			if n := len(ofType(c.decoded(t), "leave")); n != 0 {
				t.Errorf("connection %d received %d leave events, want none at shutdown", i, n)
			}
		}
		if err := pending.Join(newFakeConn()); !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Join after Close: %v, want ErrClosed", err)
		}
		<-pending.Done()
		if _, err := h.Reserve("a", "dee"); !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Reserve after Close: %v, want ErrClosed", err)
		}
		if got := h.Stats(); got != (hub.Stats{}) {
			t.Errorf("Stats after Close = %+v, want zero", got)
		}
	})
}

// TestCloseTimeout has a peer that never answers the closing handshake: Close gives up
// when its context ends, closes the connection at once and returns the context's error.
func TestCloseTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, nil)
		c := newFakeConn()
		c.closeHang = true
		m, _ := joinConn(t, h, "lobby", "ada", c)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := h.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Close returned after %v, want 2s", d)
		}
		if !c.isClosed() {
			t.Error("the connection is still open")
		}
		select {
		case <-m.Done():
		default:
			t.Error("Close returned before the member's writer ended")
		}
	})
}

// TestChurn has members join, publish and leave in a few rooms from many goroutines at
// once, some of them stuck, while the hub closes: for the race detector, and to check that
// every member ends and the counters return to zero.
func TestChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, &hub.Options{QueueSize: 8, WriteTimeout: time.Second})
		var wg sync.WaitGroup
		for g := range 12 {
			wg.Go(func() {
				for i := range 30 {
					room := fmt.Sprint("room", (g+i)%3)
					m, err := h.Reserve(room, fmt.Sprint("g", g))
					if errors.Is(err, hub.ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("Reserve: %v", err)
						return
					}
					c := newFakeConn()
					c.stuck = (g+i)%5 == 0
					if err := m.Join(c); err != nil {
						<-m.Done()
						return
					}
					for j := range i % 7 {
						m.Publish(fmt.Sprint(j))
					}
					if i%4 == 0 {
						m.SendError("oops")
					}
					m.Leave(ws.StatusNormalClosure, "")
					<-m.Done()
					if !c.isClosed() {
						t.Errorf("a member's connection is open after Done")
					}
				}
			})
		}
		time.Sleep(500 * time.Millisecond) // of the fake clock: let the churn run a while
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
		if got := h.Stats(); got.Rooms != 0 || got.Members != 0 {
			t.Errorf("Stats after the churn = %+v, want no rooms and no members", got)
		}
	})
}
