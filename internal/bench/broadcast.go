package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// The chat protocol of duplex serve (docs/chat-protocol.md), as Broadcast speaks it.
const (
	chatSubprotocol = "duplex.chat.v1"
	publisherName   = "pub"

	// A text published starts with its intended send time, in nanoseconds on the run's
	// clock, and its sequence number, in hexadecimal; dots fill it up to its size. The last
	// text, which only says that no more follow, starts with endMark instead.
	timeHexLen   = 16
	seqHexLen    = 8
	timestampLen = timeHexLen + seqHexLen
	endMark      = "end"
)

var (
	messagePrefix = []byte(`{"type":"message"`)
	welcomePrefix = []byte(`{"type":"welcome"`)
	textField     = []byte(`"text":"`)
)

// Broadcast publishes messages at cfg.Rate to a new room of the duplex serve chat at
// cfg.URL, joined by cfg.Subscribers subscribers, and times each delivery from the
// message's intended send time, for cfg.Warmup and then cfg.Duration. The publisher and
// the subscribers are in this process and share its clock, which the messages carry. It
// returns the measurements when the run is over, or earlier, marked interrupted, if ctx
// ends.
func Broadcast(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults("broadcast")
	if err != nil {
		return nil, err
	}
	r := newRunner(ctx, cfg)
	defer r.close()
	b := &broadcastRun{
		runner:  r,
		room:    fmt.Sprintf("bench-%016x", rand.Uint64()),
		subs:    make([]*subscriber, cfg.Subscribers),
		stop:    make(chan struct{}),
		rec:     newRecorder(cfg.Subscribers),
		pubDone: make(chan struct{}),
	}
	opts := cfg.dialOptions(chatSubprotocol)

	// The subscribers join, and read from the moment they do (the joins of the others
	// come to them): publishing waits for every one's welcome.
	r.phase = "dialing"
	var readers, welcomed sync.WaitGroup
	r.dialAll(cfg.Subscribers, func(i int) string { return b.url(fmt.Sprintf("sub-%d", i)) }, opts, func(i int, c *ws.Conn) {
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
	w := r.wait(allWelcomed, r.clock.now()+int64(cfg.DialTimeout))
	var pub *ws.Conn
	if w != waitCanceled && r.open.Load() > 0 { // publishing to no one measures nothing
		pub, _ = r.dial(b.url(publisherName), opts)
	}

	b.start = r.clock.now()
	b.measureStart = b.start + int64(cfg.Warmup)
	sendEnd := b.measureStart + int64(cfg.Duration)
	b.end.Store(sendEnd)
	b.nsPerMsg = 1e9 / cfg.Rate
	var pubReaderDone chan struct{}
	if pub == nil || ctx.Err() != nil {
		b.pubFailed.Store(pub == nil) // nothing was measured
		if pub != nil {
			pub.CloseNow()
			r.open.Add(-1)
		}
		close(b.pubDone)
	} else {
		b.pub = pub
		pubReaderDone = make(chan struct{})
		go b.publisherReader(pubReaderDone)
		go b.publish(pubReaderDone)
	}

	var cpu cpuMeter
	w = waitTime
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
			b.pub.Close(ws.StatusNormalClosure, "")
		}
	default: // the publisher is behind, or stuck writing to a server that does not read
		b.pubStopped.Store(true)
		b.pub.CloseNow()
		<-b.pubDone
	}
	b.closeAll()
	if b.pub != nil {
		<-pubReaderDone
	}
	<-subsDone
	r.phase = "done"
	r.progress()
	return b.result(max(measured, 0), &cpu, w == waitCanceled), nil
}

// broadcastRun is the state of a Broadcast run that its connections share.
type broadcastRun struct {
	*runner
	room string
	subs []*subscriber // by index; nil for those that did not open
	rec  *recorder     // the latencies
	stop chan struct{} // closed when the run is interrupted

	pub                   *ws.Conn
	pubDone               chan struct{} // closed when the publisher has stopped publishing
	pubStopped, pubFailed atomic.Bool   // as echoConn's stopped and failed

	// The publisher's: messages sent, those of them measured, and late sends.
	published, publishedMeas, late int64

	// Clock times, as echoRun's.
	start, measureStart int64
	end                 atomic.Int64

	nsPerMsg float64 // nanoseconds between two messages
}

// url returns the URL that joins the run's room as name.
func (b *broadcastRun) url(name string) string {
	u, _ := url.Parse(b.cfg.URL) // checked by withDefaults
	q := u.Query()
	q.Set("room", b.room)
	q.Set("name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// publish sends the messages, on schedule, then the end mark.
func (b *broadcastRun) publish(readerDone <-chan struct{}) {
	defer close(b.pubDone)
	bg := context.Background()
	msg, text := newChatMessage(b.cfg.Size)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq := int64(0); ; seq++ {
		due := b.start + int64(float64(seq)*b.nsPerMsg)
		if due >= b.end.Load() || !b.sleepUntil(due, timer, readerDone) {
			break
		}
		if now := b.clock.now(); now-due > int64(LateAfter) && due >= b.measureStart {
			b.late++
		}
		putHex(text[:timeHexLen], uint64(due))
		putHex(text[timeHexLen:timestampLen], uint64(seq))
		if err := b.pub.Write(bg, ws.MessageText, msg); err != nil {
			<-readerDone // as in echoConn.writer
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
	copy(text, endMark)
	if err := b.pub.Write(bg, ws.MessageText, msg); err != nil {
		<-readerDone
		b.failPublisher(kindWrite, err)
	}
}

// sleepUntil waits until the clock reaches t. It returns false if the run was interrupted
// or the publisher's connection ended first.
func (b *broadcastRun) sleepUntil(t int64, timer *time.Timer, readerDone <-chan struct{}) bool {
	for {
		d := t - b.clock.now()
		if d <= 0 {
			return true
		}
		timer.Reset(time.Duration(d))
		select {
		case <-timer.C:
		case <-readerDone:
			return false
		case <-b.stop:
			return false
		}
	}
}

// publisherReader reads and discards what comes to the publisher (its own messages
// among them), which the chat requires of a member, until the connection ends.
func (b *broadcastRun) publisherReader(done chan<- struct{}) {
	defer close(done)
	defer b.open.Add(-1)
	var buf []byte
	for {
		_, msg, err := b.pub.ReadAppend(context.Background(), buf[:0])
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
		b.pub.CloseNow() // stops the publisher's reader, or writer
	}
}

// newChatMessage returns the chat message a publisher sends, {"type":"message","text":…},
// and its text, of size bytes, within it.
func newChatMessage(size int) (msg, text []byte) {
	const head, tail = `{"type":"message","text":"`, `"}`
	msg = make([]byte, 0, len(head)+size+len(tail))
	msg = append(msg, head...)
	msg = append(msg, bytes.Repeat([]byte("."), size)...)
	msg = append(msg, tail...)
	return msg, msg[len(head) : len(head)+size]
}

const hexDigits = "0123456789abcdef"

// putHex writes v in hexadecimal, its last digits, into p.
func putHex(p []byte, v uint64) {
	for i := len(p) - 1; i >= 0; i-- {
		p[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// parseHex returns the value of the hexadecimal digits p.
func parseHex(p []byte) (uint64, bool) {
	var v uint64
	for _, c := range p {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// subscriber is one subscriber of a Broadcast run.
type subscriber struct {
	run   *broadcastRun
	c     *ws.Conn
	shard *shard
	buf   []byte

	stopped, failed atomic.Bool  // as echoConn's
	received        atomic.Int64 // deliveries, warm-up included, for progress

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
	bg := context.Background()
	for {
		_, msg, err := s.c.ReadAppend(bg, s.buf[:0])
		if err != nil {
			s.fail(kindRead, err)
			return
		}
		s.buf = msg
		if !joined {
			if bytes.HasPrefix(msg, welcomePrefix) {
				joined = true
				welcomed()
			}
			continue
		}
		if !bytes.HasPrefix(msg, messagePrefix) {
			continue // a join or a leave
		}
		now := b.clock.now()
		due, end, ok := parseDelivery(msg, b.cfg.Size)
		switch {
		case !ok:
			s.fail(kindMismatch, fmt.Errorf("bench: a chat message that the publisher did not send: %.100q", msg))
			s.c.CloseNow()
			return
		case end:
			s.stopped.Store(true)
			s.c.Close(ws.StatusNormalClosure, "")
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

// parseDelivery returns the intended send time of a chat message the publisher sent,
// or whether it is the end mark.
func parseDelivery(msg []byte, size int) (due int64, end, ok bool) {
	i := bytes.Index(msg, textField)
	if i < 0 || len(msg)-i-len(textField) < size {
		return 0, false, false
	}
	text := msg[i+len(textField):][:size]
	if bytes.HasPrefix(text, []byte(endMark)) {
		return 0, true, true
	}
	v, ok := parseHex(text[:timeHexLen])
	if _, seqOK := parseHex(text[timeHexLen:timestampLen]); !ok || !seqOK {
		return 0, false, false
	}
	return int64(v), false, true
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
			s.c.CloseNow()
		}
	}
}

// result returns the run's measurements, of a measured window that lasted measured ns.
func (b *broadcastRun) result(measured int64, cpu *cpuMeter, interrupted bool) *Result {
	cfg := &b.cfg
	res := b.newResult("broadcast", measured, interrupted)
	res.Subscribers = cfg.Subscribers
	res.Room = b.room
	res.Size = cfg.Size
	res.Rate = cfg.Rate
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
	res.ClientCPU, res.ClientCPUPerOp = cpu.perOp(res.Received)
	return res
}
