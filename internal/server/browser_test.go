package server_test

// End-to-end tests of the page served at / (internal/server/web) in headless Chromium,
// against a real server on a loopback address. The page's stable ids are listed at the top
// of web/app.js. Each test is bounded by its context, and the three by 55 s in all.
// Regenerate docs/screenshot.png with
//
//	go test ./internal/server -run BrowserChat -update-screenshot

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write ../../docs/screenshot.png from TestBrowserChat")

// TestBrowserChat: two pages join the default room and see each other in the member list,
// each other's messages (their own set apart) with the server's timestamps, join and leave
// notices; a deliberate leave does not reconnect; a name in use is refused with the
// server's reason and not retried.
func TestBrowserChat(t *testing.T) {
	srv := runServer(t, "127.0.0.1:0")
	b := newBrowser(t, 20*time.Second)

	ada := b.newPage(t, "ada", 1200, 720)
	ada.open(srv.url)
	if got := eval[string](ada, `document.getElementById("room").value`); got != "lobby" {
		t.Fatalf("room field = %q, want the default lobby", got)
	}
	ada.join("ada", "")
	ada.waitMembers("ada")

	grace := b.newPage(t, "grace", 1200, 720)
	grace.open(srv.url)
	grace.join("grace", "lobby")
	grace.waitMembers("ada", "grace")
	ada.waitMembers("ada", "grace")
	ada.waitNotice("grace joined")

	conversation := []struct {
		who  *page
		text string
	}{
		{grace, "Hi Ada! Is the new build up?"},
		{ada, "Yes, deployed two minutes ago."},
		{ada, "Reconnects are much smoother now."},
		{grace, "Nice. I will try the echo tester next."},
		{ada, "Ship it."},
	}
	var want []chatMessage
	for _, line := range conversation {
		line.who.say(line.text)
		// Each line waits for the previous one to arrive on both pages, so that the log
		// has one order to compare.
		ada.waitMessage(line.who.name, line.text)
		grace.waitMessage(line.who.name, line.text)
		want = append(want, chatMessage{From: line.who.name, Text: line.text})
	}
	for _, p := range []*page{ada, grace} {
		got := p.messages()
		if len(got) != len(want) {
			t.Fatalf("%s shows %d messages, want %d: %+v", p.name, len(got), len(want), got)
		}
		for i, m := range got {
			if m.From != want[i].From || m.Text != want[i].Text {
				t.Errorf("%s: message %d = %s: %q, want %s: %q", p.name, i, m.From, m.Text, want[i].From, want[i].Text)
			}
			if own := m.From == p.name; m.Own != own {
				t.Errorf("%s: message %d from %s: own = %v, want %v", p.name, i, m.From, m.Own, own)
			}
			ts, err := time.Parse(time.RFC3339Nano, m.Time)
			if err != nil || time.Since(ts).Abs() > time.Minute {
				t.Errorf("%s: message %d has time %q (%v), want the server's ts, about now", p.name, i, m.Time, err)
			}
		}
	}

	if *updateScreenshot {
		// Without the composer's focus ring, and with no transition under way: the picture
		// is of the conversation.
		_, err := chromedp.Call(ada.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
		})
		if err != nil {
			t.Fatalf("emulating reduced motion: %v", err)
		}
		ada.do("blurring the composer", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
		png, err := chromedp.Run(ada.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join("..", "..", "docs", "screenshot.png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(png))
	}

	// A deliberate leave: the others see it, and the page stays out.
	grace.do("leaving", chromedp.Click(chromedp.ID("leave")))
	grace.waitState("idle")
	ada.waitNotice("grace left")
	ada.waitMembers("ada")
	ada.say("Bye Grace.")
	ada.waitMessage("ada", "Bye Grace.")
	if state := eval[string](grace, `document.getElementById("status").dataset.state`); state != "idle" {
		t.Errorf("after leaving, grace's page is %q, want idle (no reconnect)", state)
	}
	if n := len(grace.messages()); n != len(want) {
		t.Errorf("after leaving, grace's page shows %d messages, want the %d from before", n, len(want))
	}

	// A name in use in the room is refused before the upgrade (409): the page says why
	// and does not retry.
	grace.submitJoin("ada", "lobby")
	grace.waitState("disconnected")
	grace.waitFor("the refusal's reason", `document.getElementById("join-error").textContent !== ""`)
	if reason := grace.text("join-error"); !regexp.MustCompile(`(?i)\btaken\b`).MatchString(reason) {
		t.Errorf("refusal reason %q does not say the name is taken", reason)
	}
	if hidden := eval[bool](grace, `document.getElementById("join").hidden`); hidden {
		t.Error("after a refusal the Join button is hidden")
	}
	ada.waitMembers("ada")
}

// TestBrowserEcho: the echo tester round-trips text and binary messages on /ws/echo and
// counts them and times them.
func TestBrowserEcho(t *testing.T) {
	srv := runServer(t, "127.0.0.1:0")
	b := newBrowser(t, 15*time.Second)

	p := b.newPage(t, "echo", 1000, 700)
	p.open(srv.url + "#echo")
	p.waitFor("the echo tab", `document.getElementById("echo-tab").getAttribute("aria-selected") === "true" && !document.getElementById("echo-panel").hidden`)
	p.waitFor("the echo connection", `document.getElementById("echo-status").dataset.state === "connected"`)

	p.do("sending with Enter", chromedp.SendKeys(chromedp.ID("echo-text"), "hello, echo\r"))
	p.waitFor("one reply", `document.getElementById("echo-received").textContent === "1"`)
	p.do("sending with the button",
		chromedp.SetValue(chromedp.ID("echo-text"), "ünïcødé ✓"),
		chromedp.Click(chromedp.ID("echo-send")),
	)
	p.do("sending binary",
		chromedp.Click(chromedp.ID("echo-binary")),
		chromedp.SetValue(chromedp.ID("echo-text"), "as bytes"),
		chromedp.Click(chromedp.ID("echo-send")),
	)
	p.waitFor("three replies", `document.getElementById("echo-received").textContent === "3"`)

	if got := p.text("echo-sent"); got != "3" {
		t.Errorf("sent = %q, want 3", got)
	}
	type reply struct {
		Kind     string `json:"kind"`
		Text     string `json:"text"`
		RTT      string `json:"rtt"`
		Mismatch bool   `json:"mismatch"`
	}
	got := eval[[]reply](p, `[...document.querySelectorAll('#echo-log [data-testid="echo-reply"]')].map((li) => ({
		kind: li.querySelector(".tag").textContent, text: li.querySelector(".echo-text").textContent,
		rtt: li.querySelector(".rtt").textContent, mismatch: li.classList.contains("mismatch")}))`)
	rtt := regexp.MustCompile(`^\d+(\.\d+)? ms$`)
	want := []reply{{"binary", "as bytes", "", false}, {"text", "ünïcødé ✓", "", false}, {"text", "hello, echo", "", false}}
	for i := range got {
		if !rtt.MatchString(got[i].RTT) {
			t.Errorf("reply %d: round trip %q, want a time in ms", i, got[i].RTT)
		}
		got[i].RTT = ""
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replies, newest first:\n got %+v\nwant %+v", got, want)
	}
	for _, id := range []string{"echo-rtt", "echo-avg"} {
		if s := p.text(id); !rtt.MatchString(s) {
			t.Errorf("#%s = %q, want a time in ms", id, s)
		}
	}

	// Disconnected, the tester connects again to send.
	p.do("disconnecting", chromedp.Click(chromedp.ID("echo-connect")))
	p.waitFor("the echo tester to disconnect", `document.getElementById("echo-status").dataset.state === "idle"`)
	p.do("sending while disconnected", chromedp.Click(chromedp.ID("echo-send")))
	p.waitFor("a fourth reply", `document.getElementById("echo-received").textContent === "4" &&
		document.getElementById("echo-status").dataset.state === "connected"`)
}

// TestBrowserReconnect: when the server goes away (1001) the pages say so and retry by
// themselves; once a new server listens on the same address they are back in the room and
// chat again.
func TestBrowserReconnect(t *testing.T) {
	srv := runServer(t, "127.0.0.1:0")
	b := newBrowser(t, 20*time.Second)

	ada := b.newPage(t, "ada", 1000, 700)
	grace := b.newPage(t, "grace", 1000, 700)
	for _, p := range []*page{ada, grace} {
		p.open(srv.url)
		p.join(p.name, "ops")
	}
	ada.waitMembers("ada", "grace")
	ada.say("before the restart")
	grace.waitMessage("ada", "before the restart")

	srv.stop()
	for _, p := range []*page{ada, grace} {
		p.waitNotice("1001")
		p.waitFor("the retry countdown", `document.getElementById("status").dataset.state === "reconnecting" &&
			/^Reconnecting in \d+ s$/.test(document.getElementById("status-text").textContent)`)
		if !eval[bool](p, `document.getElementById("text").disabled`) {
			t.Errorf("%s: the composer is enabled while disconnected", p.name)
		}
	}

	srv = runServer(t, srv.addr)
	for _, p := range []*page{ada, grace} {
		p.waitState("connected")
		p.waitNotice("Reconnected to #ops")
		p.waitMembers("ada", "grace")
	}
	grace.say("after the restart")
	ada.waitMessage("grace", "after the restart")
	grace.waitMessage("grace", "after the restart")
}
