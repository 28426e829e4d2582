package bench

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/duplex-ws/duplex/ws"
)

// clock reads the monotonic clock as nanoseconds since a run started, without allocating.
type clock struct{ base time.Time }

func newClock() clock { return clock{base: time.Now()} }

func (c clock) now() int64 { return int64(time.Since(c.base)) }

// The histograms' range and precision: 1 µs to 60 s, in nanoseconds, 3 significant digits.
const (
	histLowest  = int64(time.Microsecond)
	histHighest = int64(60 * time.Second)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// recorder holds a run's latencies in shards, each a histogram under a mutex, so that
// connections on different processors rarely wait for each other.
type recorder struct {
	shards []shard
}

type shard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [64]byte // keeps the shards' mutexes on different cache lines
}

// newRecorder returns a recorder for n connections.
func newRecorder(n int) *recorder {
	r := &recorder{shards: make([]shard, max(1, min(n, 4*runtime.GOMAXPROCS(0))))}
	for i := range r.shards {
		r.shards[i].h = newHistogram()
	}
	return r
}

// shard returns the shard of connection i.
func (r *recorder) shard(i int) *shard { return &r.shards[i%len(r.shards)] }

// record adds a latency in nanoseconds; values beyond the histogram's range are clamped,
// so that recording never fails (nor allocates an error).
func (s *shard) record(ns int64) {
	ns = min(max(ns, 0), histHighest)
	s.mu.Lock()
	s.h.RecordValue(ns)
	s.mu.Unlock()
}

// latency returns the summary of every shard's latencies.
func (r *recorder) latency() Latency {
	all := newHistogram()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		all.Merge(s.h)
		s.mu.Unlock()
	}
	return summarize(all)
}

// Latency summarizes a run's latencies, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		Count: h.TotalCount(),
		Min:   us(h.Min()),
		Mean:  h.Mean() / 1e3,
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// The kinds of errors.
const (
	kindDial      = "dial"      // the TCP connection or TLS failed
	kindHandshake = "handshake" // the server refused the WebSocket handshake
	kindTimeout   = "timeout"   // the handshake took longer than DialTimeout
	kindWrite     = "write"     // sending failed
	kindRead      = "read"      // the connection was lost while receiving
	kindClosed    = "closed"    // the server closed the connection
	kindProtocol  = "protocol"  // the server broke the WebSocket protocol
	kindMismatch  = "mismatch"  // a reply or delivery that was not what was sent
)

// classify returns the kind of err, which happened while doing what kind names.
func classify(kind string, err error) string {
	var ce *ws.CloseError
	var pe *ws.ProtocolError
	var ne net.Error
	switch {
	case kind == kindMismatch:
		return kind
	case errors.Is(err, ws.ErrBadHandshake):
		return kindHandshake
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return kindTimeout
	case errors.As(err, &pe), errors.Is(err, errTCPTooLarge):
		return kindProtocol
	case errors.As(err, &ce) && ce.Code != ws.StatusAbnormalClosure:
		return kindClosed
	}
	return kind
}

// ErrorCount is how many errors of a kind a run had, with the first one's message.
type ErrorCount struct {
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
	First string `json:"first"`
}

// errorCounts counts a run's errors by kind.
type errorCounts struct {
	total atomic.Int64
	mu    sync.Mutex
	kinds map[string]*ErrorCount
}

func (e *errorCounts) add(kind string, err error) {
	e.total.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kinds == nil {
		e.kinds = make(map[string]*ErrorCount)
	}
	c, ok := e.kinds[kind]
	if !ok {
		c = &ErrorCount{Kind: kind, First: err.Error()}
		e.kinds[kind] = c
	}
	c.Count++
}

// list returns the counts, most frequent first.
func (e *errorCounts) list() []ErrorCount {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []ErrorCount{}
	for _, c := range e.kinds {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// cpuMeter measures the process's CPU time over a window, and the server's when pid is
// not zero.
type cpuMeter struct {
	pid        int
	start, end time.Duration
	started    bool
	ok         bool

	srvStart, srvEnd procCPU
	srvOK            bool
}

// procCPU is a process's CPU time: user, in the process itself (its code and Go's
// runtime), and system, in the kernel on its behalf (system calls, and on loopback the
// peer's share of TCP).
type procCPU struct{ user, sys time.Duration }

func (m *cpuMeter) begin() {
	m.start, m.ok = cpuTime()
	m.started = true
	if m.pid != 0 {
		var err error
		m.srvStart, err = processCPU(m.pid)
		m.srvOK = err == nil
	}
}

func (m *cpuMeter) finish() {
	if !m.started {
		return
	}
	var ok bool
	m.end, ok = cpuTime()
	m.ok = m.ok && ok
	m.started = false
	if m.pid != 0 {
		var err error
		m.srvEnd, err = processCPU(m.pid)
		m.srvOK = m.srvOK && err == nil
	}
}

// perOp returns the CPU time in seconds and in microseconds per operation, or zeros when
// the platform cannot tell.
func (m *cpuMeter) perOp(ops int64) (seconds, usPerOp float64) {
	if !m.ok {
		return 0, 0
	}
	return perOp(m.end-m.start, ops)
}

// serverPerOp is perOp for the server, zeros without one; sysPerOp is the part of usPerOp
// spent in the kernel.
func (m *cpuMeter) serverPerOp(ops int64) (seconds, usPerOp, sysPerOp float64) {
	if !m.srvOK {
		return 0, 0, 0
	}
	user, sys := m.srvEnd.user-m.srvStart.user, m.srvEnd.sys-m.srvStart.sys
	seconds, usPerOp = perOp(user+sys, ops)
	_, sysPerOp = perOp(sys, ops)
	return seconds, usPerOp, sysPerOp
}

func perOp(d time.Duration, ops int64) (seconds, usPerOp float64) {
	seconds = d.Seconds()
	if ops > 0 {
		usPerOp = float64(d.Nanoseconds()) / 1e3 / float64(ops)
	}
	return seconds, usPerOp
}
