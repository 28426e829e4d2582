package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestServerEchoes starts the testee and checks that it echoes text and binary messages,
// including one larger than the library's default read limit, as the suite's 9.* cases need.
func TestServerEchoes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var stderr bytes.Buffer
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- run(runCtx, []string{"-addr", "127.0.0.1:0"}, &stderr, ready) }()
	addr := <-ready

	c, _, err := ws.Dial(ctx, "ws://"+addr.String()+"/any/path", &ws.DialOptions{ConnOptions: ws.ConnOptions{ReadLimit: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0xAB}, 40<<20)
	for _, m := range []struct {
		typ ws.MessageType
		p   []byte
	}{{ws.MessageText, []byte("Hello")}, {ws.MessageBinary, nil}, {ws.MessageBinary, big}} {
		if err := c.Write(ctx, m.typ, m.p); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.p) {
			t.Fatalf("echo of %d-byte %v: got %v, %d bytes, %v", len(m.p), m.typ, typ, len(got), err)
		}
	}
	if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "autobahn testee listening") {
		t.Errorf("log: %s", stderr.String())
	}
}
