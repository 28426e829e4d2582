package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/ws"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// fakeSuite plays the Autobahn fuzzing server's side of the testee protocol: a case count,
// cases that send messages and expect them echoed, and the reports request.
type fakeSuite struct {
	mu      sync.Mutex
	echoed  map[string]bool // case number → every message came back
	agent   string
	reports bool

	// With compression set, /runCase accepts permessage-deflate as the suite's cases 12.*
	// and 13.* do, and records what the client offered and whether its echoes were
	// compressed (counted by rsv1Messages in the bytes of the connection, a *tapConn).
	compression ws.CompressionOptions
	offers      map[string]string // case number → Sec-WebSocket-Extensions offered
	compressed  map[string]int    // case number → echoes compressed
}

func (f *fakeSuite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var opts ws.AcceptOptions
	if r.URL.Path == "/runCase" {
		opts.Compression = f.compression
	}
	c, err := ws.Accept(w, r, &opts)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	switch r.URL.Path {
	case "/getCaseCount":
		c.Write(ctx, ws.MessageText, []byte("2"))
		c.Close(ws.StatusNormalClosure, "")
	case "/runCase":
		msgs := []struct {
			typ ws.MessageType
			p   []byte
		}{{ws.MessageText, []byte("κόσμε")}, {ws.MessageBinary, bytes.Repeat([]byte{1}, 70000)}}
		ok := true
		for _, m := range msgs {
			c.Write(ctx, m.typ, m.p)
			typ, got, err := c.Read(ctx)
			ok = ok && err == nil && typ == m.typ && bytes.Equal(got, m.p)
		}
		f.mu.Lock()
		f.echoed[r.URL.Query().Get("case")] = ok
		f.agent = r.URL.Query().Get("agent")
		if f.offers != nil {
			f.offers[r.URL.Query().Get("case")] = r.Header.Get("Sec-WebSocket-Extensions")
			if tc, ok := r.Context().Value(tapKey{}).(*tapConn); ok {
				f.compressed[r.URL.Query().Get("case")] = tc.rsv1Messages()
			}
		}
		f.mu.Unlock()
		c.Close(ws.StatusNormalClosure, "")
	case "/updateReports":
		f.mu.Lock()
		f.reports = true
		f.mu.Unlock()
		c.Close(ws.StatusNormalClosure, "")
	}
}

func TestClientRunsEveryCase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	suite := &fakeSuite{echoed: map[string]bool{}}
	srv := httptest.NewServer(suite)
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	if err := run(ctx, []string{"-url", url, "-agent", "duplex test"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	suite.mu.Lock()
	defer suite.mu.Unlock()
	if !suite.echoed["1"] || !suite.echoed["2"] || len(suite.echoed) != 2 {
		t.Errorf("cases echoed: %v", suite.echoed)
	}
	if suite.agent != "duplex test" || !suite.reports {
		t.Errorf("agent %q, reports %v", suite.agent, suite.reports)
	}
	want := "case 1/2: closed 1000\ncase 2/2: closed 1000\nreports updated\n"
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
}

// TestClientCompression runs the client with each -compress mode against a suite that
// accepts permessage-deflate: the cases' dials offer what the mode says (RFC 7692 §7.1),
// and with compression agreed the client's echoes are compressed (RSV1, §6).
func TestClientCompression(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		offer string
	}{
		{"none", ""},
		{"no-takeover", "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"},
		{"takeover", "permessage-deflate; client_max_window_bits"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			suite := &fakeSuite{
				echoed:      map[string]bool{},
				compression: ws.CompressionOptions{Mode: ws.CompressionContextTakeover},
				offers:      map[string]string{},
				compressed:  map[string]int{},
			}
			srv := httptest.NewUnstartedServer(suite)
			srv.Listener = tapListener{srv.Listener}
			srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, tapKey{}, c)
			}
			srv.Start()
			defer srv.Close()

			var stdout, stderr bytes.Buffer
			url := "ws" + strings.TrimPrefix(srv.URL, "http")
			if err := run(ctx, []string{"-url", url, "-compress", tc.mode}, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			suite.mu.Lock()
			defer suite.mu.Unlock()
			if !suite.echoed["1"] || !suite.echoed["2"] {
				t.Errorf("cases echoed: %v", suite.echoed)
			}
			for _, n := range []string{"1", "2"} {
				if suite.offers[n] != tc.offer {
					t.Errorf("case %s offered %q; want %q", n, suite.offers[n], tc.offer)
				}
				want := 2 // both echoes
				if tc.mode == "none" {
					want = 0
				}
				if suite.compressed[n] != want {
					t.Errorf("case %s: %d echoes compressed; want %d", n, suite.compressed[n], want)
				}
			}
		})
	}
	if err := run(context.Background(), []string{"-compress", "br"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "br") {
		t.Errorf("-compress br: %v", err)
	}
}

type tapKey struct{}

// tapConn keeps what a server connection read: an HTTP request, then a client's masked
// frames.
type tapConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.buf = append(c.buf, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// rsv1Messages counts the data messages read so far whose first frame has RSV1.
func (c *tapConn) rsv1Messages() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		b = b[i+4:]
	}
	count, first := 0, true
	for len(b) >= 2 {
		n, hdr := int(b[1]&0x7f), 2
		switch n {
		case 126:
			n, hdr = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, hdr = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		hdr += 4 // the masking key
		if op := b[0] & 0x0f; op < 8 {
			if first && b[0]&0x40 != 0 {
				count++
			}
			first = b[0]&0x80 != 0
		}
		b = b[min(len(b), hdr+n):]
	}
	return count
}

type tapListener struct{ net.Listener }

func (l tapListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: nc}, nil
}
