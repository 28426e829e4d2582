package ws

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// TestCtxMutex checks the lock behind the connection's read and write sides: a waiter
// whose context ends gives up without taking the lock, and a lock handed over while the
// context ends is never lost.
func TestCtxMutex(t *testing.T) {
	var m ctxMutex
	if err := m.lock(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := m.lock(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock held elsewhere: got %v, want context.DeadlineExceeded", err)
	}
	m.unlock()
	// The abandoned waiter must not keep the lock it gets after giving up.
	if err := m.lock(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	m.unlock()

	// Many goroutines with contexts that end at random moments: every lock taken is
	// released once, and the lock is free at the end.
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := 0
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*time.Microsecond)
			defer cancel()
			if m.lock(ctx, nil) != nil {
				return
			}
			mu.Lock()
			held++
			if held != 1 {
				t.Error("two holders at once")
			}
			held--
			mu.Unlock()
			m.unlock()
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for !m.tryLock() {
		if time.Now().After(deadline) {
			t.Fatal("lock still held after every goroutine returned")
		}
		time.Sleep(time.Millisecond)
	}
	m.unlock()
}

// TestConnSize pins what an idle connection costs besides its socket (doc.go, Memory): a
// Conn fits the allocator's 768-byte size class on 64-bit platforms; its write scratch and
// message writer are made by its first write.
func TestConnSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the size is pinned for 64-bit platforms")
	}
	if n := unsafe.Sizeof(Conn{}); n > 768 {
		t.Fatalf("Conn is %d bytes: more than the 768-byte size class of an idle connection's (doc.go)", n)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(a, false, "", nil, nil, nil)
	if c.frames != nil || c.writer != nil {
		t.Fatal("a new Conn holds write state before its first write")
	}
}
