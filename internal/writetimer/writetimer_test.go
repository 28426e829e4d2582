package writetimer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/writetimer"
)

// TestWritesInTime checks that writes that end before the timeout leave the context alive,
// however many there are: each Start gets the whole timeout again.
func TestWritesInTime(t *testing.T) {
	wt := writetimer.New(200 * time.Millisecond)
	defer wt.Stop()
	end := time.Now().Add(600 * time.Millisecond) // three timeouts' worth of writes
	for n := 0; time.Now().Before(end); n++ {
		ctx := wt.Start()
		time.Sleep(time.Millisecond)
		if wt.Expired() {
			t.Fatalf("write %d expired after 1ms of a 200ms timeout", n)
		}
		if ctx.Err() != nil {
			t.Fatalf("write %d: context ended: %v", n, ctx.Err())
		}
	}
}

// TestWriteTooLong checks that a write outlasting the timeout sees its context end, with
// cause DeadlineExceeded, and is reported expired; the context stays ended.
func TestWriteTooLong(t *testing.T) {
	wt := writetimer.New(20 * time.Millisecond)
	defer wt.Stop()
	ctx := wt.Start()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the context did not end after the 20ms timeout")
	}
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Errorf("cause %v, want DeadlineExceeded", context.Cause(ctx))
	}
	if !wt.Expired() {
		t.Error("Expired() = false after the timer fired")
	}
	if wt.Start().Err() == nil {
		t.Error("the context is alive again after it expired")
	}
}

// TestStop checks that Stop ends the context.
func TestStop(t *testing.T) {
	wt := writetimer.New(time.Hour)
	ctx := wt.Start()
	wt.Stop()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("after Stop the context's error is %v, want Canceled", ctx.Err())
	}
}
