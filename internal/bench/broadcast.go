package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Broadcast publishes messages at cfg.Rate to cfg.Subscribers subscribers, and times each
// delivery from the message's intended send time, for cfg.Warmup and then cfg.Duration.
// It speaks cfg.Protocol: it joins the subscribers and the publisher to a new room of the
// duplex serve chat at cfg.URL, or connects them all to a plain relay there. The publisher
// and the subscribers are in this process and share its clock, which the messages carry.
// It returns the measurements when the run is over, or earlier, marked interrupted, if ctx
// ends.
func Broadcast(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults("broadcast")
	if err != nil {
		return nil, err
	}
	r := newRunner(ctx, cfg)
	defer r.close()
	b := &broadcastRun{
		runner:        r,
		subs:          make([]*subscriber, cfg.Subscribers),
		stop:          make(chan struct{}),
		rec:           newRecorder(cfg.Subscribers),
		pubDone:       make(chan struct{}),
		pubReaderDone: make(chan struct{}),
	}
	if cfg.Protocol == ProtocolChat {
		u, _ := url.Parse(cfg.URL) // checked by withDefaults
		b.room = fmt.Sprintf("bench-%016x", rand.Uint64())
		b.proto = &chatProtocol{url: u, room: b.room, size: cfg.Size}
		r.dialer = newDialer(&cfg, tcpBroadcast, ws.MessageText, chatSubprotocol)
	} else {
		b.relay = &relayProtocol{url: cfg.URL, size: cfg.Size}
		b.proto = b.relay
		r.dialer = newDialer(&cfg, tcpBroadcast, ws.MessageBinary)
	}

	// The subscribers connect, and read from the moment they do: publishing waits until
	// every one has joined, as its welcome to the chat, or a relay's first message, shows.
	r.phase = "dialing"
	var readers, welcomed sync.WaitGroup
	r.dialAll(cfg.Subscribers, func(i int) string { return b.proto.memberURL(fmt.Sprintf("sub-%d", i)) }, func(i int, c conn) {
		s := &subscriber{run: b, c: c, shard: b.rec.shard(i), buf: make([]byte, 0, 256+cfg.Size)}
		b.subs[i] = s
		welcomed.Add(1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			s.read(welcomed.Done)
		}()
	})
	r.messages = func() int64 { // b.subs is written while dialling, and only read from now on
		var n int64
		for _, s := range b.subs {
			if s != nil {
				n += s.received.Load()
			}
		}
		return n
	}
	allWelcomed := make(chan struct{})
	go func() {
		welcomed.Wait()
		close(allWelcomed)
	}()
	joinBy := r.clock.now() + int64(cfg.DialTimeout)
	if b.relay != nil {
		// The publisher sends probes until every subscriber has received one: a relay has
		// no welcome, and a subscriber only joins once the server has handled its
		// handshake, after the client has seen it end.
		if r.open.Load() > 0 { // publishing to no one measures nothing
			b.dialPublisher()
		}
		if b.pub != nil {
			b.probe(allWelcomed, joinBy)
		}
	} else if r.wait(allWelcomed, joinBy) != waitCanceled && r.open.Load() > 0 {
		b.dialPublisher()
	}

	b.start = r.clock.now()
	b.measureStart = b.start + int64(cfg.Warmup)
	sendEnd := b.measureStart + int64(cfg.Duration)
	b.end.Store(sendEnd)
	b.nsPerMsg = 1e9 / cfg.Rate
	switch {
	case b.pub == nil:
		b.pubFailed.Store(true) // nothing was measured
		close(b.pubDone)
	case ctx.Err() != nil || b.pubFailed.Load():
		b.pubStopped.Store(true)
		b.pub.closeNow()
		close(b.pubDone)
	default:
		go b.publish()
	}

	cpu := &r.cpu
	w := waitTime
	if cfg.Warmup > 0 {
		r.phase = "warmup"
		w = r.wait(b.pubDone, b.measureStart)
	}
	measured := int64(0)
	if w == waitTime {
		r.phase = "measuring"
		cpu.begin()
		w = r.wait(b.pubDone, sendEnd)
		measured = sendEnd - b.measureStart
		if w == waitCanceled || w == waitDone && b.pubFailed.Load() {
			measured = min(r.clock.now(), sendEnd) - b.measureStart
		}
		cpu.finish()
	}
	subsDone := make(chan struct{})
	go func() {
		readers.Wait()
		close(subsDone)
	}()
	if w == waitCanceled {
		b.end.Store(r.clock.now())
		close(b.stop)
	} else {
		r.phase = "draining"
		if r.wait(b.pubDone, sendEnd+int64(cfg.Drain)) == waitDone {
			r.wait(subsDone, sendEnd+int64(cfg.Drain))
		}
	}
	r.phase = "closing"
	select {
	case <-b.pubDone:
		if b.pub != nil {
			b.pubStopped.Store(true)
			b.pub.close()
		}
	default: // the publisher is behind, or stuck writing to a server that does not read
		b.pubStopped.Store(true)
		b.pub.closeNow()
		<-b.pubDone
	}
	b.closeAll()
	if b.pub != nil {
		<-b.pubReaderDone
	}
	<-subsDone
	r.phase = "done"
	r.progress()
	return b.result(max(measured, 0), w == waitCanceled), nil
}

// broadcastProtocol is what Broadcast speaks: duplex serve's chat or a relay.
type broadcastProtocol interface {
	// memberURL returns the URL a subscriber, or the publisher, dials, by its name.
	memberURL(name string) string
	// message returns a message to publish, which stamp and end then modify.
	message() []byte
	// stamp writes into msg its intended send time, due, and its sequence number.
	stamp(msg []byte, due, seq int64)
	// end makes msg the last message, which tells the subscribers that no more follow.
	end(msg []byte)
	// parse returns what a message received is, and for one published its intended send
	// time.
	parse(msg []byte) (deliveryKind, int64)
}

// deliveryKind is what a message that a subscriber receives is.
type deliveryKind int

const (
	deliveryOther   deliveryKind = iota // another member's join or leave
	deliveryJoined                      // the subscriber has joined: a welcome, or a probe
	deliveryMessage                     // a message published
	deliveryEnd                         // the last message
	deliveryBad                         // not what the publisher sent
)

// broadcastRun is the state of a Broadcast run that its connections share.
type broadcastRun struct {
	*runner
	proto broadcastProtocol
	relay *relayProtocol // the relay, if proto is one
	room  string         // the chat's
	subs  []*subscriber  // by index; nil for those that did not open
	rec   *recorder      // the latencies
	stop  chan struct{}  // closed when the run is interrupted

	pub                   conn
	pubDone               chan struct{} // closed when the publisher has stopped publishing
	pubReaderDone         chan struct{} // closed when its reader has returned
	pubStopped, pubFailed atomic.Bool   // as echoConn's stopped and failed

	// The publisher's: messages sent, those of them measured, and late sends.
	published, publishedMeas, late int64

	// Clock times, as echoRun's.
	start, measureStart int64
	end                 atomic.Int64

	nsPerMsg float64 // nanoseconds between two messages
}

// dialPublisher connects the publisher, and starts its reader.
func (b *broadcastRun) dialPublisher() {
	pub, err := b.dial(b.proto.memberURL(publisherName))
	if err != nil {
		return
	}
	b.pub = pub
	go b.publisherReader()
}

// The publisher sends a probe to a relay at most every probeInterval while subscribers
// have not joined, and only once every subscriber that has joined has received the last
// one, checked every probePoll: probes never queue up in a server that cannot keep up
// with them, ahead of the messages measured. (A TCP connection opens before the server
// has accepted it: rawtcp's subscribers may join well after they connected.)
const (
	probeInterval = 20 * time.Millisecond
	probePoll     = 2 * time.Millisecond
)

// probe sends probes until joined is closed, the clock reaches by, or the publisher fails.
func (b *broadcastRun) probe(joined <-chan struct{}, by int64) {
	msg := b.relay.message()
	for k := int64(1); ; k++ {
		b.relay.probe(msg, k)
		if err := b.pub.send(msg); err != nil {
			b.failPublisher(kindWrite, err)
			return
		}
		next := b.clock.now() + int64(probeInterval)
		for {
			at := min(next, by)
			if b.wait(joined, at) != waitTime || at >= by {
				return
			}
			if b.probed(k) {
				break
			}
			next = b.clock.now() + int64(probePoll)
		}
	}
}

// probed reports whether every subscriber that has received a probe has received probe k.
func (b *broadcastRun) probed(k int64) bool {
	for _, s := range b.subs {
		if s != nil {
			if p := s.probe.Load(); p > 0 && p < k {
				return false
			}
		}
	}
	return true
}

// publish sends the messages, on schedule, then the end mark.
func (b *broadcastRun) publish() {
	defer close(b.pubDone)
	msg := b.proto.message()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq := int64(0); ; seq++ {
		due := b.due(seq)
		if end := b.end.Load(); due >= end {
			// The end mark is the next message, due when that would have been (within
			// half the drain): sent with the last one, it would end subscribers, and their
			// leaving load the server, while the server still delivers the last one.
			b.sleepUntil(min(due, end+int64(b.cfg.Drain)/2), timer)
			break
		}
		if !b.sleepUntil(due, timer) {
			break
		}
		if now := b.clock.now(); now-due > int64(LateAfter) && due >= b.measureStart {
			b.late++
		}
		b.proto.stamp(msg, due, seq)
		// A burst's messages are queued, and the last written with them.
		err := b.pub.queue(msg)
		if next := b.due(seq + 1); err == nil && (next != due || next >= b.end.Load()) {
			err = b.pub.flush(false)
		}
		if err != nil {
			<-b.pubReaderDone // as in echoConn.writer
			b.failPublisher(kindWrite, err)
			return
		}
		b.published++
		if due >= b.measureStart {
			b.publishedMeas++
		}
	}
	if b.pubFailed.Load() {
		return
	}
	b.proto.end(msg)
	if err := b.pub.send(msg); err != nil {
		<-b.pubReaderDone
		b.failPublisher(kindWrite, err)
	}
}

// due returns the time message seq is due: bursts of Config.Burst messages, due together,
// at the rate of Config.Rate messages a second.
func (b *broadcastRun) due(seq int64) int64 {
	first := seq - seq%int64(b.cfg.Burst)
	return b.start + int64(float64(first)*b.nsPerMsg)
}

// sleepUntil waits until the clock reaches t. It returns false if the run was interrupted
// or the publisher's connection ended first.
func (b *broadcastRun) sleepUntil(t int64, timer *time.Timer) bool {
	for {
		d := t - b.clock.now()
		if d <= 0 {
			return true
		}
		timer.Reset(time.Duration(d))
		select {
		case <-timer.C:
		case <-b.pubReaderDone:
			return false
		case <-b.stop:
			return false
		}
	}
}

// publisherReader reads and discards what comes to the publisher (its own messages
// among them), which the chat requires of a member, until the connection ends.
func (b *broadcastRun) publisherReader() {
	defer close(b.pubReaderDone)
	defer b.open.Add(-1)
	buf := make([]byte, 0, 256+b.cfg.Size)
	for {
		_, msg, err := b.pub.receive(buf[:0])
		if err != nil {
			b.failPublisher(kindRead, err)
			return
		}
		buf = msg
	}
}

func (b *broadcastRun) failPublisher(kind string, err error) {
	if b.pubStopped.Load() {
		return
	}
	if b.pubFailed.CompareAndSwap(false, true) {
		b.errs.add(classify(kind, err), err)
		b.pub.closeNow() // stops the publisher's reader, or writer
	}
}

// subscriber is one subscriber of a Broadcast run.
type subscriber struct {
	run   *broadcastRun
	c     conn
	shard *shard
	buf   []byte

	stopped, failed atomic.Bool  // as echoConn's
	received        atomic.Int64 // deliveries, warm-up included, for progress
	probe           atomic.Int64 // a relay's: the number of the last probe received

	// The reader's.
	recvMeasured, bytes int64
}

// read reads the deliveries until the end mark or an error, calling welcomed once it has
// joined, or failed to.
func (s *subscriber) read(welcomed func()) {
	b := s.run
	defer b.open.Add(-1)
	joined := false
	defer func() {
		if !joined {
			welcomed()
		}
	}()
	for {
		_, msg, err := s.c.receive(s.buf[:0])
		if err != nil {
			s.fail(kindRead, err)
			return
		}
		s.buf = msg
		now := b.clock.now()
		kind, due := b.proto.parse(msg)
		if !joined {
			// The chat welcomes a member before anything else; a relay's first message of any
			// kind shows that the subscriber is in.
			if kind != deliveryJoined && (b.relay == nil || kind != deliveryMessage) {
				continue
			}
			joined = true
			welcomed()
		}
		switch kind {
		case deliveryJoined:
			s.probe.Store(due) // a probe's number; 0 for a welcome
			continue
		case deliveryOther:
			continue
		case deliveryBad:
			s.fail(kindMismatch, fmt.Errorf("bench: a message that the publisher did not send: %.100q", msg))
			s.c.closeNow()
			return
		case deliveryEnd:
			s.stopped.Store(true)
			s.c.close()
			return
		}
		s.received.Add(1)
		if due >= b.measureStart {
			s.recvMeasured++
			s.bytes += int64(b.cfg.Size)
			s.shard.record(now - due)
		}
	}
}

func (s *subscriber) fail(kind string, err error) {
	if s.stopped.Load() {
		return
	}
	if s.failed.CompareAndSwap(false, true) {
		s.run.errs.add(classify(kind, err), err)
	}
}

// closeAll closes at once the subscribers that have not finished.
func (b *broadcastRun) closeAll() {
	for _, s := range b.subs {
		if s != nil {
			s.stopped.Store(true)
			s.c.closeNow()
		}
	}
}

// result returns the run's measurements, of a measured window that lasted measured ns.
func (b *broadcastRun) result(measured int64, interrupted bool) *Result {
	cfg := &b.cfg
	res := b.newResult("broadcast", measured, interrupted)
	res.Protocol = cfg.Protocol
	res.Subscribers = cfg.Subscribers
	res.Room = b.room
	res.Size = cfg.Size
	res.Rate = cfg.Rate
	if cfg.Burst > 1 {
		res.Burst = cfg.Burst
	}
	res.Sent = b.publishedMeas
	res.Late = b.late
	for _, s := range b.subs {
		if s == nil {
			continue
		}
		res.Connected++
		res.Received += s.recvMeasured
		res.Bytes += s.bytes
		if missing := b.publishedMeas - s.recvMeasured; s.failed.Load() || b.pubFailed.Load() {
			res.Lost += missing
		} else {
			res.InFlight += missing
		}
	}
	res.Latency = b.rec.latency()
	res.rates(res.Received)
	res.cpu(&b.cpu, res.Received)
	return res
}
