package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// runner is what the three runs share: the configuration, the clock, the error counts and
// the waiting, with progress reports, of the goroutine that called the run.
type runner struct {
	cfg    Config
	ctx    context.Context
	dialer dialer // set by the run before it dials
	clock  clock
	errs   errorCounts
	open   atomic.Int64 // connections open
	cpu    cpuMeter     // over the measured window

	phase    string
	messages func() int64 // for Progress.Messages; nil means none

	ticks <-chan time.Time // progress ticks; nil without Progress
	stopT func()
	timer *time.Timer
}

func newRunner(ctx context.Context, cfg Config) *runner {
	r := &runner{cfg: cfg, ctx: ctx, clock: newClock(), timer: time.NewTimer(time.Hour), stopT: func() {}}
	r.cpu.pid = cfg.ServerPID
	r.timer.Stop()
	if cfg.Progress != nil {
		t := time.NewTicker(cfg.ProgressInterval)
		r.ticks, r.stopT = t.C, t.Stop
	}
	return r
}

// close releases the runner's timers.
func (r *runner) close() {
	r.timer.Stop()
	r.stopT()
}

// progress reports the run's progress now.
func (r *runner) progress() {
	if r.cfg.Progress == nil {
		return
	}
	p := Progress{Phase: r.phase, Elapsed: time.Duration(r.clock.now()), Open: r.open.Load(), Errors: r.errs.total.Load()}
	if r.messages != nil {
		p.Messages = r.messages()
	}
	r.cfg.Progress(p)
}

// What ended a wait.
type waitResult int

const (
	waitDone     waitResult = iota // the channel was closed
	waitTime                       // the time came
	waitCanceled                   // the run's context ended
)

// wait waits until done is closed, the clock reaches at (unless at is negative), or the
// run's context ends, reporting progress meanwhile. A nil done is never closed.
func (r *runner) wait(done <-chan struct{}, at int64) waitResult {
	if r.ctx.Err() != nil {
		return waitCanceled
	}
	var timeC <-chan time.Time
	if at >= 0 {
		d := at - r.clock.now()
		if d <= 0 {
			return waitTime
		}
		r.timer.Reset(time.Duration(d))
		defer r.timer.Stop()
		timeC = r.timer.C
	}
	for {
		select {
		case <-done:
			return waitDone
		case <-timeC:
			return waitTime
		case <-r.ctx.Done():
			return waitCanceled
		case <-r.ticks:
			r.progress()
		}
	}
}

// dialAll opens n connections to the URLs urlOf gives, at most MaxDialing at once,
// calling opened (if not nil) on the dialling goroutine as each opens. Failed dials are
// counted as errors and leave nil in the returned slice. It returns early, with the
// connections opened so far, if the run's context ends.
func (r *runner) dialAll(n int, urlOf func(i int) string, opened func(i int, c conn)) []conn {
	conns := make([]conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, MaxDialing) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || r.ctx.Err() != nil {
					return
				}
				c, err := r.dial(urlOf(i))
				if err != nil {
					continue
				}
				conns[i] = c
				if opened != nil {
					opened(i, c)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	r.wait(done, -1)
	<-done // a cancelled context ends the dials in progress
	return conns
}

// dial opens one connection, counting its failure as an error, unless the run was
// cancelled.
func (r *runner) dial(url string) (conn, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.DialTimeout)
	defer cancel()
	c, err := r.dialer.dial(ctx, url)
	if err != nil {
		if r.ctx.Err() == nil {
			r.errs.add(classify(kindDial, err), err)
		}
		return nil, err
	}
	r.open.Add(1)
	return c, nil
}
