package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/duplex-ws/duplex/internal/testenv"
	"github.com/duplex-ws/duplex/ws"
)

// This file is the harness of the interop tests: Duplex on one end of a loopback TCP
// connection and, on the other, a real WebSocket library run as a separate process, the
// peer programs of internal/peers. A peer follows a script of actions (see peer.py's
// documentation) while echoing every message, and reports events as lines of JSON on
// its stdout, which the harness collects; the tests wait for those events, never for time.

// interopTimeout bounds each wait of a test, and interopProcTimeout each peer process,
// which may serve all the connections of a test.
const (
	interopTimeout     = 30 * time.Second
	interopProcTimeout = 2 * time.Minute
)

// interopPeer is a WebSocket implementation to test against.
type interopPeer struct {
	name string
	// command returns the command line that runs the peer program with args, skipping t
	// (failing it in CI) when the peer cannot run here.
	command func(t testing.TB, args ...string) []string
	// needsSubprotocol is set for a client that fails the handshake when it offered
	// subprotocols and the server agreed none, which RFC 6455 §4.1 allows but does not
	// require.
	needsSubprotocol bool
}

var interopPeers = []interopPeer{
	{name: "python", command: interopPython},
	{name: "node", command: interopNode, needsSubprotocol: true},
}

// interopRepoRoot is the repository's root: the tests run in ws/.
func interopRepoRoot(t testing.TB) string {
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// interopPythonCheck finds a Python that can import the websockets library, once per
// test binary.
var interopPythonCheck = sync.OnceValues(func() (string, error) {
	python := os.Getenv("DUPLEX_PYTHON")
	if python == "" {
		// Debian's python3-websockets is installed for the system Python, which a version
		// manager's python3 earlier in PATH (pyenv) would not see.
		python = "/usr/bin/python3"
		if _, err := os.Stat(python); err != nil {
			if python, err = exec.LookPath("python3"); err != nil {
				return "", fmt.Errorf("python3 not found; install Python 3 and python3-websockets")
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c",
		"import websockets.legacy.client, websockets.legacy.server").CombinedOutput()
	if err != nil {
		if out = bytes.TrimSpace(out); len(out) > 0 {
			err = fmt.Errorf("%w: %s", err, out[bytes.LastIndexByte(out, '\n')+1:])
		}
		return "", fmt.Errorf("%s cannot import websockets (%v); apt-get install python3-websockets, or pip install websockets==10.4, or set DUPLEX_PYTHON", python, err)
	}
	return python, nil
})

func interopPython(t testing.TB, args ...string) []string {
	t.Helper()
	python, err := interopPythonCheck()
	if err != nil {
		testenv.Need(t, false, err.Error())
	}
	return append([]string{python, filepath.Join(interopRepoRoot(t), "internal", "peers", "peer.py")}, args...)
}

func interopNode(t testing.TB, args ...string) []string {
	t.Helper()
	node := testenv.LookPath(t, "node", "install Node.js 18 or later")
	root := interopRepoRoot(t)
	_, err := os.Stat(filepath.Join(root, "node_modules", "ws", "package.json"))
	testenv.Need(t, err == nil, "node_modules/ws not installed; run npm ci in "+root)
	return append([]string{node, filepath.Join(root, "internal", "peers", "peer.js")}, args...)
}

// interopEvent is a line that a peer printed: Event is listening, open, pong, error or
// closed, or output for a line that is not JSON.
type interopEvent struct {
	ID          string   `json:"id"`
	Event       string   `json:"event"`
	Port        int      `json:"port"`
	Subprotocol string   `json:"subprotocol"`
	Offered     []string `json:"offered"`
	Data        string   `json:"data"`
	Code        int      `json:"code"`
	Reason      string   `json:"reason"`
	Error       string   `json:"error"`
}

// interopProc is a running peer program.
type interopProc struct {
	name   string
	cmd    *exec.Cmd
	stderr bytes.Buffer  // read once done is closed
	done   chan struct{} // closed once the process has exited and its output is read

	mu      sync.Mutex
	events  []interopEvent
	changed chan struct{} // closed, and replaced, when events grows or the process exits
	exited  bool
	waitErr error
}

// startInteropProc starts a peer program, which is killed and waited for when t ends.
func startInteropProc(t testing.TB, peer interopPeer, args ...string) *interopProc {
	t.Helper()
	argv := peer.command(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), interopProcTimeout)
	p := &interopProc{
		name:    peer.name + " " + strings.Join(args, " "),
		cmd:     exec.CommandContext(ctx, argv[0], argv[1:]...),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", p.name, err)
	}
	go p.collect(stdout)
	t.Cleanup(func() {
		p.kill()
		<-p.done
		cancel()
		if t.Failed() {
			t.Logf("%s: %v; stderr:\n%s", p.name, p.waitErr, p.stderr.String())
		}
	})
	return p
}

// collect records the events the process prints, then waits for it to exit.
func (p *interopProc) collect(stdout io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var e interopEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			e = interopEvent{Event: "output", Data: sc.Text()}
		}
		p.mu.Lock()
		p.events = append(p.events, e)
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exited, p.waitErr = true, err
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// kill ends the process at once, as a crash would: its sockets are closed by the kernel
// with no close frame.
func (p *interopProc) kill() { p.cmd.Process.Kill() }

// waitEvent waits for the first event of connection id that match accepts, and fails t if
// the process exits or interopTimeout passes first.
func (p *interopProc) waitEvent(t testing.TB, id string, what string, match func(interopEvent) bool) interopEvent {
	t.Helper()
	timeout := time.NewTimer(interopTimeout)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		for _, e := range p.events {
			if e.ID == id && match(e) {
				p.mu.Unlock()
				return e
			}
		}
		exited, changed := p.exited, p.changed
		p.mu.Unlock()
		if exited {
			t.Fatalf("%s exited (%v) before %s; events: %+v", p.name, p.waitErr, what, p.eventsOf(id))
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("%s: no %s within %v; events: %+v", p.name, what, interopTimeout, p.eventsOf(id))
		}
	}
}

// wait waits for the first event named name of connection id.
func (p *interopProc) wait(t testing.TB, id, name string) interopEvent {
	t.Helper()
	return p.waitEvent(t, id, name+" event", func(e interopEvent) bool { return e.Event == name })
}

// interopRecv receives from ch, and fails t if nothing comes within interopTimeout.
func interopRecv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(interopTimeout):
		t.Fatalf("no %s within %v", what, interopTimeout)
		panic("unreachable")
	}
}

// eventsOf returns the events of connection id so far.
func (p *interopProc) eventsOf(id string) []interopEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []interopEvent
	for _, e := range p.events {
		if e.ID == id {
			out = append(out, e)
		}
	}
	return out
}

// interopAction is one step of a peer's script, such as {"close", 4999, "reason"}.
type interopAction []any

func interopScript(actions ...interopAction) string {
	if actions == nil {
		actions = []interopAction{}
	}
	b, err := json.Marshal(actions)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// interopPairing is a peer and the role Duplex plays against it.
type interopPairing struct {
	peer         interopPeer
	duplexServer bool // Duplex accepts and the peer dials; otherwise the peer serves

	server *interopProc // the peer server shared by the pairing's connections, if it serves
	port   int          // its port
}

func (pr *interopPairing) String() string {
	if pr.duplexServer {
		return pr.peer.name + "-client-duplex-server"
	}
	return pr.peer.name + "-server-duplex-client"
}

// forEachInteropPairing runs f as a subtest for every peer, with Duplex as server and as
// client. The subtests run in parallel.
func forEachInteropPairing(t *testing.T, f func(t *testing.T, pr *interopPairing)) {
	for _, peer := range interopPeers {
		for _, duplexServer := range []bool{true, false} {
			pr := &interopPairing{peer: peer, duplexServer: duplexServer}
			t.Run(pr.String(), func(t *testing.T) {
				t.Parallel()
				pr.peer.command(t) // skips the pairing if the peer cannot run
				if !pr.duplexServer {
					pr.server = startInteropProc(t, pr.peer, "server")
					pr.port = pr.server.wait(t, "", "listening").Port
				}
				f(t, pr)
			})
		}
	}
}

// interopSpec describes a connection between Duplex and a peer.
type interopSpec struct {
	script []interopAction
	conn   ws.ConnOptions
	// subprotocols are, when Duplex is the server, those it speaks, and when it is the
	// client, those it offers.
	subprotocols []string
	// peerSubprotocols are, when the peer is the client, those it offers, and when it is
	// the server, those it speaks, most preferred first.
	peerSubprotocols []string
	// forceSubprotocol makes a peer server agree this subprotocol whatever was offered.
	forceSubprotocol string
	// peerArgs are extra arguments of the peer program, such as "--max-size", "1000".
	peerArgs []string
	// ownProcess gives the connection a peer process of its own, to kill.
	ownProcess bool
	// tap, if set, records the frames that Duplex receives.
	tap *interopTap
}

// interopConn is a connection between Duplex and a peer.
type interopConn struct {
	c    *ws.Conn
	peer *interopProc
	id   string // the connection's id in the peer's events
}

// connect opens a connection as spec says and fails t if it cannot.
func (pr *interopPairing) connect(t *testing.T, spec interopSpec) *interopConn {
	t.Helper()
	ic, err := pr.tryConnect(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

// tryConnect opens a connection as spec says and returns the error of Accept or Dial.
func (pr *interopPairing) tryConnect(t *testing.T, spec interopSpec) (*interopConn, error) {
	t.Helper()
	if pr.duplexServer {
		return pr.acceptPeer(t, spec)
	}
	return pr.dialPeer(t, spec)
}

// acceptPeer runs a Duplex server and the peer as its client.
func (pr *interopPairing) acceptPeer(t *testing.T, spec interopSpec) (*interopConn, error) {
	t.Helper()
	type accepted struct {
		c   *ws.Conn
		err error
	}
	ch := make(chan accepted, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{ConnOptions: spec.conn, Subprotocols: spec.subprotocols})
		ch <- accepted{c, err}
	}))
	if spec.tap != nil {
		srv.Listener = interopTapListener{srv.Listener, spec.tap}
	}
	srv.Start() // on 127.0.0.1
	t.Cleanup(srv.Close)

	args := append([]string{"client"}, spec.peerArgs...)
	if spec.peerSubprotocols != nil {
		args = append(args, "--subprotocols", strings.Join(spec.peerSubprotocols, ","))
	}
	args = append(args, "ws"+strings.TrimPrefix(srv.URL, "http")+"/", interopScript(spec.script...))
	p := startInteropProc(t, pr.peer, args...)
	timeout := time.NewTimer(interopTimeout)
	defer timeout.Stop()
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, a.err
		}
		t.Cleanup(func() { a.c.CloseNow() })
		return &interopConn{c: a.c, peer: p}, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before connecting: %v; events: %+v", p.name, p.waitErr, p.eventsOf(""))
	case <-timeout.C:
		return nil, fmt.Errorf("%s did not connect within %v", p.name, interopTimeout)
	}
}

// dialPeer runs the peer as a server and Duplex as its client.
func (pr *interopPairing) dialPeer(t *testing.T, spec interopSpec) (*interopConn, error) {
	t.Helper()
	server, port := pr.server, pr.port
	if spec.ownProcess || spec.peerArgs != nil {
		server = startInteropProc(t, pr.peer, append([]string{"server"}, spec.peerArgs...)...)
		port = server.wait(t, "", "listening").Port
	}
	id := t.Name()
	q := url.Values{"id": {id}, "script": {interopScript(spec.script...)}}
	if spec.peerSubprotocols != nil {
		q.Set("protocols", strings.Join(spec.peerSubprotocols, ","))
	}
	if spec.forceSubprotocol != "" {
		q.Set("force", spec.forceSubprotocol)
	}
	u := "ws://127.0.0.1:" + strconv.Itoa(port) + "/?" + q.Encode()
	opts := &ws.DialOptions{
		ConnOptions:  spec.conn,
		Subprotocols: spec.subprotocols,
		// Straight to 127.0.0.1, whatever proxy the environment names.
		Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
	}
	if spec.tap != nil {
		opts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &interopTapConn{nc.(*net.TCPConn), spec.tap}, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	c, _, err := ws.Dial(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.CloseNow() })
	return &interopConn{c: c, peer: server, id: id}, nil
}

// event waits for the connection's first event named name.
func (ic *interopConn) event(t testing.TB, name string) interopEvent {
	t.Helper()
	return ic.peer.wait(t, ic.id, name)
}

// closed waits for the peer to report the end of the connection, and checks the close
// frame it received.
func (ic *interopConn) closed(t testing.TB, code ws.StatusCode, reason string) {
	t.Helper()
	if e := ic.closedCode(t, code); e.Reason != reason {
		t.Errorf("peer received close reason %q, want %q", e.Reason, reason)
	}
}

// closedCode waits for the peer to report the end of the connection, and checks the code
// of the close frame it received (1006 for none).
func (ic *interopConn) closedCode(t testing.TB, code ws.StatusCode) interopEvent {
	t.Helper()
	e := ic.event(t, "closed")
	if e.Code != int(code) {
		t.Errorf("peer received close code %d (reason %q), want %d", e.Code, e.Reason, int(code))
	}
	return e
}

// noErrors fails t if the peer reported an error on the connection.
func (ic *interopConn) noErrors(t testing.TB) {
	t.Helper()
	for _, e := range ic.peer.eventsOf(ic.id) {
		if e.Event == "error" || e.Event == "output" {
			t.Errorf("peer reported %s: %s%s", e.Event, e.Error, e.Data)
		}
	}
}

// echo writes a message and checks that the peer sends it back unchanged.
func (ic *interopConn) echo(t testing.TB, typ ws.MessageType, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	if err := ic.c.Write(ctx, typ, msg); err != nil {
		t.Fatalf("write %v of %d bytes: %v", typ, len(msg), err)
	}
	gotType, got, err := ic.c.Read(ctx)
	if err != nil {
		t.Fatalf("reading the echo of a %v message of %d bytes: %v", typ, len(msg), err)
	}
	interopCheckMessage(t, gotType, got, typ, msg)
}

func interopCheckMessage(t testing.TB, gotType ws.MessageType, got []byte, typ ws.MessageType, want []byte) {
	t.Helper()
	if gotType != typ {
		t.Errorf("message type %v, want %v", gotType, typ)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%v message: got %d bytes, want %d; first difference at byte %d", typ, len(got), len(want), i)
	}
}

// interopCtx is a context for one read or write of a test.
func interopCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	t.Cleanup(cancel)
	return ctx
}

// interopMessage returns a deterministic message of n bytes: for text, valid UTF-8 mixing
// runes of one to four bytes, so that runes straddle frame and read boundaries; for binary,
// pseudo-random bytes.
func interopMessage(typ ws.MessageType, n int) []byte {
	b := make([]byte, 0, n)
	if typ == ws.MessageText {
		runes := []rune{'a', 'é', '€', '😀', ' ', 'Z', 'ß', '中'}
		for i := 0; ; i++ {
			r := runes[i%len(runes)]
			if len(b)+utf8.RuneLen(r) > n {
				break
			}
			b = utf8.AppendRune(b, r)
		}
		for len(b) < n {
			b = append(b, 'x')
		}
		return b
	}
	b = b[:n]
	rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)}).Read(b)
	return b
}

// interopPattern returns the n bytes that a peer sends for {"send", type, n}.
func interopPattern(n int) []byte {
	return []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz", n/26+1)[:n])
}

// interopRawFrame encodes a frame, masked with a fixed key when masked is set, as hex for a peer's
// "raw" action. first is the frame's first byte: FIN, RSV1-3 and the opcode.
func interopRawFrame(first byte, payload []byte, masked bool) string {
	b := []byte{first, 0}
	switch n := len(payload); {
	case n <= 125:
		b[1] = byte(n)
	default:
		panic("interopRawFrame: payload too long")
	}
	if masked {
		key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		b[1] |= 0x80
		b = append(b, key[:]...)
		for i, c := range payload {
			b = append(b, c^key[i%4])
		}
	} else {
		b = append(b, payload...)
	}
	return hex.EncodeToString(b)
}

// interopTap records the headers of the frames in a byte stream that starts with an HTTP
// message (the handshake), without changing the stream.
type interopTap struct {
	mu     sync.Mutex
	inHead bool   // still in the HTTP message
	crlf   int    // bytes of "\r\n\r\n" matched at the end of what was seen
	hdr    []byte // bytes of a frame header seen so far
	skip   int64  // payload bytes of the current frame still to come
	frames []interopTapFrame
}

// interopTapFrame is a frame's header as seen on the wire.
type interopTapFrame struct {
	fin    bool
	opcode byte
	length int64
}

func (f interopTapFrame) String() string {
	name := map[byte]string{0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}[f.opcode]
	if f.fin {
		return fmt.Sprintf("%s(%d,fin)", name, f.length)
	}
	return fmt.Sprintf("%s(%d)", name, f.length)
}

func newInteropTap() *interopTap { return &interopTap{inHead: true} }

func (t *interopTap) feed(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(p) > 0 {
		switch {
		case t.inHead:
			if p[0] == "\r\n\r\n"[t.crlf] {
				t.crlf++
			} else if p[0] == '\r' {
				t.crlf = 1
			} else {
				t.crlf = 0
			}
			t.inHead = t.crlf < 4
			p = p[1:]
		case t.skip > 0:
			n := min(int64(len(p)), t.skip)
			t.skip -= n
			p = p[n:]
		default:
			t.hdr = append(t.hdr, p[0])
			p = p[1:]
			if f, ok := parseInteropTapHeader(t.hdr); ok {
				t.frames = append(t.frames, f)
				t.skip = f.length
				t.hdr = t.hdr[:0]
			}
		}
	}
}

// parseInteropTapHeader decodes a whole frame header (RFC 6455 §5.2), or reports that b
// is not one yet.
func parseInteropTapHeader(b []byte) (interopTapFrame, bool) {
	if len(b) < 2 {
		return interopTapFrame{}, false
	}
	size := 2
	length := int64(b[1] & 0x7f)
	switch length {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if b[1]&0x80 != 0 {
		size += 4
	}
	if len(b) < size {
		return interopTapFrame{}, false
	}
	switch length {
	case 126:
		length = int64(b[2])<<8 | int64(b[3])
	case 127:
		length = 0
		for _, c := range b[2:10] {
			length = length<<8 | int64(c)
		}
	}
	return interopTapFrame{fin: b[0]&0x80 != 0, opcode: b[0] & 0x0f, length: length}, true
}

// dataFrames returns the data frames seen, in order, and the number of pings seen between
// the first and the last of them.
func (t *interopTap) dataFrames() (frames []interopTapFrame, pingsInside int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pings := 0
	for _, f := range t.frames {
		switch {
		case f.opcode < 8:
			frames = append(frames, f)
			pingsInside += pings
			pings = 0
		case f.opcode == 9 && len(frames) > 0:
			pings++
		}
	}
	return frames, pingsInside
}

// interopTapConn feeds what is read from a TCP connection to a interopTap.
type interopTapConn struct {
	*net.TCPConn
	tap *interopTap
}

func (c *interopTapConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.tap.feed(p[:n])
	return n, err
}

type interopTapListener struct {
	net.Listener
	tap *interopTap
}

func (l interopTapListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &interopTapConn{nc.(*net.TCPConn), l.tap}, nil
}
