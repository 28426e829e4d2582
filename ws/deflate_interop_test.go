package ws_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Interop with compression: Duplex against Python's websockets and Node's ws, each as
// client and as server, with permessage-deflate agreed on both ends (the peer programs'
// --compression and --max-window-bits options), echoing compressible and incompressible
// messages of every size. Taps on Duplex's side of the TCP connection record the
// handshake and which frames each end compressed (RSV1). See interop_helpers_test.go for
// the harness and how to install the peers.

// deflateInteropConfig is how both ends are set up.
type deflateInteropConfig struct {
	mode ws.CompressionMode
	bits int // both windows; 0 leaves them at the default 15, unstated
}

func (c deflateInteropConfig) String() string {
	name := "takeover"
	if c.mode == ws.CompressionNoContextTakeover {
		name = "no-takeover"
	}
	if c.bits != 0 {
		name += "-" + strconv.Itoa(c.bits)
	}
	return name
}

// peerArgs are the peer program's options for c.
func (c deflateInteropConfig) peerArgs() []string {
	mode := "takeover"
	if c.mode == ws.CompressionNoContextTakeover {
		mode = "no-takeover"
	}
	args := []string{"--compression", mode}
	if c.bits != 0 {
		args = append(args, "--max-window-bits", strconv.Itoa(c.bits))
	}
	return args
}

// deflateInteropConfigs are the configurations tried with each peer.
var deflateInteropConfigs = map[string][]deflateInteropConfig{
	"python": {
		{ws.CompressionContextTakeover, 0}, {ws.CompressionContextTakeover, 9},
		{ws.CompressionNoContextTakeover, 0}, {ws.CompressionNoContextTakeover, 9},
	},
	"node": {{ws.CompressionContextTakeover, 0}, {ws.CompressionNoContextTakeover, 9}},
}

// deflateInteropConn is a compressed connection to a peer, with the taps.
type deflateInteropConn struct {
	*interopConn
	out, in *frameTap // what Duplex wrote and read
	agreed  string    // the Sec-WebSocket-Extensions of the 101 response
}

// connectDeflate opens a connection between Duplex and peer with cfg on both ends.
func connectDeflate(t *testing.T, peer interopPeer, duplexServer bool, cfg deflateInteropConfig) *deflateInteropConn {
	t.Helper()
	out, in := &frameTap{}, &frameTap{}
	copts := ws.CompressionOptions{Mode: cfg.mode, ServerMaxWindowBits: cfg.bits, ClientMaxWindowBits: cfg.bits, Threshold: -1}
	dc := &deflateInteropConn{out: out, in: in}
	if duplexServer {
		accepted := make(chan *ws.Conn, 1)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := ws.Accept(w, r, &ws.AcceptOptions{Compression: copts})
			accepted <- c
		}))
		srv.Listener = tapListener{srv.Listener, out, in}
		srv.Start()
		t.Cleanup(srv.Close)
		args := append(append([]string{"client"}, cfg.peerArgs()...), "ws"+strings.TrimPrefix(srv.URL, "http")+"/", interopScript())
		p := startInteropProc(t, peer, args...)
		select {
		case c := <-accepted:
			if c == nil {
				t.Fatal("Accept failed")
			}
			t.Cleanup(func() { c.CloseNow() })
			dc.interopConn = &interopConn{c: c, peer: p}
		case <-p.done:
			t.Fatalf("%s exited before connecting: %v; events %+v", p.name, p.waitErr, p.eventsOf(""))
		case <-time.After(interopTimeout):
			t.Fatalf("%s did not connect", p.name)
		}
		dc.agreed = out.header("Sec-WebSocket-Extensions")
	} else {
		server := startInteropProc(t, peer, append([]string{"server"}, cfg.peerArgs()...)...)
		port := server.wait(t, "", "listening").Port
		id := t.Name()
		u := "ws://127.0.0.1:" + strconv.Itoa(port) + "/?" + url.Values{"id": {id}, "script": {interopScript()}}.Encode()
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		c, resp, err := ws.Dial(ctx, u, &ws.DialOptions{
			Compression: copts,
			Proxy:       func(*http.Request) (*url.URL, error) { return nil, nil },
			NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				nc, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &tapConn{nc, out, in}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		dc.interopConn = &interopConn{c: c, peer: server, id: id}
		dc.agreed = resp.Header.Get("Sec-WebSocket-Extensions")
	}
	// The agreement says what both ends were told to do.
	want := []string{"permessage-deflate"}
	if cfg.mode == ws.CompressionNoContextTakeover {
		want = append(want, "server_no_context_takeover", "client_no_context_takeover")
	}
	if cfg.bits != 0 {
		want = append(want, "server_max_window_bits="+strconv.Itoa(cfg.bits), "client_max_window_bits="+strconv.Itoa(cfg.bits))
	}
	for _, w := range want {
		if !strings.Contains(dc.agreed, w) {
			t.Fatalf("agreed %q; want %s in it", dc.agreed, w)
		}
	}
	return dc
}

// checkCompressed checks that the data frames each end sent since the last call were
// compressed messages (RSV1 on every first frame).
func (dc *deflateInteropConn) checkCompressed(t *testing.T, what string) {
	t.Helper()
	for _, tap := range []struct {
		who string
		t   *frameTap
	}{{"Duplex", dc.out}, {"the peer", dc.in}} {
		first := true
		for _, f := range tap.t.take() {
			op := f.b0 & 0x0f
			if op >= 8 {
				continue
			}
			if first && f.b0&0x40 == 0 {
				t.Errorf("%s: %s sent a message uncompressed (first byte %#x)", what, tap.who, f.b0)
			}
			first = f.b0&0x80 != 0
		}
	}
}

// TestDeflateInterop echoes messages of every size, compressible and not, between Duplex
// and each peer, both compressing, in each configuration, Duplex as server and as client;
// one 16 MiB message per peer.
func TestDeflateInterop(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20}
	for _, peer := range interopPeers {
		for i, cfg := range deflateInteropConfigs[peer.name] {
			for _, duplexServer := range []bool{true, false} {
				name := peer.name + "-server-duplex-client"
				if duplexServer {
					name = peer.name + "-client-duplex-server"
				}
				t.Run(name+"/"+cfg.String(), func(t *testing.T) {
					t.Parallel()
					peer.command(t) // skips if the peer cannot run
					dc := connectDeflate(t, peer, duplexServer, cfg)
					t.Logf("agreed %q", dc.agreed)
					dc.out.take()
					dc.in.take()
					for _, n := range sizes {
						for _, kind := range []struct {
							typ    ws.MessageType
							random bool
						}{{ws.MessageText, false}, {ws.MessageBinary, false}, {ws.MessageBinary, true}} {
							if n == 1<<20 && kind.typ == ws.MessageText {
								continue // time: 1 MiB compressible as binary only
							}
							msg := modeMessage(kind.typ, n, kind.random)
							dc.echo(t, kind.typ, msg)
							dc.checkCompressed(t, fmt.Sprintf("%v of %d bytes (random %v)", kind.typ, n, kind.random))
						}
					}
					if i == 0 && duplexServer {
						msg := bytes.Repeat(deflatePayload(1000, true, 17), 16<<10) // compresses fast
						dc.echo(t, ws.MessageBinary, msg)
						dc.checkCompressed(t, "16 MiB")
					}
					dc.closeNormally(t)
				})
			}
		}
	}
}

// frameTap records the frames in a byte stream that starts with an HTTP message.
type frameTap struct {
	mu     sync.Mutex
	crlf   int    // bytes of "\r\n\r\n" seen at the end of the HTTP message so far; 4 once past it
	head   []byte // the HTTP message
	hdr    []byte
	skip   int64
	frames []tapFrame
}

// tapFrame is a frame's header as it went out.
type tapFrame struct {
	b0     byte // FIN, RSV and opcode
	length int64
}

func (t *frameTap) feed(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(p) > 0 {
		switch {
		case t.crlf < 4:
			switch {
			case p[0] == "\r\n\r\n"[t.crlf]:
				t.crlf++
			case p[0] == '\r':
				t.crlf = 1
			default:
				t.crlf = 0
			}
			t.head = append(t.head, p[0])
			p = p[1:]
		case t.skip > 0:
			n := min(int64(len(p)), t.skip)
			t.skip -= n
			p = p[n:]
		default:
			t.hdr = append(t.hdr, p[0])
			p = p[1:]
			if f, ok := parseInteropTapHeader(t.hdr); ok {
				t.frames = append(t.frames, tapFrame{t.hdr[0], f.length})
				t.skip = f.length
				t.hdr = t.hdr[:0]
			}
		}
	}
}

// take returns the frames recorded since the last call.
func (t *frameTap) take() []tapFrame {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.frames
	t.frames = nil
	return f
}

// dataBytes returns the payload bytes of data frames recorded, and forgets them.
func (t *frameTap) dataBytes() int64 {
	var n int64
	for _, f := range t.take() {
		if f.b0&0x0f < 8 {
			n += f.length
		}
	}
	return n
}

// header returns a field of the HTTP message, "" if it has none.
func (t *frameTap) header(name string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, line := range strings.Split(string(t.head), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// tapConn feeds what is written to a connection to out and, if it is not nil, what is
// read to in.
type tapConn struct {
	net.Conn
	out, in *frameTap
}

func (c *tapConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.feed(p[:n])
	return n, err
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.in != nil {
		c.in.feed(p[:n])
	}
	return n, err
}

type tapListener struct {
	net.Listener
	out, in *frameTap
}

func (l tapListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{nc, l.out, l.in}, nil
}
