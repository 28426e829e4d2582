package testenv

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that one goroutine (a command's output, a browser's log) may
// write while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitMatch polls b until re matches what was written, and returns re's first submatch
// (or the whole match if re has no group). It fails t when ctx ends first.
func WaitMatch(t testing.TB, ctx context.Context, b *Buffer, re *regexp.Regexp) string {
	t.Helper()
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("output %q never matched %s", b.String(), re)
			return ""
		case <-time.After(5 * time.Millisecond):
		}
	}
}
