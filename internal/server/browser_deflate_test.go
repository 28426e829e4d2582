package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duplex-ws/duplex/ws"
)

// browserEchoScript opens a WebSocket to the URL given as its first line, echoes text and
// binary messages of every size through it (compressible text, random bytes), checks each
// comes back unchanged, and resolves to a JSON summary: the negotiated extensions and one
// result per message.
const browserEchoScript = `(async (url, max) => {
  const sizes = [0, 1, 125, 126, 127, 1000, 65535, 65536, 1 << 20, 16 << 20].filter((n) => n <= max);
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("websocket error")); });
  const next = () => new Promise((resolve, reject) => {
    ws.onmessage = (e) => resolve(e.data);
    ws.onclose = (e) => reject(new Error("closed " + e.code + " " + e.reason));
  });
  const results = [];
  for (const size of sizes) {
    // Compressible text: a repeated phrase with non-ASCII runes, cut to size code units.
    const text = "websocket κόσμε compress me ".repeat(Math.ceil(size / 28) + 1).slice(0, size);
    let reply = next();
    ws.send(text);
    let got = await reply;
    results.push({kind: "text", size, ok: got === text});
    // Random bytes, which do not compress.
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
    reply = next();
    ws.send(bytes);
    got = new Uint8Array(await reply);
    let same = got.length === bytes.length;
    for (let i = 0; same && i < size; i++) same = got[i] === bytes[i];
    results.push({kind: "binary", size, ok: same});
  }
  const ext = ws.extensions;
  ws.close(1000);
  return JSON.stringify({ext, results});
})`

// TestBrowserCompressionEcho echoes messages from 0 B to 16 MiB, compressible and not,
// between headless Chromium, which always offers permessage-deflate (RFC 7692) with
// client_max_window_bits, and a Duplex server in each compression mode and two window
// sizes. 16 MiB messages go through the server's default mode only, to keep the run
// short under the race detector; the other modes go up to 1 MiB.
func TestBrowserCompressionEcho(t *testing.T) {
	b := newBrowser(t, 240*time.Second)
	for _, tc := range []struct {
		name string
		opts ws.CompressionOptions
		want string // the extension Chromium reports
		max  int    // the largest message
	}{
		{"off", ws.CompressionOptions{}, "", 1 << 20},
		{"no-takeover", ws.CompressionOptions{Mode: ws.CompressionNoContextTakeover},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 16 << 20},
		{"takeover", ws.CompressionOptions{Mode: ws.CompressionContextTakeover}, "permessage-deflate", 1 << 20},
		{"takeover-w9", ws.CompressionOptions{Mode: ws.CompressionContextTakeover, ServerMaxWindowBits: 9, ClientMaxWindowBits: 9},
			"permessage-deflate; server_max_window_bits=9; client_max_window_bits=9", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/echo" {
					w.Header().Set("Content-Type", "text/html")
					fmt.Fprint(w, "<!doctype html><title>echo</title>")
					return
				}
				c, err := ws.Accept(w, r, &ws.AcceptOptions{
					ConnOptions: ws.ConnOptions{ReadLimit: 32 << 20},
					Compression: tc.opts,
				})
				if err != nil {
					return
				}
				wg.Add(1)
				defer wg.Done()
				defer c.CloseNow()
				var buf []byte
				for {
					typ, msg, err := c.ReadAppend(r.Context(), buf[:0])
					if err != nil {
						return
					}
					if err := c.Write(r.Context(), typ, msg); err != nil {
						return
					}
					buf = msg
				}
			}))
			defer func() {
				srv.Close()
				wg.Wait()
			}()

			p := b.newPage(t, tc.name, 800, 600)
			p.do("opening the page", chromedp.Navigate(srv.URL+"/"))
			url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/echo"
			ctx, cancel := context.WithTimeout(p.ctx, 120*time.Second)
			defer cancel()
			out, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf("%s(%s, %d)", browserEchoScript, js(url), tc.max), chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("echo script: %v", err)
			}
			var summary struct {
				Ext     string
				Results []struct {
					Kind string
					Size int
					OK   bool
				}
			}
			if err := json.Unmarshal([]byte(out), &summary); err != nil {
				t.Fatalf("summary %q: %v", out, err)
			}
			if summary.Ext != tc.want {
				t.Errorf("negotiated %q, want %q", summary.Ext, tc.want)
			}
			want := 0
			for _, n := range []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 1 << 20, 16 << 20} {
				if n <= tc.max {
					want += 2
				}
			}
			if len(summary.Results) != want {
				t.Errorf("%d results, want %d", len(summary.Results), want)
			}
			for _, r := range summary.Results {
				if !r.OK {
					t.Errorf("%s message of %d: echo differs", r.Kind, r.Size)
				}
			}
		})
	}
}
