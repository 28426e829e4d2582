package bench

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wantLooped reports whether the closed-loop connections of a run of cfg are served by an
// event loop: on Linux, with one message in flight, neither compressed nor over 64 KiB.
func wantLooped(cfg Config) bool {
	return runtime.GOOS == "linux" && cfg.Pipeline <= 1 && cfg.Rate == 0 && !cfg.Compress &&
		cfg.Size <= loopMaxSize && !cfg.noEventLoop
}

// checkLooped checks that an event loop served every connection of res, or none, as
// wantLooped says for cfg.
func checkLooped(t *testing.T, res *Result, cfg Config) {
	t.Helper()
	want := int64(0)
	if wantLooped(cfg) {
		want = res.Connected
	}
	if res.looped != want {
		t.Errorf("an event loop served %d of %d connections, want %d", res.looped, res.Connected, want)
	}
}

// echoChecked runs Echo with cfg, and checks that it succeeded, that its counts agree
// (checkCounts), that it had the errors wantErrors lists and no others (unless it is nil)
// and that event loops served the connections they should (checkLooped).
func echoChecked(t *testing.T, cfg Config, wantErrors map[string]int64) *Result {
	t.Helper()
	res, err := Echo(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, 1)
	if wantErrors != nil {
		checkErrors(t, res, wantErrors)
	}
	checkLooped(t, res, cfg)
	return res
}

// startRaw runs a server on a loopback port, serve serving each connection until it
// returns, until the test ends; it returns the server's address.
func startRaw(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// writePieces writes each piece on its own, a millisecond apart, so that the client may
// read each on its own. A nil piece ends the connection, and an empty one resets it
// (SO_LINGER 0), at once: writePieces then reports false, and c is to be closed.
func writePieces(c net.Conn, pieces [][]byte) bool {
	for i, p := range pieces {
		if len(p) == 0 {
			if p != nil {
				c.(*net.TCPConn).SetLinger(0)
			}
			return false
		}
		if i > 0 {
			time.Sleep(time.Millisecond) // spacing, not synchronisation
		}
		if _, err := c.Write(p); err != nil {
			return false
		}
	}
	return true
}

// startRawWS runs a WebSocket echo made of bytes, for the replies that a library would
// not send, and returns its ws:// URL. After the handshake, it answers the nth data message
// of a connection (from 0; op its opcode, payload unmasked) with what reply returns,
// written with writePieces. It passes over pongs, counting them in *pongs, and answers a
// close frame with its own.
func startRawWS(t *testing.T, pongs *atomic.Int64, reply func(n int, op byte, payload []byte) [][]byte) string {
	return "ws://" + startRaw(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		accept := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(accept[:]))
		for n := 0; ; {
			op, payload, err := readClientFrame(br)
			if err != nil {
				return
			}
			switch op {
			case 0x8:
				c.Write(serverFrame(true, 0, 0x8, payload))
				return
			case 0xA:
				pongs.Add(1)
				continue
			}
			if !writePieces(c, reply(n, op, payload)) {
				return
			}
			n++
		}
	})
}

// readClientFrame reads a client's frame, whole and unfragmented, and returns its opcode
// and unmasked payload.
func readClientFrame(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	if _, err := io.ReadFull(br, key[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= key[i%4]
	}
	return h[0] & 0xf, p, nil
}

// serverFrame returns a server's frame, unmasked (RFC 6455 §5.2).
func serverFrame(fin bool, rsv, op byte, payload []byte) []byte {
	b0 := rsv<<4 | op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		f = append(f, byte(n))
	case n <= 0xffff:
		f = binary.BigEndian.AppendUint16(append(f, 126), uint16(n))
	default:
		f = binary.BigEndian.AppendUint64(append(f, 127), uint64(n))
	}
	return append(f, payload...)
}

// maskedFrame returns a server's frame that is masked, which §5.1 forbids.
func maskedFrame(op byte, payload []byte) []byte {
	f := []byte{0x80 | op, 0x80 | byte(len(payload)), 1, 2, 3, 4}
	for i, b := range payload {
		f = append(f, b^byte(i%4+1))
	}
	return f
}

// TestBenchLoopReplies checks that an event loop takes the replies that are exactly the
// message sent back, whatever pieces they come in, and hands anything else to the library
// with the bytes it read, which does what a goroutine's connection does: a ping is
// answered, a fragmented reply or an unasked message read, and a close frame, a protocol
// error, a reply of the wrong length or type, or the end of the stream counted as the
// error of its kind, once per connection.
func TestBenchLoopReplies(t *testing.T) {
	const size = 200 // a 16-bit length
	whole := func(n int, op byte, p []byte) [][]byte { return [][]byte{serverFrame(true, 0, op, p)} }
	on3 := func(other func(op byte, p []byte) [][]byte) func(int, byte, []byte) [][]byte {
		return func(n int, op byte, p []byte) [][]byte {
			if n == 3 {
				return other(op, p)
			}
			return whole(n, op, p)
		}
	}
	for _, tc := range []struct {
		name  string
		text  bool
		reply func(n int, op byte, p []byte) [][]byte
		want  map[string]int64
		pongs bool
	}{
		{"whole", false, whole, map[string]int64{}, false},
		{"in pieces", false, func(n int, op byte, p []byte) [][]byte {
			f := serverFrame(true, 0, op, p)
			return [][]byte{f[:1], f[1:3], f[3:100], f[100:]}
		}, map[string]int64{}, false},
		{"text", true, whole, map[string]int64{}, false},
		{"ping first", false, func(n int, op byte, p []byte) [][]byte {
			if n%3 == 0 {
				return [][]byte{append(serverFrame(true, 0, 0x9, []byte("hi")), serverFrame(true, 0, op, p)...)}
			}
			return whole(n, op, p)
		}, map[string]int64{}, true},
		{"fragmented", false, func(n int, op byte, p []byte) [][]byte {
			if n%3 == 1 {
				return [][]byte{serverFrame(false, 0, op, p[:50]), serverFrame(true, 0, 0, p[50:])}
			}
			return whole(n, op, p)
		}, map[string]int64{}, false},
		{"unasked message", false, on3(func(op byte, p []byte) [][]byte {
			return [][]byte{append(serverFrame(true, 0, op, p), serverFrame(true, 0, op, p)...)}
		}), map[string]int64{}, false},
		{"close", false, on3(func(op byte, p []byte) [][]byte {
			return [][]byte{serverFrame(true, 0, 0x8, []byte{0x03, 0xf0, 'n', 'o'})} // 1008
		}), map[string]int64{kindClosed: 2}, false},
		{"rsv1", false, on3(func(op byte, p []byte) [][]byte {
			return [][]byte{serverFrame(true, 4, op, p)}
		}), map[string]int64{kindProtocol: 2}, false},
		{"masked", false, on3(func(op byte, p []byte) [][]byte {
			return [][]byte{maskedFrame(op, p[:100])}
		}), map[string]int64{kindProtocol: 2}, false},
		{"invalid UTF-8", true, on3(func(op byte, p []byte) [][]byte {
			return [][]byte{serverFrame(true, 0, op, append([]byte{0xff}, p[1:]...))}
		}), map[string]int64{kindProtocol: 2}, false},
		{"wrong type", false, on3(func(op byte, p []byte) [][]byte {
			return [][]byte{serverFrame(true, 0, 0x1, p)}
		}), map[string]int64{kindMismatch: 2}, false},
		{"shorter", false, on3(func(op byte, p []byte) [][]byte {
			return [][]byte{serverFrame(true, 0, op, p[1:])}
		}), map[string]int64{kindMismatch: 2}, false},
		{"end of stream", false, on3(func(op byte, p []byte) [][]byte {
			return [][]byte{serverFrame(true, 0, op, p)[:10], nil}
		}), map[string]int64{kindRead: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var pongs atomic.Int64
			cfg := Config{URL: startRawWS(t, &pongs, tc.reply), Connections: 2, Size: size, Binary: !tc.text, Duration: 200 * time.Millisecond}
			res := echoChecked(t, cfg, tc.want)
			if res.Received < 6 {
				t.Errorf("%d replies", res.Received)
			}
			if tc.pongs && pongs.Load() == 0 {
				t.Errorf("no pong: the pings went unanswered")
			}
		})
	}
}

// TestBenchLoopSizes checks the headers of the replies that an event loop takes, with
// lengths of 7, 16 and 64 bits (RFC 6455 §5.2), and rawtcp's, up to the largest message it
// sends, and that larger ones go to goroutines.
func TestBenchLoopSizes(t *testing.T) {
	wsURL, tcpURL := startEcho(t, nil), startTCP(t, nil)
	for _, url := range []string{wsURL, tcpURL} {
		for _, size := range []int{0, 125, 126, 65535, loopMaxSize, loopMaxSize + 1} {
			t.Run(fmt.Sprintf("%s/%d", scheme(url), size), func(t *testing.T) {
				t.Parallel()
				cfg := Config{URL: url, Connections: 2, Size: size, Binary: true, Duration: 100 * time.Millisecond}
				res := echoChecked(t, cfg, map[string]int64{})
				if res.Received == 0 || res.Lost+res.InFlight != 0 {
					t.Errorf("received %d, lost %d, in flight %d", res.Received, res.Lost, res.InFlight)
				}
			})
		}
	}
}

// startRawTCP runs a rawtcp echo made of bytes, and returns its tcp:// URL: it answers
// the nth message of a connection (from 0; msg its length and payload) with what reply
// returns, written with writePieces.
func startRawTCP(t *testing.T, reply func(n int, msg []byte) [][]byte) string {
	return "tcp://" + startRaw(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := br.ReadByte(); err != nil {
			return
		}
		for n := 0; ; n++ {
			var h [tcpHeaderLen]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			msg := append(h[:], make([]byte, binary.BigEndian.Uint32(h[:]))...)
			if _, err := io.ReadFull(br, msg[tcpHeaderLen:]); err != nil {
				return
			}
			if !writePieces(c, reply(n, msg)) {
				return
			}
		}
	})
}

// TestBenchLoopTCPPieces checks that an event loop reads rawtcp replies that come in
// pieces, the length split too.
func TestBenchLoopTCPPieces(t *testing.T) {
	url := startRawTCP(t, func(n int, msg []byte) [][]byte { return [][]byte{msg[:2], msg[2:7], msg[7:]} })
	cfg := Config{URL: url, Connections: 2, Size: 300, Duration: 200 * time.Millisecond}
	res := echoChecked(t, cfg, map[string]int64{})
	if res.Received < 10 || res.Lost+res.InFlight != 0 {
		t.Errorf("received %d, lost %d, in flight %d", res.Received, res.Lost, res.InFlight)
	}
}

// TestBenchLoopDrain checks that a run ends when its drain does, though replies are
// missing: the run closes the connections and wakes the loops, which let go of them,
// their messages in flight, not lost, and close their epoll instances.
func TestBenchLoopDrain(t *testing.T) {
	// A server that stops answering after 5 messages a connection.
	stop := make(chan struct{})
	var pongs atomic.Int64
	url := startRawWS(t, &pongs, func(n int, op byte, p []byte) [][]byte {
		if n == 5 {
			<-stop
			return [][]byte{nil}
		}
		return [][]byte{serverFrame(true, 0, op, p)}
	})
	t.Cleanup(func() { close(stop) }) // before the server's cleanup, which waits for it
	before := epollFDs()
	cfg := Config{URL: url, Connections: 3, Size: 64, Binary: true, Duration: 100 * time.Millisecond, Drain: 100 * time.Millisecond}
	res := echoChecked(t, cfg, map[string]int64{})
	if res.Received != 15 || res.InFlight != 3 || res.Lost != 0 {
		t.Errorf("received %d, in flight %d, lost %d: want 15, 3, 0", res.Received, res.InFlight, res.Lost)
	}
	if after := epollFDs(); after != before {
		t.Errorf("%d epoll instances open before the run, %d after", before, after)
	}
}

// scheme returns url's scheme, to name a subtest.
func scheme(url string) string {
	s, _, _ := strings.Cut(url, ":")
	return s
}

// TestBenchLoopReset checks that a connection that the server resets fails with the
// error of what the reset interrupts: awaiting a reply, a read; after one, the write of
// the next message, or its read if the write went out first.
func TestBenchLoopReset(t *testing.T) {
	reset := func(reply []byte) [][]byte { return [][]byte{reply, {}} }
	wsURL := startRawWS(t, new(atomic.Int64), func(n int, op byte, p []byte) [][]byte {
		switch {
		case n < 3:
			return [][]byte{serverFrame(true, 0, op, p)}
		case len(p) == 10:
			return [][]byte{{}}
		}
		return reset(serverFrame(true, 0, op, p))
	})
	tcpURL := startRawTCP(t, func(n int, msg []byte) [][]byte {
		switch {
		case n < 3:
			return [][]byte{msg}
		case len(msg) == tcpHeaderLen+10:
			return [][]byte{{}}
		}
		return reset(msg)
	})
	for _, url := range []string{wsURL, tcpURL} {
		for _, size := range []int{10, 20} { // reset awaiting the fourth reply, or after it
			t.Run(fmt.Sprintf("%s/%d", scheme(url), size), func(t *testing.T) {
				cfg := Config{URL: url, Connections: 2, Size: size, Binary: true, Duration: time.Second}
				res := echoChecked(t, cfg, nil)
				kinds := map[string]int64{}
				for _, e := range res.Errors {
					kinds[e.Kind] = e.Count
				}
				t.Logf("errors %+v", res.Errors)
				switch {
				case size == 10 && kinds[kindRead] != 2,
					size == 20 && kinds[kindRead]+kinds[kindWrite] != 2,
					len(kinds) > 2:
					t.Errorf("errors %+v: want 2, of reading (or writing, after a reply)", res.Errors)
				}
				if res.Duration >= 1 {
					t.Errorf("the run lasted %vs: the failures did not end it", res.Duration)
				}
			})
		}
	}
}

// epollFDs counts the process's open epoll instances, where /proc tells.
func epollFDs() int {
	links, _ := filepath.Glob("/proc/self/fd/*")
	n := 0
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && target == "anon_inode:[eventpoll]" {
			n++
		}
	}
	return n
}

// TestBenchLoopLimit checks that a closed loop stops after cfg.limit messages, with the
// event loop as with goroutines.
func TestBenchLoopLimit(t *testing.T) {
	url := startTCP(t, nil)
	for _, noLoop := range []bool{false, true} {
		cfg := Config{URL: url, Connections: 3, Size: 10, Duration: time.Hour, limit: 50, noEventLoop: noLoop}
		res := echoChecked(t, cfg, nil)
		if res.Sent != 150 || res.Received != 150 {
			t.Errorf("no event loop %v: sent %d, received %d, want 150", noLoop, res.Sent, res.Received)
		}
	}
}
