package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Echo sends messages over cfg.Connections connections to the echo endpoint at cfg.URL
// and times their replies, for cfg.Warmup and then cfg.Duration: in a closed loop, each
// connection keeping cfg.Pipeline messages in flight, or, with cfg.Rate, on a schedule
// spread evenly over the connections. It returns the measurements when the run is over,
// or earlier, marked interrupted, if ctx ends.
func Echo(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults("echo")
	if err != nil {
		return nil, err
	}
	r := newRunner(ctx, cfg)
	defer r.close()
	e := &echoRun{runner: r, payload: payload(cfg.Size), typ: ws.MessageText, stop: make(chan struct{})}
	if cfg.Binary {
		e.typ = ws.MessageBinary
	}
	e.prepared, err = ws.NewPreparedMessage(e.typ, e.payload)
	if err != nil {
		return nil, err
	}
	r.dialer = newDialer(&cfg, tcpEcho, e.typ)

	r.phase = "dialing"
	for _, c := range r.dialAll(cfg.Connections, func(int) string { return cfg.URL }, nil) {
		if c != nil {
			e.conns = append(e.conns, e.newConn(c))
		}
	}
	e.rec = newRecorder(len(e.conns))
	for i, ec := range e.conns {
		ec.index = i
		ec.shard = e.rec.shard(i)
	}
	if cfg.Rate > 0 {
		e.nsPerMsg = 1e9 / cfg.Rate
	}
	r.messages = func() int64 {
		var n int64
		for _, ec := range e.conns {
			n += ec.received.Load()
		}
		return n
	}

	e.start = r.clock.now()
	e.measureStart = e.start + int64(cfg.Warmup)
	sendEnd := e.measureStart + int64(cfg.Duration)
	e.end.Store(sendEnd)
	if ctx.Err() != nil {
		e.end.Store(e.start)
	}
	done := e.serveAll()

	cpu := &r.cpu
	w := waitTime
	if cfg.Warmup > 0 {
		r.phase = "warmup"
		w = r.wait(done, e.measureStart)
	}
	measured := int64(0)
	if w == waitTime {
		r.phase = "measuring"
		cpu.begin()
		w = r.wait(done, sendEnd)
		measured = sendEnd - e.measureStart
		if w == waitCanceled || w == waitDone && (e.allFailed() || cfg.limit > 0) {
			measured = min(r.clock.now(), sendEnd) - e.measureStart
		}
		cpu.finish()
	}
	if w == waitCanceled {
		e.interrupt()
	} else {
		r.phase = "draining"
		if r.wait(done, sendEnd+int64(cfg.Drain)) != waitDone {
			e.closeAll() // replies still missing are counted in flight
		}
	}
	<-done
	r.phase = "done"
	r.progress()
	return e.result(max(measured, 0), w == waitCanceled), nil
}

// echoRun is the state of an Echo run that its connections share.
type echoRun struct {
	*runner
	payload []byte // every message's, shared: Write does not modify it
	// prepared is payload prepared, which compressed connections send (wsConn.prepared).
	prepared *ws.PreparedMessage
	typ      ws.MessageType // every message's
	conns    []*echoConn    // the connections that opened
	rec      *recorder      // the latencies
	stop     chan struct{}  // closed when the run is interrupted

	// Times on the run's clock: sending starts, measuring starts (messages sent from then
	// on are measured), and sending ends (no message is sent from then on).
	start, measureStart int64
	end                 atomic.Int64

	nsPerMsg float64 // on a schedule: nanoseconds between two messages, over all connections

	loops eventLoops // serving closed-loop connections, where they can (loop_linux.go)
}

// writerDone is added to echoConn.state once the writer has stopped.
const writerDone = 1 << 62

// echoConn is one connection of an Echo run.
type echoConn struct {
	echo  *echoRun
	c     conn
	index int    // among the connections that opened
	shard *shard // where its latencies go

	buf []byte // replies are read into it

	// With a writer and a reader: the send times (intended, on a schedule) of the messages
	// in flight, by sequence number modulo their number, and a credit for each message
	// that may be sent.
	slots      []atomic.Int64
	credits    chan struct{}
	readerDone chan struct{}
	// state is the number of messages in flight, plus writerDone once the writer has
	// stopped: whichever of writer and reader brings it to exactly writerDone closes the
	// connection, the reader having nothing more to wait for.
	state atomic.Int64

	stopped  atomic.Bool  // the run closes the connection: errors are no longer counted
	failed   atomic.Bool  // an error ended the connection
	received atomic.Int64 // replies, warm-up included, for progress
	looped   bool         // an event loop served it (for a while at least)

	// The writer's.
	sent, sentMeasured, late int64
	// The reader's.
	recvSeq, recvMeasured, bytes int64
}

func (e *echoRun) newConn(c conn) *echoConn {
	ec := &echoConn{echo: e, c: c, buf: make([]byte, 0, len(e.payload))}
	if w, ok := c.(*wsConn); ok && e.cfg.Compress {
		w.prepared = e.prepared
	}
	if e.split() {
		n := e.cfg.Pipeline
		ec.slots = make([]atomic.Int64, n)
		ec.credits = make(chan struct{}, n)
		for range n {
			ec.credits <- struct{}{}
		}
		ec.readerDone = make(chan struct{})
	}
	return ec
}

// split reports whether connections run a writer and a reader, rather than one goroutine
// that writes a message and reads its reply.
func (e *echoRun) split() bool { return e.cfg.Pipeline > 1 || e.cfg.Rate > 0 }

// payload returns a message of n bytes of English-like text, valid as text and
// compressible: words drawn at random from a vocabulary of common ones, which deflate
// finds repeated, as in prose.
func payload(n int) []byte {
	words := strings.Fields(vocabulary)
	rng := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, 0, n+16)
	for len(p) < n {
		p = append(p, words[rng.IntN(len(words))]...)
		p = append(p, ' ')
	}
	return p[:n]
}

// vocabulary is the words of payload: the most common of English, and some others.
const vocabulary = `the of and to in is was that for it with as his on be at by had are but from or
have an they which one you were her all she there would their we him been has when who will
more no if out so said what up its about into than them can only other new some could time
these two may then do first any my now such like our over man me even most made after also
did many before must through back years where much your way well down should because each
just those people how too little state good very make world still own see men work long get
here between both life being under never day same another know while last might us great
old year off come since against go came right used take three messages socket frames server
client latency deflate window buffer handshake payload broadcast subscriber publisher`

// loopMaxSize is the largest message an event loop sends (loop_linux.go): the wire holds
// it whole, with its header.
const loopMaxSize = tcpCopyMax

// serveAll runs every connection, and returns a channel closed once all have stopped,
// and every goroutine they started has ended. Closed-loop connections are served by event
// loops where they can be, the others by goroutines of their own.
func (e *echoRun) serveAll() <-chan struct{} {
	var wg sync.WaitGroup
	rest := e.conns
	if !e.split() {
		rest = e.startLoops(&wg)
	}
	for _, ec := range rest {
		wg.Go(ec.serve)
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// serve runs the connection until the run stops it or it fails.
func (ec *echoConn) serve() {
	defer ec.echo.open.Add(-1)
	if !ec.echo.split() {
		ec.closedLoop(false, 0)
		return
	}
	go ec.reader()
	ec.writer()
}

// closedLoop writes a message, reads its reply, and again. With inFlight, it first reads
// the reply to the message already sent at t0: an event loop hands connections over so.
func (ec *echoConn) closedLoop(inFlight bool, t0 int64) {
	e := ec.echo
	for {
		if !inFlight {
			t0 = e.clock.now()
			if ec.done(t0) {
				break
			}
			// Written, then waiting for the reply to be readable, without a read that finds
			// nothing first (wire).
			err := ec.c.queue(e.payload)
			if err == nil {
				err = ec.c.flush(true)
			}
			if err != nil {
				ec.fail(kindWrite, err)
				break
			}
			ec.countSent(t0)
		}
		inFlight = false
		typ, msg, err := ec.c.receive(ec.buf[:0])
		if err != nil {
			ec.fail(kindRead, err)
			break
		}
		ec.buf = msg
		if !ec.reply(typ, msg, t0, e.clock.now()) {
			break
		}
	}
	if ec.failed.Load() {
		ec.c.closeNow()
		return
	}
	ec.closeGracefully()
}

// writer sends messages while the pipeline or the schedule allows. The messages that it
// may send together (those it has credits for, and that are due) go out in one write.
func (ec *echoConn) writer() {
	e := ec.echo
	var timer *time.Timer
	if e.cfg.Rate > 0 {
		timer = time.NewTimer(time.Hour)
		defer timer.Stop()
	}
	n := int64(len(ec.slots))
	seq := int64(0)
loop:
	for e.cfg.limit == 0 || seq < e.cfg.limit {
		var t0 int64
		if timer != nil {
			t0 = ec.due(seq)
			if t0 >= e.end.Load() || !ec.sleepUntil(t0, timer) {
				break
			}
		}
		select {
		case <-ec.credits:
		case <-ec.readerDone:
			break loop
		case <-e.stop:
			break loop
		}
		now := e.clock.now()
		if timer == nil {
			if now >= e.end.Load() {
				break
			}
			t0 = now
		}
		// Message seq, and those after it that have a credit and are due by now, are
		// queued, then written together.
		var sent, measured, late int64
		for {
			if timer != nil && now-t0 > int64(LateAfter) && t0 >= e.measureStart {
				late++
			}
			ec.slots[seq%n].Store(t0)
			ec.state.Add(1)
			seq++
			sent++
			if t0 >= e.measureStart {
				measured++
			}
			err := ec.c.queue(e.payload)
			if err == nil && !ec.another(seq, now, sent) {
				err = ec.c.flush(false)
				if err == nil {
					break
				}
			}
			if err != nil {
				// A failed write closes the connection. The reader's error, if it has one,
				// tells better why: a close frame from the server makes writes fail too.
				<-ec.readerDone
				ec.fail(kindWrite, err)
				break loop
			}
			if timer != nil {
				t0 = ec.due(seq)
			}
		}
		ec.sent += sent
		ec.sentMeasured += measured
		ec.late += late
	}
	if ec.state.Add(writerDone) == writerDone && !ec.failed.Load() {
		ec.closeGracefully() // nothing in flight: the reader's read ends with the close
	}
	<-ec.readerDone
	ec.c.closeNow()
}

// another reports whether message seq joins the queued messages before it, in one write
// at now, taking its credit: it must have one, be due, and fit in the wire with its
// header (at most 14 bytes, a WebSocket client's).
func (ec *echoConn) another(seq, now, queued int64) bool {
	e := ec.echo
	switch {
	case e.cfg.limit > 0 && seq >= e.cfg.limit,
		(queued+1)*int64(len(e.payload)+14) > wireMax,
		e.cfg.Rate > 0 && (ec.due(seq) > now || ec.due(seq) >= e.end.Load()):
		return false
	}
	select {
	case <-ec.credits:
		return true
	default:
		return false
	}
}

// reader reads the replies, until the writer has stopped and every reply is in.
func (ec *echoConn) reader() {
	defer close(ec.readerDone)
	n := int64(len(ec.slots))
	for {
		typ, msg, err := ec.c.receive(ec.buf[:0])
		if err != nil {
			ec.fail(kindRead, err)
			return
		}
		ec.buf = msg
		if ec.state.Load()&^writerDone == 0 {
			ec.fail(kindMismatch, fmt.Errorf("bench: a message of %d bytes came with no message in flight", len(msg)))
			ec.c.closeNow()
			return
		}
		t0 := ec.slots[ec.recvSeq%n].Load()
		ec.recvSeq++
		if !ec.reply(typ, msg, t0, ec.echo.clock.now()) {
			ec.c.closeNow()
			return
		}
		if ec.state.Add(-1) == writerDone {
			ec.closeGracefully() // the writer has stopped and every reply is in
			return
		}
		ec.credits <- struct{}{} // never blocks: there are never more credits than slots
	}
}

// due returns the intended send time of the connection's message seq: the run's messages
// are spread evenly over the connections, message k of the run being due k/Rate seconds
// after the start.
func (ec *echoConn) due(seq int64) int64 {
	e := ec.echo
	k := float64(ec.index) + float64(seq)*float64(len(e.conns))
	return e.start + int64(k*e.nsPerMsg)
}

// sleepUntil waits until the clock reaches t. It returns false if the run or the reader
// stopped first.
func (ec *echoConn) sleepUntil(t int64, timer *time.Timer) bool {
	e := ec.echo
	for {
		d := t - e.clock.now()
		if d <= 0 {
			return true
		}
		timer.Reset(time.Duration(d))
		select {
		case <-timer.C:
		case <-ec.readerDone:
			return false
		case <-e.stop:
			return false
		}
	}
}

// done reports whether a closed loop sends no more messages, at now: sending has ended,
// or (in a benchmark) the connection has sent its limit.
func (ec *echoConn) done(now int64) bool {
	e := ec.echo
	return now >= e.end.Load() || e.cfg.limit > 0 && ec.sent >= e.cfg.limit
}

// countSent counts a message sent, with its send time t0.
func (ec *echoConn) countSent(t0 int64) {
	ec.sent++
	if t0 >= ec.echo.measureStart {
		ec.sentMeasured++
	}
}

// reply checks and records the reply to the message sent at t0, received at now. It
// returns false, having counted the error, for a reply that is not the message sent.
func (ec *echoConn) reply(typ ws.MessageType, msg []byte, t0, now int64) bool {
	e := ec.echo
	if typ != e.typ || len(msg) != len(e.payload) {
		ec.fail(kindMismatch, fmt.Errorf("bench: sent a %v message of %d bytes, received a %v message of %d", e.typ, len(e.payload), typ, len(msg)))
		return false
	}
	ec.received.Add(1)
	if t0 >= e.measureStart {
		ec.recvMeasured++
		ec.bytes += int64(len(msg))
		ec.shard.record(now - t0)
	}
	return true
}

// fail counts the error that ended the connection, unless the run closed it or an error
// was already counted.
func (ec *echoConn) fail(kind string, err error) {
	if ec.stopped.Load() {
		return
	}
	if ec.failed.CompareAndSwap(false, true) {
		ec.echo.errs.add(classify(kind, err), err)
	}
}

// closeGracefully closes the connection with 1000, any error that follows being the
// close's.
func (ec *echoConn) closeGracefully() {
	ec.stopped.Store(true)
	ec.c.close()
}

// allFailed reports whether every connection failed; the connections have all stopped.
func (e *echoRun) allFailed() bool {
	for _, ec := range e.conns {
		if !ec.failed.Load() {
			return false
		}
	}
	return true
}

// closeAll closes every connection at once, at the end of the drain: the replies still
// missing are in flight, not lost. Then it wakes the event loops, which a closed
// connection does not, to let go of theirs.
func (e *echoRun) closeAll() {
	for _, ec := range e.conns {
		ec.stopped.Store(true)
		ec.c.closeNow()
	}
	e.loops.wake()
}

// interrupt stops the run at once.
func (e *echoRun) interrupt() {
	e.end.Store(e.clock.now())
	close(e.stop)
	e.closeAll()
}

// result returns the run's measurements, of a measured window that lasted measured ns.
func (e *echoRun) result(measured int64, interrupted bool) *Result {
	cfg := &e.cfg
	res := e.newResult("echo", measured, interrupted)
	res.Connections = cfg.Connections
	res.Size = cfg.Size
	res.Binary = cfg.Binary
	res.Pipeline = cfg.Pipeline
	res.Rate = cfg.Rate
	res.Connected = int64(len(e.conns))
	for _, ec := range e.conns {
		if ec.looped {
			res.looped++
		}
		res.Sent += ec.sentMeasured
		res.Received += ec.recvMeasured
		res.Late += ec.late
		res.Bytes += ec.bytes
		if missing := ec.sentMeasured - ec.recvMeasured; ec.failed.Load() {
			res.Lost += missing
		} else {
			res.InFlight += missing
		}
	}
	res.Latency = e.rec.latency()
	res.rates(res.Received)
	res.cpu(&e.cpu, res.Received)
	return res
}
