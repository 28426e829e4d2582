package bench_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/leakcheck"
	"github.com/duplex-ws/duplex/internal/testenv"
	"github.com/duplex-ws/duplex/ws"
)

// The WebSocket servers, each with the compression modes its -compress accepts; rawtcp,
// the baseline, has its own protocol and no compression.
var wsServers = []struct {
	name  string
	modes []string
}{
	{"duplex", []string{"none", "no-takeover", "takeover"}},
	{"gorilla", []string{"none", "no-takeover"}},
	{"coder", []string{"none", "no-takeover", "takeover"}},
	{"gws", []string{"none", "no-takeover", "takeover"}},
	{"gobwas", []string{"none", "no-takeover"}},
}

// binDir holds the servers, built once by TestMain, with -race when the tests have it.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "duplex-bench-servers-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool(), append(args, "./servers/...")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the servers: %v\n%s", err, out)
			return 1
		}
		binDir = dir
		return m.Run()
	}())
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// server is a server under test, running in a process of its own.
type server struct {
	addr string // as it printed it
	// stop sends SIGTERM and fails the test unless the server exits with status 0 within
	// five seconds (a race it detected makes it exit with another). It runs when the test
	// ends if it has not been called before.
	stop func()
}

// start runs the server name with args.
func start(t *testing.T, name string, args ...string) *server {
	t.Helper()
	return startRace(t, "", name, args...)
}

// startRace is start with options for the race detector, in the syntax of GORACE.
func startRace(t *testing.T, gorace, name string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	// A server built with -race sleeps a second before exiting unless told not to.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 "+gorace)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(testenv.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		// The first line, read byte by byte so as to take nothing after it, then the rest
		// of the output, which must be read before Wait.
		var b strings.Builder
		one := make([]byte, 1)
		for {
			if _, err := stdout.Read(one); err != nil || one[0] == '\n' {
				break
			}
			b.WriteByte(one[0])
		}
		line <- b.String()
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	s := &server{stop: sync.OnceFunc(func() {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s: %v after SIGTERM; stderr:\n%s", name, err, stderr)
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("%s: still running 5s after SIGTERM; stderr:\n%s", name, stderr)
		}
	})}
	t.Cleanup(s.stop)
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "listening on ")
		if !ok {
			t.Fatalf("%s: first line %q, want \"listening on ADDR\"; stderr:\n%s", name, l, stderr)
		}
		s.addr = addr
		return s
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no address printed in 20s", name)
		return nil
	}
}

// message is a message and its type; the raw TCP protocol has only binary ones.
type message struct {
	typ  ws.MessageType
	data []byte
}

func (m message) String() string { return fmt.Sprintf("%v message of %d bytes", m.typ, len(m.data)) }

// messages returns a text and a binary message of each size: text of one- to three-byte
// characters, so that frames and buffers split some, and random bytes, both from seed.
func messages(sizes []int, seed uint64) []message {
	rng := rand.New(rand.NewPCG(seed, 0))
	var ms []message
	for _, n := range sizes {
		var text []byte
		for _, r := range []rune(fmt.Sprintf("%d:duplex é ✓ ", seed)) {
			if len(text)+len(string(r)) > n {
				break
			}
			text = append(text, string(r)...)
		}
		for len(text) < n {
			r := []rune("aé✓")[rng.IntN(3)]
			if len(text)+len(string(r)) > n {
				r = 'x'
			}
			text = append(text, string(r)...)
		}
		bin := make([]byte, n)
		for i := range bin {
			bin[i] = byte(rng.Uint32())
		}
		ms = append(ms, message{ws.MessageText, text}, message{ws.MessageBinary, bin})
	}
	return ms
}

// client is a connection to an endpoint of a server under test.
type client interface {
	send(m message) error
	recv() (message, error)
	close() error // with the closing handshake, where there is one
}

// timeout bounds every test's conversation with a server.
const timeout = 60 * time.Second

type wsClient struct {
	c   *ws.Conn
	ctx context.Context
}

func (c *wsClient) send(m message) error { return c.c.Write(c.ctx, m.typ, m.data) }

func (c *wsClient) recv() (message, error) {
	typ, p, err := c.c.Read(c.ctx)
	return message{typ, p}, err
}

func (c *wsClient) close() error { return c.c.Close(ws.StatusNormalClosure, "") }

// dialWS connects to path on addr, offering compression as mode says ("none" offers no
// takeover, which the server must decline), and compressing every message if it is
// agreed. It returns the response's Sec-WebSocket-Extensions.
func dialWS(t *testing.T, addr, path, mode string) (*wsClient, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	opts := &ws.DialOptions{Compression: ws.CompressionOptions{Mode: ws.CompressionNoContextTakeover, Threshold: -1}}
	if mode == "takeover" {
		opts.Compression.Mode = ws.CompressionContextTakeover
	}
	c, resp, err := ws.Dial(ctx, "ws://"+addr+path, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{c, ctx}, resp.Header.Get("Sec-WebSocket-Extensions")
}

// checkAgreed fails t unless the extensions a server agreed to are those of mode.
func checkAgreed(t *testing.T, ext, mode string) {
	t.Helper()
	deflate := strings.Contains(ext, "permessage-deflate")
	serverNoTakeover := strings.Contains(ext, "server_no_context_takeover")
	switch {
	case mode == "none" && ext != "":
		t.Errorf("-compress none agreed to %q", ext)
	case mode != "none" && !deflate:
		t.Errorf("-compress %s agreed to %q, not permessage-deflate", mode, ext)
	case mode == "takeover" && serverNoTakeover:
		t.Errorf("-compress takeover agreed to %q, without the server's context takeover", ext)
	}
}

type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

// dialRaw connects to the rawtcp server at addr in mode 'E' or 'B'.
func dialRaw(t *testing.T, addr string, mode byte) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{mode}); err != nil {
		t.Fatal(err)
	}
	return &rawClient{c, bufio.NewReader(c)}
}

func (c *rawClient) send(m message) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(m.data)))
	_, err := c.c.Write(append(b, m.data...))
	return err
}

func (c *rawClient) recv() (message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return message{}, err
	}
	p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(c.br, p)
	return message{ws.MessageBinary, p}, err
}

func (c *rawClient) close() error { return c.c.Close() }

// asBinary returns ms as binary messages, for rawtcp.
func asBinary(ms []message) []message {
	out := make([]message, len(ms))
	for i, m := range ms {
		out[i] = message{ws.MessageBinary, m.data}
	}
	return out
}

func equal(a, b message) bool { return a.typ == b.typ && string(a.data) == string(b.data) }

// echoSizes are the sizes of the messages echoed, each as text and binary.
var echoSizes = []int{0, 1, 1 << 10, 64 << 10, 1 << 20}

// testEcho sends each message and checks that it comes back unchanged.
func testEcho(t *testing.T, c client, ms []message) {
	t.Helper()
	for _, m := range ms {
		if err := c.send(m); err != nil {
			t.Fatalf("sending a %v: %v", m, err)
		}
		got, err := c.recv()
		if err != nil {
			t.Fatalf("echo of a %v: %v", m, err)
		}
		if !equal(got, m) {
			t.Fatalf("echo of a %v: got a %v, or different bytes", m, got)
		}
	}
}

func TestEcho(t *testing.T) {
	for _, s := range wsServers {
		for _, mode := range s.modes {
			t.Run(s.name+"/"+mode, func(t *testing.T) {
				t.Cleanup(leakcheck.Check(t))
				srv := start(t, s.name, "-compress", mode)
				c, ext := dialWS(t, srv.addr, "/echo", mode)
				checkAgreed(t, ext, mode)
				testEcho(t, c, messages(echoSizes, 1))

				// A message sent in 4 KiB fragments comes back whole, or in fragments of
				// the server's choosing.
				big := messages([]int{100 << 10}, 2)[0]
				w, err := c.c.Writer(c.ctx, big.typ)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(big.data); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if got, err := c.recv(); err != nil || !equal(got, big) {
					t.Fatalf("echo of a fragmented %v: %v, %v", big, got, err)
				}

				// A ping is answered with its payload (Ping waits for the pong that
				// matches it), while messages are echoed.
				pinged := make(chan error, 1)
				go func() {
					ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
					defer cancel()
					pinged <- c.c.Ping(ctx)
				}()
				for done := false; !done; {
					testEcho(t, c, []message{{ws.MessageText, []byte("waiting for a pong")}})
					select {
					case err := <-pinged:
						if err != nil {
							t.Fatalf("ping: %v", err)
						}
						done = true
					case <-time.After(time.Millisecond):
					}
				}

				if err := c.close(); err != nil {
					t.Errorf("closing handshake: %v", err)
				}
			})
		}
	}
	t.Run("rawtcp", func(t *testing.T) {
		t.Cleanup(leakcheck.Check(t))
		c := dialRaw(t, start(t, "rawtcp").addr, 'E')
		testEcho(t, c, asBinary(messages(echoSizes, 1)))
	})
}

// broadcastSizes are the sizes of the messages each subscriber publishes, each as text
// and binary.
var broadcastSizes = []int{0, 1, 1 << 10, 64 << 10}

// testBroadcast checks that each of the clients, connected to the same broadcast, receives
// every message that every one of them publishes.
func testBroadcast(t *testing.T, clients []client, raw bool) {
	t.Helper()
	// Each client announces itself until it hears its own announcement: then it is
	// subscribed. Announcements are left out of what is counted afterwards.
	const hello = "hello from "
	isHello := func(m message) bool { return m.typ == ws.MessageText && strings.HasPrefix(string(m.data), hello) }
	for i, c := range clients {
		me := message{ws.MessageText, []byte(fmt.Sprint(hello, i))}
		if raw {
			me.typ = ws.MessageBinary
			isHello = func(m message) bool { return strings.HasPrefix(string(m.data), hello) }
		}
		if err := c.send(me); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := c.recv()
			if err != nil {
				t.Fatalf("client %d, waiting for its own hello: %v", i, err)
			}
			if equal(m, me) {
				break
			}
		}
	}

	// Every client publishes its messages while all of them read.
	want := map[string]int{}
	published := make([][]message, len(clients))
	for i := range clients {
		published[i] = messages(broadcastSizes, uint64(10+i))
		if raw {
			published[i] = asBinary(published[i])
		}
		for _, m := range published[i] {
			want[fmt.Sprint(m.typ, string(m.data))]++
		}
	}
	total := len(clients) * len(published[0])
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(clients))
	for i, c := range clients {
		wg.Go(func() {
			for _, m := range published[i] {
				if err := c.send(m); err != nil {
					errs <- fmt.Errorf("client %d, publishing: %v", i, err)
					return
				}
			}
		})
		wg.Go(func() {
			got := map[string]int{}
			for n := 0; n < total; {
				m, err := c.recv()
				if err != nil {
					errs <- fmt.Errorf("client %d, after %d of %d deliveries: %v", i, n, total, err)
					return
				}
				if isHello(m) {
					continue
				}
				got[fmt.Sprint(m.typ, string(m.data))]++
				n++
			}
			for k, n := range want {
				if got[k] != n {
					errs <- fmt.Errorf("client %d received a message %d times, not %d", i, got[k], n)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// upstreamRaces are the broadcasts whose server has a data race in its library, which the
// race detector reports without failing the test.
var upstreamRaces = map[string]string{
	// Broadcaster.Broadcast builds the frame with Conn.genFrame, whose compressData reads
	// c.cpsWindow.dict (writer.go:198, internal.SelectValue evaluates both of its values)
	// while a previous broadcast's queued write appends to it (writer.go:253). The value
	// read is discarded, as a broadcast compresses without the window.
	"gws/takeover": "lxzan/gws v1.8.9: Broadcaster with context takeover",
}

func TestBroadcast(t *testing.T) {
	for _, s := range wsServers {
		for _, mode := range s.modes {
			t.Run(s.name+"/"+mode, func(t *testing.T) {
				t.Cleanup(leakcheck.Check(t))
				gorace := ""
				if race, ok := upstreamRaces[s.name+"/"+mode]; ok && raceEnabled {
					t.Logf("a data race in %s is reported, not failed", race)
					gorace = "exitcode=0"
				}
				srv := startRace(t, gorace, s.name, "-compress", mode)
				clients := make([]client, 3)
				for i := range clients {
					c, ext := dialWS(t, srv.addr, "/broadcast", mode)
					checkAgreed(t, ext, mode)
					clients[i] = c
				}
				testBroadcast(t, clients, false)
				for _, c := range clients {
					if err := c.close(); err != nil {
						t.Errorf("closing handshake: %v", err)
					}
				}
			})
		}
	}
	t.Run("rawtcp", func(t *testing.T) {
		t.Cleanup(leakcheck.Check(t))
		srv := start(t, "rawtcp")
		clients := make([]client, 3)
		for i := range clients {
			clients[i] = dialRaw(t, srv.addr, 'B')
		}
		testBroadcast(t, clients, true)
	})
}

// TestUnsupported checks that a server refuses, with status 2, a compression mode its
// library cannot do, rather than serve without it.
func TestUnsupported(t *testing.T) {
	for _, tc := range []struct{ server, mode string }{
		{"gorilla", "takeover"},
		{"gobwas", "takeover"},
		{"rawtcp", "no-takeover"},
		{"duplex", "gzip"},
	} {
		cmd := exec.Command(filepath.Join(binDir, tc.server), "-compress", tc.mode)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "not supported") {
			t.Errorf("%s -compress %s: %v, output %q; want status 2 and \"not supported\"", tc.server, tc.mode, err, out)
		}
	}
}

// TestStop checks that a server stops on SIGTERM while connections are open, which then
// end.
func TestStop(t *testing.T) {
	for _, s := range wsServers {
		t.Run(s.name, func(t *testing.T) {
			t.Cleanup(leakcheck.Check(t))
			srv := start(t, s.name)
			echo, _ := dialWS(t, srv.addr, "/echo", "none")
			broadcast, _ := dialWS(t, srv.addr, "/broadcast", "none")
			testEcho(t, echo, messages([]int{10}, 1)) // the server has its handler running
			srv.stop()
			for _, c := range []*wsClient{echo, broadcast} {
				if _, err := c.recv(); err == nil {
					t.Errorf("a message received after the server stopped")
				}
			}
		})
	}
	t.Run("rawtcp", func(t *testing.T) {
		t.Cleanup(leakcheck.Check(t))
		srv := start(t, "rawtcp")
		echo := dialRaw(t, srv.addr, 'E')
		broadcast := dialRaw(t, srv.addr, 'B')
		testEcho(t, echo, messages([]int{10}, 1)[1:])
		srv.stop()
		for _, c := range []*rawClient{echo, broadcast} {
			if _, err := c.recv(); err == nil {
				t.Errorf("a message received after the server stopped")
			}
		}
	})
}
