package srv

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func TestSubscribers(t *testing.T) {
	var s Subscribers[string]
	s.Add("a")
	s.Add("b")
	s.Add("c")
	before := s.Snapshot()
	s.Remove("b")
	s.Remove("x")
	if got := s.Snapshot(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("after removing b: %q", got)
	}
	if !slices.Equal(before, []string{"a", "b", "c"}) {
		t.Errorf("an earlier snapshot changed: %q", before)
	}
}

func TestBroadcastWriteFails(t *testing.T) {
	var b Broadcast[int]
	var ok, failed atomic.Int32
	leaveGood := b.Join(func(int) error { ok.Add(1); return nil }, func() {})
	leaveBad := b.Join(func(int) error { return errors.New("broken") }, func() { failed.Add(1) })
	// More than a queue holds: the broken subscriber's must not block the publisher.
	for i := range QueueLen + 10 {
		b.Publish(i)
	}
	leaveBad()
	leaveGood()
	if failed.Load() != 1 {
		t.Errorf("fail called %d times, want 1", failed.Load())
	}
	if n := ok.Load(); n == 0 || n > QueueLen+10 {
		t.Errorf("the healthy subscriber got %d messages", n)
	}
}

func TestRun(t *testing.T) {
	modes := []Compression{CompressNone, CompressNoTakeover}
	var out strings.Builder
	err := run(context.Background(), "x", modes, []string{"-compress", "no-takeover"}, &out, io.Discard,
		func(ctx context.Context, ln net.Listener, opts Options) error {
			if opts.Compress != CompressNoTakeover {
				t.Errorf("opts %+v", opts)
			}
			return nil
		})
	if err != nil || !strings.HasPrefix(out.String(), "listening on 127.0.0.1:") {
		t.Errorf("run: %v, output %q", err, out.String())
	}
	for _, args := range [][]string{{"-compress", "takeover"}, {"-nope"}, {"extra"}} {
		err := run(context.Background(), "x", modes, args, io.Discard, io.Discard, nil)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
