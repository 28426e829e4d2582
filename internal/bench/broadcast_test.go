package bench

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBenchBroadcast checks that every subscriber receives every message published, timed,
// and that the warm-up's are left out.
func TestBenchBroadcast(t *testing.T) {
	base := startServer(t, unlimited())
	const subs, rate = 5, 200
	var last Progress
	res, err := Broadcast(testContext(t), Config{URL: base, Subscribers: subs, Rate: rate, Size: 100,
		Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond,
		ProgressInterval: 10 * time.Millisecond, Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if last.Phase != "done" || last.Messages < res.Received || last.Open != 0 {
		t.Errorf("last progress %+v", last)
	}
	checkCounts(t, res, subs)
	checkErrors(t, res, map[string]int64{})
	// 60 messages are due in the window, 80 with the warm-up.
	if res.Sent < 58 || res.Sent > 62 {
		t.Errorf("published %d, want the 60 due after the warm-up", res.Sent)
	}
	if res.Received != subs*res.Sent || res.Lost != 0 || res.InFlight != 0 {
		t.Errorf("%d deliveries (lost %d, in flight %d) of %d messages to %d subscribers", res.Received, res.Lost, res.InFlight, res.Sent, subs)
	}
	if res.Connected != subs || res.Subscribers != subs || !strings.HasPrefix(res.Room, "bench-") || res.URL != base+"/ws/chat" {
		t.Errorf("%d of %d subscribers in room %q at %s", res.Connected, res.Subscribers, res.Room, res.URL)
	}
	if res.Bytes != res.Received*100 {
		t.Errorf("%d bytes in %d deliveries of 100", res.Bytes, res.Received)
	}
	if want := float64(subs * rate); res.MessagesPerSecond < 0.8*want || res.MessagesPerSecond > 1.2*want {
		t.Errorf("%v deliveries/s, want %v ± 20%%", res.MessagesPerSecond, want)
	}
}

// TestBenchBroadcastBursts checks that messages published in bursts, at the same rate, all
// arrive, and that the result says they came in bursts.
func TestBenchBroadcastBursts(t *testing.T) {
	base := startServer(t, unlimited())
	const subs, rate, burst = 4, 200, 8
	res, err := Broadcast(testContext(t), Config{URL: base, Subscribers: subs, Rate: rate, Burst: burst, Size: 100,
		Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, subs)
	checkErrors(t, res, map[string]int64{})
	// 25 bursts a second: 10 in the window, of 8 messages each.
	if res.Sent%burst != 0 || res.Sent < 72 || res.Sent > 88 {
		t.Errorf("published %d, want the 80 due after the warm-up, in bursts of %d", res.Sent, burst)
	}
	if res.Received != subs*res.Sent || res.Burst != burst {
		t.Errorf("%d deliveries of %d messages to %d subscribers; burst %d", res.Received, res.Sent, subs, res.Burst)
	}
	var table strings.Builder
	res.WriteTable(&table)
	if !strings.Contains(table.String(), "msgs/s in bursts of 8") {
		t.Errorf("the table does not say the messages came in bursts:\n%s", table.String())
	}
}

// TestBenchBroadcastRateLimited checks that a publisher the server disconnects is counted as
// an error, its messages not delivered as lost.
func TestBenchBroadcastRateLimited(t *testing.T) {
	cfg := unlimited()
	cfg.RateLimit, cfg.RateBurst = 20, 5
	base := startServer(t, cfg)
	res, err := Broadcast(testContext(t), Config{URL: base + "/ws/chat", Subscribers: 3, Rate: 200,
		Duration: 300 * time.Millisecond, Drain: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, 3)
	checkErrors(t, res, map[string]int64{kindClosed: 1})
	if res.InFlight != 0 || res.Received == 0 || res.Duration >= 0.3 {
		t.Errorf("received %d, lost %d, in flight %d in %vs", res.Received, res.Lost, res.InFlight, res.Duration)
	}
	if !strings.Contains(res.Errors[0].First, "rate limit") {
		t.Errorf("error %q", res.Errors[0].First)
	}
}

func TestBenchDeliveryText(t *testing.T) {
	msg, text := newChatMessage(MinBroadcastSize + 3)
	putHex(text[:timeHexLen], 123456789)
	putHex(text[timeHexLen:timestampLen], 42)
	delivered := `{"type":"message","room":"r","from":"pub","text":"` + string(text) + `","ts":1}`
	due, end, ok := parseDelivery([]byte(delivered), len(text))
	if !ok || end || due != 123456789 {
		t.Errorf("%s: %d, %v, %v", delivered, due, end, ok)
	}
	if !strings.HasPrefix(string(msg), `{"type":"message","text":"00000000075bcd150000002a..."}`) {
		t.Errorf("message %s", msg)
	}
	for _, bad := range []string{`{"type":"message","text":"short"}`, `{"type":"message"}`, `{"type":"message","text":"zz` + string(text[2:]) + `"}`} {
		if _, _, ok := parseDelivery([]byte(bad), len(text)); ok {
			t.Errorf("%s parsed", bad)
		}
	}
	copy(text, endMark)
	if _, end, ok := parseDelivery(msg, len(text)); !ok || !end {
		t.Errorf("%s: not the end", msg)
	}
}

// TestBenchBroadcastInterrupted checks that a run whose context ends stops at once, with the
// measurements so far.
func TestBenchBroadcastInterrupted(t *testing.T) {
	base := startServer(t, unlimited())
	ctx, cancel := context.WithCancel(testContext(t))
	var once sync.Once
	res, err := Broadcast(ctx, Config{URL: base, Subscribers: 3, Rate: 500, Duration: time.Hour, ProgressInterval: 10 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Phase == "measuring" && p.Messages > 30 {
				once.Do(cancel)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Received == 0 || res.Duration > 10 {
		t.Errorf("interrupted %v after %vs with %d deliveries", res.Interrupted, res.Duration, res.Received)
	}
	checkCounts(t, res, 3)
	checkErrors(t, res, map[string]int64{})
}
