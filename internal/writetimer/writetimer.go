// Package writetimer bounds each of a connection's writes by a timeout with one context
// and one timer for the connection's life, the timer reset at every write, rather than a
// context.WithTimeout (a context and a timer) for every message.
//
//	t := writetimer.New(timeout)
//	defer t.Stop()
//	for … {
//		err := c.Write(t.Start(), typ, msg)
//		if t.Expired() {
//			// the write took the whole timeout: a slow consumer
//		}
//	}
//
// One goroutine at a time may write with it.
package writetimer

import (
	"context"
	"time"
)

// Timer times one write at a time.
type Timer struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	d      time.Duration
}

// New returns a Timer of d for each write.
func New(d time.Duration) *Timer {
	ctx, cancel := context.WithCancelCause(context.Background())
	t := &Timer{ctx: ctx, cancel: cancel, d: d}
	t.timer = time.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	t.timer.Stop()
	return t
}

// Start starts the timer for a write, and returns the write's context, which ends, with
// cause context.DeadlineExceeded, if the timer fires before Expired is called.
func (t *Timer) Start() context.Context {
	t.timer.Reset(t.d)
	return t.ctx
}

// Expired stops the timer after a write, and reports whether it had fired: the write took
// the whole timeout (and, if it had not finished, failed). The context then ends, if the
// timer's function has not ended it yet, for every later write.
func (t *Timer) Expired() bool { return !t.timer.Stop() }

// Stop stops the timer for good and ends the context.
func (t *Timer) Stop() {
	t.timer.Stop()
	t.cancel(nil)
}
