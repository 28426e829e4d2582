package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Connect opens cfg.Connections connections to cfg.URL, at cfg.Rate handshakes a second
// or as fast as they open, timing each handshake from its intended start; then it holds
// them open, idle but read (so that pings are answered), for cfg.Hold, as a server's
// memory per connection is measured, and closes them with 1000. It returns the
// measurements when the run is over, or earlier, marked interrupted, if ctx ends.
func Connect(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults("connect")
	if err != nil {
		return nil, err
	}
	r := newRunner(ctx, cfg)
	defer r.close()
	k := &connectRun{runner: r, conns: make([]*heldConn, cfg.Connections), rec: newRecorder(cfg.Connections)}
	r.dialer = newDialer(&cfg, tcpEcho, ws.MessageBinary)
	var rssBefore, rssHeld int64
	if cfg.ServerPID != 0 {
		rssBefore, _ = processRSS(cfg.ServerPID)
	}

	r.phase = "opening"
	cpu := &r.cpu
	cpu.begin()
	k.start = r.clock.now()
	opened := make(chan struct{})
	var readers sync.WaitGroup
	go k.launch(opened, &readers)
	w := r.wait(opened, -1)
	<-opened // a cancelled context ends the handshakes in progress
	cpu.finish()
	openTime := max(k.lastOpen.Load()-k.start, 0)

	readersDone := make(chan struct{})
	go func() {
		readers.Wait()
		close(readersDone)
	}()
	if w != waitCanceled {
		r.phase = "holding"
		w = r.wait(readersDone, r.clock.now()+int64(cfg.Hold))
		if w == waitDone {
			w = waitTime // every connection was lost: nothing more to hold
		}
	}
	held := int64(0)
	for _, hc := range k.conns {
		if hc != nil && !hc.failed.Load() {
			held++
		}
	}
	if cfg.ServerPID != 0 && rssBefore > 0 {
		rssHeld, _ = processRSS(cfg.ServerPID)
	}
	r.phase = "closing"
	k.closeAll()
	r.wait(readersDone, -1)
	<-readersDone
	r.phase = "done"
	r.progress()

	res := k.newResult("connect", openTime, w == waitCanceled)
	res.Connections = cfg.Connections
	res.Rate = cfg.Rate
	res.Hold = cfg.Hold.Seconds()
	res.Connected = k.connected.Load()
	res.OpenTime = res.Duration
	if res.OpenTime > 0 {
		res.HandshakesPerSecond = float64(res.Connected) / res.OpenTime
	}
	res.Held = held
	res.Latency = k.rec.latency()
	res.cpu(cpu, res.Connected)
	if rssHeld > 0 {
		res.ServerRSSBefore, res.ServerRSSHeld = rssBefore, rssHeld
		if held > 0 {
			res.ServerRSSPerConn = float64(rssHeld-rssBefore) / float64(held)
		}
	}
	return res, nil
}

// connectRun is the state of a Connect run.
type connectRun struct {
	*runner
	conns     []*heldConn // by index; nil for those that did not open
	rec       *recorder   // handshake latencies
	start     int64       // clock time of the first handshake's start
	lastOpen  atomic.Int64
	connected atomic.Int64
}

// heldConn is a connection that Connect holds.
type heldConn struct {
	c               conn
	stopped, failed atomic.Bool // as echoConn's
}

// launch starts the handshakes, one goroutine each, on schedule or as slots free up,
// and closes opened once they have all ended. Each goroutine then holds its connection,
// reading, and readers counts them.
func (k *connectRun) launch(opened chan<- struct{}, readers *sync.WaitGroup) {
	defer close(opened)
	var handshakes sync.WaitGroup
	defer handshakes.Wait()
	var slots chan struct{}
	var timer *time.Timer
	if k.cfg.Rate > 0 {
		timer = time.NewTimer(time.Hour)
		defer timer.Stop()
	} else {
		slots = make(chan struct{}, MaxDialing)
	}
	nsPer := 0.0
	if k.cfg.Rate > 0 {
		nsPer = 1e9 / k.cfg.Rate
	}
	for i := range k.conns {
		var due int64
		if timer != nil {
			due = k.start + int64(float64(i)*nsPer)
			if !k.sleepUntil(due, timer) {
				return
			}
		} else {
			select {
			case slots <- struct{}{}:
			case <-k.ctx.Done():
				return
			}
			due = k.clock.now()
		}
		handshakes.Add(1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			c, err := k.dial(k.cfg.URL)
			now := k.clock.now()
			if slots != nil {
				<-slots
			}
			if err != nil {
				handshakes.Done()
				return
			}
			hc := &heldConn{c: c}
			k.conns[i] = hc
			k.connected.Add(1)
			k.rec.shard(i).record(now - due)
			for last := k.lastOpen.Load(); now > last && !k.lastOpen.CompareAndSwap(last, now); last = k.lastOpen.Load() {
			}
			handshakes.Done()
			k.hold(hc)
		}()
	}
}

// sleepUntil waits until the clock reaches t. It returns false if the run's context ended
// first.
func (k *connectRun) sleepUntil(t int64, timer *time.Timer) bool {
	for {
		d := t - k.clock.now()
		if d <= 0 {
			return true
		}
		timer.Reset(time.Duration(d))
		select {
		case <-timer.C:
		case <-k.ctx.Done():
			return false
		}
	}
}

// hold reads, and discards, what comes to the connection until it ends.
func (k *connectRun) hold(hc *heldConn) {
	defer k.open.Add(-1)
	var buf []byte
	for {
		_, msg, err := hc.c.receive(buf[:0])
		if err != nil {
			if !hc.stopped.Load() && hc.failed.CompareAndSwap(false, true) {
				k.errs.add(classify(kindRead, err), err)
			}
			hc.c.closeNow()
			return
		}
		buf = msg
	}
}

// closeAll closes the connections with 1000, MaxDialing at a time.
func (k *connectRun) closeAll() {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(k.conns), MaxDialing) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(k.conns) {
					return
				}
				if hc := k.conns[i]; hc != nil {
					hc.stopped.Store(true)
					hc.c.close()
				}
			}
		})
	}
	wg.Wait()
}
