package server_test

import (
	"strings"
	"testing"

	"github.com/duplex-ws/duplex/internal/server"
	"github.com/duplex-ws/duplex/ws"
)

// TestCompression checks each --compression mode: what the server agrees to when a client
// offers permessage-deflate with context takeover, and that echo and chat work compressed.
func TestCompression(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want string // the Sec-WebSocket-Extensions answer
	}{
		{"", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"none", ""},
		{"no-takeover", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"takeover", "permessage-deflate"},
	} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			ctx := testContext(t)
			ts := start(t, &server.Config{Compression: tc.mode})
			opts := &ws.DialOptions{Compression: ws.CompressionOptions{Mode: ws.CompressionContextTakeover}}
			c, resp, err := ws.Dial(ctx, ts.ws+"/ws/echo", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != tc.want {
				t.Errorf("Sec-WebSocket-Extensions: %q, want %q", got, tc.want)
			}
			msg := strings.Repeat("compress me, ", 500)
			for range 3 {
				if err := c.Write(ctx, ws.MessageText, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
					t.Fatalf("echo: %d bytes, %v", len(got), err)
				}
			}
			c.Close(ws.StatusNormalClosure, "")

			// Chat broadcasts are prepared messages, compressed once for every member.
			chat, _, err := ws.Dial(ctx, ts.chatURL("lobby", "ada"), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer chat.CloseNow()
			if err := chat.WriteJSON(ctx, map[string]string{"type": "message", "text": msg[:1500]}); err != nil {
				t.Fatal(err)
			}
			for {
				var ev struct{ Type, Text string }
				if err := chat.ReadJSON(ctx, &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Type == "message" {
					if ev.Text != strings.TrimSpace(msg[:1500]) {
						t.Fatalf("chat message of %d bytes, want %d", len(ev.Text), len(msg[:1500]))
					}
					break
				}
			}
			chat.Close(ws.StatusNormalClosure, "")
		})
	}
	if _, err := server.New(&server.Config{Compression: "gzip"}); err == nil {
		t.Error(`New accepted Compression "gzip"`)
	}
}
