package ws

import (
	"context"
	crand "crypto/rand"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReadLimit is the read limit of a connection whose options leave ReadLimit zero.
const DefaultReadLimit = 32 << 20

// ConnOptions configures a connection. [AcceptOptions] and [DialOptions] embed it. The zero
// value of each field means its documented default; the struct is copied when a
// connection is made and never modified.
type ConnOptions struct {
	// ReadLimit is the largest message, in bytes, that the connection accepts; a larger one
	// fails the connection with 1009 (RFC 6455 §7.4.1) as soon as a frame header announces
	// it. Zero means DefaultReadLimit (32 MiB); a negative value means no limit.
	// [Conn.SetReadLimit] changes it later.
	ReadLimit int64

	// CloseTimeout bounds each step of the closing handshake: sending the close frame,
	// waiting for the peer's, and (for a client) waiting for the server to close the TCP
	// connection. Zero means 5 seconds.
	CloseTimeout time.Duration

	// PingInterval, when positive, turns on keepalive: a ping is sent every PingInterval
	// and, if neither its pong nor any other byte arrives within PongTimeout, the
	// connection is closed with 1011 and its reads fail with a *CloseError of code 1006.
	// Keepalive needs the connection to be read, as every pong does.
	PingInterval time.Duration
	// PongTimeout is how long keepalive waits for a pong. Zero means PingInterval.
	PongTimeout time.Duration

	// OnPing is called with the payload of every ping received, on the reading goroutine,
	// before the connection answers it with a pong. The payload is valid only during the
	// call.
	OnPing func(payload []byte)
	// OnPong is called with the payload of every pong received, on the reading goroutine.
	// The payload is valid only during the call.
	OnPong func(payload []byte)

	// ReadBufferSize is the size of the buffer that frames are read through. It is taken
	// from a pool when reading starts and returned when a message has been read and
	// nothing more is buffered. On a plain TCP connection on Unix, a read waiting for the
	// next message holds none either; over TLS or another net.Conn, the waiting read
	// holds one. [Conn.Serve] reads larger frames whole into a larger buffer from the same
	// pools. Zero means 4096; values below 512 are raised to 512.
	ReadBufferSize int
	// WriteBufferSize is the most payload a frame written by [Conn.Writer] carries before
	// it is sent. Zero means 4096.
	WriteBufferSize int

	// Logger receives debug records about closing handshakes and failed connections.
	// Nil means nothing is logged.
	Logger *slog.Logger
}

// withDefaults returns a copy of o (or of the zero options when o is nil) with every zero
// field set to its default.
func (o *ConnOptions) withDefaults() ConnOptions {
	var c ConnOptions
	if o != nil {
		c = *o
	}
	if c.ReadLimit == 0 {
		c.ReadLimit = DefaultReadLimit
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 5 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = c.PingInterval
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 4096
	}
	c.ReadBufferSize = max(c.ReadBufferSize, minReadBufferSize)
	if c.WriteBufferSize <= 0 {
		c.WriteBufferSize = 4096
	}
	return c
}

// newMaskKeySource returns a source of masking keys for one client connection: a ChaCha8
// generator, which math/rand/v2 documents as cryptographically strong, seeded from
// crypto/rand (RFC 6455 §5.3: keys come "from a strong source of entropy" and must be
// unpredictable).
func newMaskKeySource() func() uint32 {
	var seed [32]byte
	crand.Read(seed[:])
	g := rand.NewChaCha8(seed)
	return func() uint32 { return uint32(g.Uint64()) }
}

// minReadBufferSize is the smallest read buffer: it must hold a whole control frame
// (14-byte header and 125-byte payload), which is handled only once it is all buffered.
const minReadBufferSize = 512

// Conn is a WebSocket connection, made by [Accept] or [Dial].
//
// One goroutine at a time may read (Read, ReadAppend, Reader, ReadJSON); any number may
// write, ping and close concurrently. See the package documentation's Concurrency section.
type Conn struct {
	nc          net.Conn
	tcp         *net.TCPConn // nc, when it is a plain TCP connection (for writev)
	subprotocol string
	opts        ConnOptions
	readLimit   atomic.Int64
	maskKey     func() uint32 // masking keys of a client's frames

	// Reading: owned by whoever holds readLock. Its waits do not end with the connection,
	// unlike the writing locks': its holder is a read, which the connection's end ends,
	// or Close, bounded by CloseTimeout, whose kept messages the waiting reader must get.
	readLock      ctxMutex
	rbuf          *[]byte // pooled; nil while nothing is buffered between messages
	r, w          int     // unread bytes are (*rbuf)[r:w]
	frame         header  // the data frame being read
	frameLeft     int64   // its payload bytes not yet read
	msgType       MessageType
	msgSize       int64 // payload bytes of the open message so far, as sent
	msgOpen       bool  // a data message has started and not ended
	msgCompressed bool  // the open message is compressed (RSV1)
	text          utf8Validator
	serving       atomic.Int32  // serveOff, or where Serve is (serve.go); here it takes no room
	deflate       *deflateState // nil unless permessage-deflate was negotiated
	readErr       error         // once set, every read returns it
	// lingerD is the wait of the read deadline that WaitReadable leaves set from one wait to
	// the next, or 0 when none may be set; lingerSeen is progress, as it was when that
	// deadline was set (see WaitReadable).
	lingerD   time.Duration
	readWatch ctxWatch
	raw       rawReader
	reader    messageReader
	pending   []pendingMessage // messages Close read, for the reads that follow
	progress  atomic.Uint64    // reads that returned bytes, for keepalive
	ready     readyWait        // a pending WhenReadable; under closeMu

	// Writing: a whole data message holds msgLock, each frame frameLock.
	msgLock      ctxMutex
	frameLock    ctxMutex
	closeSent    bool         // under frameLock
	closeStarted atomic.Bool  // closeSent, readable without the lock
	writeErr     error        // under frameLock; once set, every write returns it
	wq           *[]byte      // frames Queue added, not yet sent; under frameLock
	queued       atomic.Int64 // len(*wq), readable without the lock
	sw           *sockWriter  // writes to plain TCP, made by the first; under frameLock
	writeWatch   ctxWatch
	client       bool           // the client's end: its frames are masked, §5.3
	isClosed     atomic.Bool    // closed is closed: a write checks it here, beside the queue
	frames       *frameScratch  // made by the first frame written; under frameLock
	writer       *messageWriter // made by the first message that needs one; under msgLock

	// Closing.
	closeOnce  sync.Once
	lingerSeen uint32        // WaitReadable's, beside lingerD: here it takes no room
	closed     chan struct{} // closed once nc is closed
	closeMu    sync.Mutex
	closeCause error       // why this side closed nc, reported to readers; under closeMu
	peerClose  *CloseError // the peer's close frame, once received; under closeMu

	// Pings.
	pingMu    sync.Mutex
	pings     map[string]*pingWait // by payload
	pingSeq   atomic.Uint64
	keepalive *time.Timer
}

// newConn makes a Conn over nc, whose handshake has completed. leftover holds bytes read
// past the handshake, which are the first bytes of the WebSocket stream.
func newConn(nc net.Conn, client bool, subprotocol string, o *ConnOptions, leftover []byte, deflate *deflateState) *Conn {
	c := &Conn{
		nc:          nc,
		client:      client,
		subprotocol: subprotocol,
		opts:        o.withDefaults(),
		closed:      make(chan struct{}),
		deflate:     deflate,
	}
	if client {
		c.maskKey = newMaskKeySource()
	}
	c.tcp, _ = nc.(*net.TCPConn)
	c.readLimit.Store(c.opts.ReadLimit)
	c.raw.init(c)
	c.readWatch.init(nc.SetReadDeadline)
	c.writeWatch.init(nc.SetWriteDeadline)
	c.reader.c = c
	if len(leftover) > 0 {
		c.rbuf = getBuffer(max(c.opts.ReadBufferSize, len(leftover)))
		c.w = copy(*c.rbuf, leftover)
	}
	if c.opts.PingInterval > 0 {
		c.keepalive = time.AfterFunc(time.Hour, c.keepaliveTick)
		c.keepalive.Reset(c.opts.PingInterval)
	}
	return c
}

// Subprotocol returns the subprotocol agreed in the handshake, or "" if none was.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetReadLimit sets the largest message, in bytes, that the connection accepts from now
// on; a negative value means no limit. A message over the limit fails the connection with
// 1009. It may be called at any time, from any goroutine.
func (c *Conn) SetReadLimit(n int64) { c.readLimit.Store(n) }

func (c *Conn) debug(msg string, args ...any) {
	if c.opts.Logger != nil {
		c.opts.Logger.Debug(msg, append(args, "remote", c.nc.RemoteAddr().String())...)
	}
}

// ctxMutex is a mutex whose lock can be abandoned when a context ends or the connection
// closes. Taking a free lock, and releasing one that no one waits for, is one
// compare-and-swap each; a waiter queues a channel of its own, which the holder's unlock
// closes to hand the lock over, so giving up leaves nothing behind, even when the holder
// never unlocks (a Writer never closed).
type ctxMutex struct {
	state   atomic.Int32 // mutexFree, mutexHeld or mutexWaited; it leaves mutexWaited under mu
	mu      sync.Mutex   // guards waiters, and state's changes to and from mutexWaited
	waiters []chan struct{}
}

const (
	mutexFree   = iota
	mutexHeld   // and no one waits
	mutexWaited // held, and waiters may be queued: unlock takes mu
)

func (m *ctxMutex) tryLock() bool { return m.state.CompareAndSwap(mutexFree, mutexHeld) }

// lock takes m, or gives up when ctx ends or, if closed is not nil, when closed is closed.
func (m *ctxMutex) lock(ctx context.Context, closed <-chan struct{}) error {
	if m.state.CompareAndSwap(mutexFree, mutexHeld) {
		return nil
	}
	m.mu.Lock()
	for {
		if m.state.CompareAndSwap(mutexFree, mutexHeld) { // released meanwhile
			m.mu.Unlock()
			return nil
		}
		// Mark the lock waited for, so that its release comes through mu; if it was
		// released first, try again.
		if m.state.CompareAndSwap(mutexHeld, mutexWaited) || m.state.Load() == mutexWaited {
			break
		}
	}
	ready := make(chan struct{})
	m.waiters = append(m.waiters, ready)
	m.mu.Unlock()

	var err error
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-closed:
		err = errClosed
	}
	m.mu.Lock()
	for i, w := range m.waiters {
		if w == ready {
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			if len(m.waiters) == 0 {
				m.state.Store(mutexHeld) // by someone else, whom no one waits for now
			}
			m.mu.Unlock()
			return err
		}
	}
	m.mu.Unlock()
	// Handed over before it could give up: the lock is held, so take it. (Close hands the
	// read lock over and then closes the connection; the reader must still get the
	// messages Close kept for it.)
	return nil
}

// unlock releases m, handing it to the longest waiter if there is one.
func (m *ctxMutex) unlock() {
	if m.state.CompareAndSwap(mutexHeld, mutexFree) {
		return
	}
	m.mu.Lock()
	if len(m.waiters) > 0 {
		next := m.waiters[0]
		m.waiters[0] = nil
		m.waiters = m.waiters[1:]
		if len(m.waiters) == 0 {
			m.state.Store(mutexHeld) // by next
		}
		m.mu.Unlock()
		close(next) // held on, now by the waiter
		return
	}
	m.state.Store(mutexFree)
	m.mu.Unlock()
}

// aLongTimeAgo is a deadline in the past, which makes a blocked read or write return.
var aLongTimeAgo = time.Unix(1, 0)

// ctxWatch makes a blocking read or write on the connection end when a context does: once
// the context is done, a function set by context.AfterFunc moves the connection's deadline
// into the past. The context's own deadline is not copied onto the connection, so an
// operation the watch ends always finds the context done. A context that is never done
// (context.Background) costs nothing.
type ctxWatch struct {
	setDeadline func(time.Time) error
	ctx         context.Context
	stop        func() bool

	mu    sync.Mutex // guards gen and fired against the AfterFunc
	gen   uint64
	fired bool
	// cleared is set when end clears a deadline that the context's end set, and so any
	// other deadline (Conn.WaitReadable's); its owner resets it.
	cleared bool
}

func (w *ctxWatch) init(set func(time.Time) error) { w.setDeadline = set }

// start arranges for ctx to interrupt the operation that follows, until end.
func (w *ctxWatch) start(ctx context.Context) {
	w.ctx = ctx
	if ctx.Done() == nil {
		return
	}
	w.mu.Lock()
	gen := w.gen
	w.mu.Unlock()
	w.stop = context.AfterFunc(ctx, func() {
		w.mu.Lock()
		if w.gen == gen {
			w.fired = true
			w.setDeadline(aLongTimeAgo)
		}
		w.mu.Unlock()
	})
}

// end undoes start. It returns the context's error if the context is done, so a caller
// whose operation failed can report the context as the cause; a caller whose operation
// succeeded ignores it.
func (w *ctxWatch) end() error {
	ctx := w.ctx
	if ctx == nil {
		return nil
	}
	w.ctx = nil
	fired := false
	if w.stop != nil {
		w.stop()
		w.stop = nil
		w.mu.Lock()
		w.gen++
		fired = w.fired
		w.fired = false
		w.mu.Unlock()
	}
	if fired {
		w.setDeadline(time.Time{})
		w.cleared = true
	}
	return ctx.Err() // set whenever fired is
}

// clearDeadline clears the deadline, unless the context's end has set it (or is setting
// it), which it then reports by returning false.
func (w *ctxWatch) clearDeadline() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired {
		return false
	}
	w.setDeadline(time.Time{})
	return true
}
