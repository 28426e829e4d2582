package bench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/internal/server"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// testContext bounds a test.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startServer runs duplex serve's server, configured by cfg, on a loopback port until the
// test ends, and returns its ws:// base URL.
func startServer(t testing.TB, cfg server.Config) string {
	t.Helper()
	s, err := server.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return "ws://" + ln.Addr().String()
}

// unlimited is the server's configuration without the limits that a load test exceeds.
func unlimited() server.Config {
	return server.Config{RateLimit: -1, MaxConnections: -1, MaxConnectionsPerIP: -1, MaxMessageSize: -1, PingInterval: -1}
}

// startEcho runs an echo server whose handler calls handle for each message read (nil
// echoes it at once), until the test ends, and returns its ws:// URL.
func startEcho(t testing.TB, handle func(c *ws.Conn, typ ws.MessageType, msg []byte) error) string {
	t.Helper()
	if handle == nil {
		handle = func(c *ws.Conn, typ ws.MessageType, msg []byte) error {
			return c.Write(context.Background(), typ, msg)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{Compression: ws.CompressionOptions{Mode: ws.CompressionNoContextTakeover}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			typ, msg, err := c.ReadAppend(context.Background(), buf[:0])
			if err != nil {
				return
			}
			buf = msg
			if handle(c, typ, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}
