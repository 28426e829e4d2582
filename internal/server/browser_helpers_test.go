package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/duplex-ws/duplex/internal/server"
	"github.com/duplex-ws/duplex/internal/testenv"
)

// waitTimeout bounds each wait for the page to reach a state; newBrowser's timeout bounds
// the whole test.
const waitTimeout = 10 * time.Second

// runningServer is a duplex server on a loopback address, for the browser tests.
type runningServer struct {
	addr string // host:port
	url  string // the page: http://host:port/
	stop func() // shuts the server down (every connection gets 1001) and waits for Run
}

// runServer runs a server with the default configuration on addr ("127.0.0.1:0" for any
// port) until stop is called or the test ends.
func runServer(t *testing.T, addr string) *runningServer {
	t.Helper()
	srv, err := server.New(&server.Config{Addr: addr, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, ln) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("server on %s: Run: %v", ln.Addr(), err)
		}
	})
	t.Cleanup(stop)
	return &runningServer{addr: ln.Addr().String(), url: "http://" + ln.Addr().String() + "/", stop: stop}
}

// browser is one headless Chromium with a fresh profile, ended when the test ends.
type browser struct {
	ctx context.Context // has a tab open; new pages are tabs of the same browser
}

// newBrowser starts Chromium, which every action of the test must be done with within
// timeout, or skips the test (fails it in CI) when Chromium is not installed. The browser
// is closed when the test ends, after its pages and before the servers started earlier.
func newBrowser(t *testing.T, timeout time.Duration) *browser {
	t.Helper()
	exe := testenv.LookPath(t, "chromium", "apt-get install chromium")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	out := &lockedBuffer{}
	// chromedp's defaults, and spelled out the flags these tests rely on: no sandbox (CI
	// runs as root in a container), no GPU, no network but the test's (no QUIC, no
	// background fetches, no component updates, no sync).
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // waits for the browser process to exit
		if t.Failed() {
			t.Logf("chromium output (last 4 KiB, without D-Bus complaints):\n%s", out.tail(4096))
		}
	})
	// The first action starts the browser with a blank tab.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{ctx: bctx}
}

// page is one tab. Its methods fail the test, with what the page shows, when the page
// does not get where it should.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu         sync.Mutex
	exceptions []string
}

// newPage opens a tab with a viewport of w×h CSS pixels and records the JavaScript
// exceptions it throws, which fail the test.
func (b *browser) newPage(t *testing.T, name string, w, h int64) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	p := &page{t: t, name: name, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		cancel()
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.exceptions = append(p.exceptions, exceptionText(ev.ExceptionDetails))
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		for _, e := range p.exceptions {
			t.Errorf("%s: uncaught JavaScript exception: %s", name, e)
		}
		p.mu.Unlock()
		cancel()
		<-done
	})
	return p
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "(no details)"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", s, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

// do runs actions on the page.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v\n%s", p.name, what, err, p.describe())
	}
}

// waitFor polls the JavaScript expression until it is truthy.
func (p *page) waitFor(what, expr string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		p.t.Fatalf("%s: waiting for %s: %v\n%s", p.name, what, err, p.describe())
	}
}

// eval evaluates a JavaScript expression on p and decodes its value into a T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: evaluating %s: %v", p.name, expr, err)
	}
	return v
}

// open loads the page at url and waits for its script to have run.
func (p *page) open(url string) {
	p.t.Helper()
	p.do("opening "+url, chromedp.Navigate(url))
	p.waitFor("the page's script", `document.getElementById("messages") !== null && document.readyState === "complete"`)
}

// join fills in the nickname and the room (unless room is empty: the field keeps its
// value), presses Join and waits for the server's welcome.
func (p *page) join(name, room string) {
	p.t.Helper()
	p.submitJoin(name, room)
	p.waitState("connected")
	p.waitFor("the welcome", `document.getElementById("room-sub").textContent.startsWith("You are " + `+js(name)+` + " · ")`)
}

// submitJoin fills in the join form and presses Join.
func (p *page) submitJoin(name, room string) {
	p.t.Helper()
	actions := []chromedp.Action[chromedp.Void]{chromedp.SetValue(chromedp.ID("name"), name)}
	if room != "" {
		actions = append(actions, chromedp.SetValue(chromedp.ID("room"), room))
	}
	actions = append(actions, chromedp.Click(chromedp.ID("join")))
	p.do("joining", actions...)
}

// waitState waits for #status's data-state.
func (p *page) waitState(state string) {
	p.t.Helper()
	p.waitFor("state "+state, `document.getElementById("status").dataset.state === `+js(state))
}

// say types text into the composer and presses Enter.
func (p *page) say(text string) {
	p.t.Helper()
	p.do("saying "+text,
		chromedp.WaitEnabled(chromedp.ID("text")),
		chromedp.SendKeys(chromedp.ID("text"), text+"\r"),
	)
	p.waitFor("the composer to empty", `document.getElementById("text").value.trim() === ""`)
}

// chatMessage is one entry of #messages with data-testid="message".
type chatMessage struct {
	From string `json:"from"`
	Text string `json:"text"`
	Own  bool   `json:"own"`
	Time string `json:"time"`
}

const messagesJS = `[...document.querySelectorAll('#messages [data-testid="message"]')].map((li) => ({
	from: li.dataset.from, text: li.querySelector(".text").textContent,
	own: li.classList.contains("own"), time: li.querySelector("time").dateTime}))`

func (p *page) messages() []chatMessage {
	p.t.Helper()
	return eval[[]chatMessage](p, messagesJS)
}

// waitMessage waits for a message from a member with the text.
func (p *page) waitMessage(from, text string) chatMessage {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%s's message %q", from, text), fmt.Sprintf(
		`%s.some((m) => m.from === %s && m.text === %s)`, messagesJS, js(from), js(text)))
	for _, m := range p.messages() {
		if m.From == from && m.Text == text {
			return m
		}
	}
	panic("unreachable")
}

// waitNotice waits for a notice that contains text.
func (p *page) waitNotice(text string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("the notice %q", text), fmt.Sprintf(
		`[...document.querySelectorAll('#messages [data-testid="notice"]')].some((li) => li.textContent.includes(%s))`, js(text)))
}

const membersJS = `[...document.querySelectorAll('#members [data-testid="member"]')].map((li) => li.dataset.name)`

// waitMembers waits for the member list to be exactly names, in order.
func (p *page) waitMembers(names ...string) {
	p.t.Helper()
	want := js(names)
	p.waitFor("members "+want, fmt.Sprintf(
		`JSON.stringify(%s) === %s && document.getElementById("member-count").textContent === "%d"`,
		membersJS, js(want), len(names)))
}

func (p *page) text(id string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.getElementById(%s).textContent`, js(id)))
}

// describe returns what the page shows, for failure messages.
func (p *page) describe() string {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		url: location.href,
		status: document.getElementById("status")?.dataset.state + ": " + document.getElementById("status-text")?.textContent,
		joinError: document.getElementById("join-error")?.textContent,
		members: `+membersJS+`,
		log: [...document.querySelectorAll("#messages li")].map((li) => li.dataset.testid + ": " + li.innerText.replace(/\s+/g, " ")),
		echo: document.getElementById("echo-status-text")?.textContent,
	}, null, 1)`))
	if err != nil {
		return "(page state unavailable: " + err.Error() + ")"
	}
	return "page state: " + s
}

// js returns v as a JavaScript literal.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// lockedBuffer collects the browser's output, written from the allocator's goroutine.
type lockedBuffer struct{ testenv.Buffer }

// tail returns the last n bytes of the output, without the lines about D-Bus, which a
// container does not have and Chromium complains about at length.
func (b *lockedBuffer) tail(n int) string {
	var lines []string
	for line := range strings.Lines(b.String()) {
		if !strings.Contains(line, "dbus") {
			lines = append(lines, line)
		}
	}
	s := strings.Join(lines, "")
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
