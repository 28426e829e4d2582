package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/duplex-ws/duplex/ws"
)

// startTCP runs a server of the rawtcp protocol, as bench/servers/rawtcp, on a loopback
// port until the test ends, and returns its tcp:// URL. Its echo sends back each message
// as handle returns it (nil: unchanged); its broadcast sends every message to every
// broadcast connection, the sender included.
func startTCP(t testing.TB, handle func(msg []byte) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]*sync.Mutex{} // every connection, with its broadcast write lock
		subs  []net.Conn                   // the broadcast's
	)
	serve := func(c net.Conn) {
		defer func() {
			mu.Lock()
			delete(conns, c)
			for i, s := range subs {
				if s == c {
					subs = append(subs[:i:i], subs[i+1:]...)
					break
				}
			}
			mu.Unlock()
			c.Close()
		}()
		br := bufio.NewReader(c)
		mode, err := br.ReadByte()
		if err != nil {
			return
		}
		if mode == tcpBroadcast {
			mu.Lock()
			subs = append(subs, c)
			mu.Unlock()
		}
		var buf []byte
		hdr := make([]byte, tcpHeaderLen)
		for {
			if _, err := io.ReadFull(br, hdr); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint32(hdr))
			buf = append(buf[:0], hdr...)
			buf = append(buf, make([]byte, n)...)[:tcpHeaderLen+n]
			if _, err := io.ReadFull(br, buf[tcpHeaderLen:]); err != nil {
				return
			}
			if mode == tcpEcho {
				if handle != nil {
					reply := handle(buf[tcpHeaderLen:])
					buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(reply)))
					buf = append(buf, reply...)
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
				continue
			}
			mu.Lock()
			to := append([]net.Conn(nil), subs...)
			locks := make([]*sync.Mutex, len(to))
			for i, s := range to {
				locks[i] = conns[s]
			}
			mu.Unlock()
			for i, s := range to {
				locks[i].Lock()
				s.Write(buf)
				locks[i].Unlock()
			}
		}
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = new(sync.Mutex)
			mu.Unlock()
			wg.Go(func() { serve(c) })
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
	return "tcp://" + ln.Addr().String()
}

// startRelay runs a WebSocket relay, as the /broadcast endpoints of bench/servers, until
// the test ends, and returns its ws:// URL: every message a connection sends goes to every
// connection, the sender included. It agrees to compression without context takeover.
func startRelay(t testing.TB) string {
	t.Helper()
	var (
		mu    sync.Mutex
		conns = map[*ws.Conn]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{Compression: ws.CompressionOptions{Mode: ws.CompressionNoContextTakeover}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			mu.Lock()
			to := make([]*ws.Conn, 0, len(conns))
			for s := range conns {
				to = append(to, s)
			}
			mu.Unlock()
			for _, s := range to {
				s.Write(context.Background(), typ, msg) // writes are serialised by the Conn
			}
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/broadcast"
}
