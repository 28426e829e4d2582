package ws_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// TestIdleConnHoldsNoBuffer checks that a connection waiting for its next message holds
// no read buffer: 300 server connections over loopback TCP each read one message and then
// wait in Read for another; the heap they hold, per connection, must stay far below the
// 64 KiB read buffer each would otherwise keep.
func TestIdleConnHoldsNoBuffer(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 600 sockets")
	}
	// A large read buffer makes one held per connection unmistakable.
	const n, bufSize = 300, 64 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type pair struct {
		c    *ws.Conn
		peer *rawPeer
		done chan struct{}
	}
	measure := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	var pairs []pair
	for range n {
		c, p := newPair(t, asServer, readWhole, &ws.ConnOptions{ReadBufferSize: bufSize})
		pairs = append(pairs, pair{c: c, peer: p, done: make(chan struct{})})
	}
	// The Conns, their sockets and the raw peers, before any reading, as the baseline.
	before := measure()
	for i := range pairs {
		pr := &pairs[i]
		go func() {
			defer close(pr.done)
			for {
				if _, _, err := pr.c.Read(ctx); err != nil {
					return
				}
			}
		}()
		pr.peer.send(true, 0x1, []byte("hello"))
	}
	// Every reader takes its message and then waits for the next; poll until the heap
	// they hold is below a quarter of a read buffer each, or fail after a while.
	var perConn int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		perConn = (int64(measure()) - int64(before)) / n
		if perConn < bufSize/4 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("heap added per idle connection by its waiting reader: %d bytes", perConn)
	if perConn >= bufSize/4 {
		t.Errorf("idle connections hold %d bytes each: a read buffer is kept while waiting", perConn)
	}
	for _, pr := range pairs {
		pr.c.CloseNow()
		<-pr.done
	}
}
