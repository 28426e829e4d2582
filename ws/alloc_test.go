package ws_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/duplex-ws/duplex/ws"
)

// The allocation pins: once warmed up, writing a message and reading one into a reused
// buffer allocate nothing, as a server and as a client, over net.Pipe and over loopback
// TCP, where a large server frame goes out with writev. BenchmarkWrite,
// BenchmarkReadAppend and BenchmarkEcho in bench_test.go measure the same paths.

var allocTransports = []struct {
	name string
	pair func(t *testing.T) (local, peer net.Conn)
}{
	{"pipe", func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	{"tcp", allocTCPPair},
}

// allocTCPPair returns the two ends of a loopback TCP connection.
func allocTCPPair(t *testing.T) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		nc  net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		ch <- accepted{nc, err}
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	a := <-ch
	if err != nil || a.err != nil {
		t.Fatal(err, a.err)
	}
	return a.nc, peer
}

// allocFrame encodes a final binary frame with size bytes of payload, masked when it goes
// to a server.
func allocFrame(size int, masked bool) []byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := []byte{0x82}
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	switch {
	case size < 126:
		b = append(b, maskBit|byte(size))
	case size <= 0xFFFF:
		b = append(b, maskBit|126, byte(size>>8), byte(size))
	default:
		b = append(b, maskBit|127, 0, 0, 0, 0, byte(size>>24), byte(size>>16), byte(size>>8), byte(size))
	}
	if masked {
		b = append(b, key[:]...)
	}
	for i := range size {
		c := byte('a' + i%26)
		if masked {
			c ^= key[i%4]
		}
		b = append(b, c)
	}
	return b
}

func TestAllocsPerMessage(t *testing.T) {
	for _, tr := range allocTransports {
		for _, client := range []bool{false, true} {
			role := "server"
			if client {
				role = "client"
			}
			for _, size := range []int{16, 64 << 10} {
				name := fmt.Sprintf("%s/%s/%d", tr.name, role, size)
				t.Run(name+"/Write", func(t *testing.T) { testWriteAllocs(t, tr.pair, client, size) })
				t.Run(name+"/ReadAppend", func(t *testing.T) { testReadAppendAllocs(t, tr.pair, client, size) })
			}
		}
	}
}

// allocRuns is how many messages each pin averages over, after as many to warm up.
const allocRuns = 100

// discardingConn returns a Conn over one end of pair whose peer reads and discards
// everything, both closed when the test ends.
func discardingConn(t *testing.T, pair func(*testing.T) (net.Conn, net.Conn), client bool) *ws.Conn {
	local, peer := pair(t)
	c := ws.NewConnForTest(local, client, nil)
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(io.Discard, peer) })
	t.Cleanup(func() {
		c.CloseNow()
		peer.Close()
		wg.Wait()
	})
	return c
}

func testWriteAllocs(t *testing.T, pair func(*testing.T) (net.Conn, net.Conn), client bool, size int) {
	c := discardingConn(t, pair, client)
	ctx := context.Background()
	msg := make([]byte, size)
	write := func() {
		if err := c.Write(ctx, ws.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
	}
	for range allocRuns {
		write()
	}
	if n := testing.AllocsPerRun(allocRuns, write); n != 0 {
		t.Errorf("Write of %d bytes allocates %v times per message, want 0", size, n)
	}
}

func testReadAppendAllocs(t *testing.T, pair func(*testing.T) (net.Conn, net.Conn), client bool, size int) {
	local, peer := pair(t)
	c := ws.NewConnForTest(local, client, nil)
	frame := allocFrame(size, !client)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if _, err := peer.Write(frame); err != nil {
				return
			}
		}
	})
	defer func() {
		c.CloseNow()
		peer.Close()
		wg.Wait()
	}()

	ctx := context.Background()
	buf := make([]byte, 0, size)
	read := func() {
		typ, msg, err := c.ReadAppend(ctx, buf[:0])
		if err != nil || typ != ws.MessageBinary || len(msg) != size || msg[size-1] != byte('a'+(size-1)%26) {
			t.Fatalf("ReadAppend = %v, %d bytes, %v", typ, len(msg), err)
		}
	}
	for range allocRuns {
		read()
	}
	if n := testing.AllocsPerRun(allocRuns, read); n != 0 {
		t.Errorf("ReadAppend of %d bytes into a reused buffer allocates %v times per message, want 0", size, n)
	}
}
