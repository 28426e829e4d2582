package ws_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/duplex-ws/duplex/ws"
)

func TestSmokeEcho(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
		msg := []byte(strings.Repeat("x", size))
		if err := c.Write(ctx, ws.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != ws.MessageText || string(got) != string(msg) {
			t.Fatalf("size %d: %v %v %d", size, err, typ, len(got))
		}
	}
	if err := c.Close(ws.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
}
