package bench

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/duplex-ws/duplex/ws"
)

// Event loops serve the connections of a closed loop with one message in flight, the
// default of duplex bench echo, many to a goroutine. A goroutine per connection parks in
// the runtime's poller after each write and is woken for each reply: on one CPU shared
// with the server, that scheduling (park, findRunnable, netpoll, a switch) was an eighth
// of the generator's CPU per message, beside the write and the read that nearly all the
// rest is, and it left the generator level with the cheapest server. An event loop waits
// for all its connections at once, in an epoll instance of its own which it watches
// through the runtime's poller (as ws/readable_linux.go does, so that no thread waits in
// a system call), and takes the replies that are ready together: per message, a read and
// a write, and a share of one epoll_wait.
//
// The loop sends the library's own frames, each masked with its own key (ws.Conn.Write
// into the wire, which holds them), or rawtcp's, which are the same every time. It takes
// a reply only if it is exactly what an echo sends back: the header of a whole message of
// the run's type and size (rawtcp's length, or a server's frame, RFC 6455 §5.2) and, for
// text, valid UTF-8. Anything else (a ping or a close frame, a fragment, a wrong length or
// type, the end of the stream) goes back, with the bytes read, to closedLoop on a
// goroutine of its own, which reads it through the library and does what a connection
// that never had an event loop does: answers the ping, counts the error. So does a
// connection once it sends no more, which closedLoop closes gracefully.
//
// The loop's system calls are raw (syscall.RawSyscall): on non-blocking sockets they never
// wait, and the scheduler's entersyscall and exitsyscall, with the wakes of sysmon that
// they cause, cost a twentieth of the loop's CPU. Sockets are registered edge-triggered,
// for reading and writing at once, so that a socket that has nothing more is not polled
// again. That needs every event to be taken in full: a read asks for one byte more than
// the rest of the reply, and so either empties the socket (it returns less than asked) or
// finds more than the reply (the connection goes back); a write goes on until all is out
// or the socket is full; and once the peer has ended or reset its stream (EPOLLRDHUP,
// EPOLLHUP, EPOLLERR), whose end comes after its last bytes with no edge of its own, the
// connection goes back.
//
// At the end of a drain, or on an interrupt, the run closes every connection: a closed
// socket leaves the epoll instance without an event, so the run also wakes the loops
// (eventLoops.wake), which then let go of the connections left.

// The states of a connection in an event loop.
const (
	loopIdle     = iota // nothing in flight: a message is due
	loopWriting         // a message partly written, the rest waiting for room in the socket
	loopAwaiting        // a message written, its reply awaited
)

// What a connection's step leaves for its loop to do once the socket is released.
const (
	actNone   = iota
	actResume // hand the connection over to closedLoop
	actFail   // count the error, close the connection
)

// eventLoops are a run's event loops.
type eventLoops []*eventLoop

// wake makes every loop let go of its connections, which the run has closed: a deadline
// in the past ends the wait in the runtime's poller, and every wait after it.
func (ls eventLoops) wake() {
	for _, l := range ls {
		l.file.SetReadDeadline(time.Unix(1, 0)) // an error if the loop has ended: nothing to wake
	}
}

// startLoops serves, with GOMAXPROCS event loops started on wg, the connections that an
// event loop can serve, and returns the others, for goroutines of their own.
func (e *echoRun) startLoops(wg *sync.WaitGroup) []*echoConn {
	if e.cfg.noEventLoop || e.cfg.Size > loopMaxSize || len(e.conns) == 0 {
		return e.conns
	}
	hdr := e.replyHeader()
	var loops []*eventLoop
	for range min(runtime.GOMAXPROCS(0), len(e.conns)) {
		l, err := newEventLoop(e, wg, hdr)
		if err != nil {
			break
		}
		loops = append(loops, l)
	}
	if len(loops) == 0 {
		return e.conns
	}
	var rest []*echoConn
	for i, ec := range e.conns {
		if !loops[i%len(loops)].add(ec) {
			rest = append(rest, ec)
		}
	}
	for _, l := range loops {
		if l.left == 0 {
			l.file.Close()
			continue
		}
		e.loops = append(e.loops, l)
		wg.Go(l.run)
	}
	return rest
}

// replyHeader returns the bytes every reply starts with: rawtcp's length; or the header
// of a server's frame (RFC 6455 §5.2) that is a whole message of the run's type (FIN, no
// RSV bit), unmasked, its payload length in as few bytes as it fits ("the minimal number
// of bytes MUST be used").
func (e *echoRun) replyHeader() []byte {
	n := len(e.payload)
	if e.cfg.tcp() {
		return binary.BigEndian.AppendUint32(nil, uint32(n))
	}
	op := byte(0x2) // binary
	if e.typ == ws.MessageText {
		op = 0x1
	}
	h := []byte{0x80 | op}
	switch {
	case n <= 125:
		return append(h, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(h, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(h, 127), uint64(n))
}

// epollET is EPOLLET, which package syscall declares negative.
const epollET = 1 << 31

// eventLoop is one event loop: an epoll instance and the connections registered in it,
// served by one goroutine.
type eventLoop struct {
	e      *echoRun
	wg     *sync.WaitGroup       // the run's, on which connections handed over are started
	epfd   int                   // the epoll instance, non-blocking
	file   *os.File              // epfd, watched by the runtime's poller
	rc     syscall.RawConn       // of file
	hdr    []byte                // every reply's header
	frame  []byte                // rawtcp: every message, length and payload; nil for WebSocket
	conns  []*loopConn           // by token, their index; nil once a connection has left
	left   int                   // connections still served
	events []syscall.EpollEvent  // of the last epoll_wait, events[:ready]
	ready  int                   //
	poll   func(fd uintptr) bool // l.wait, bound once so that a wait allocates nothing
}

func newEventLoop(e *echoRun, wg *sync.WaitGroup, hdr []byte) (*eventLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "bench-epoll") // non-blocking: the runtime polls it
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{}) // fails unless the runtime polls it: nothing could wake the loop
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	l := &eventLoop{e: e, wg: wg, epfd: epfd, file: f, rc: rc, hdr: hdr, events: make([]syscall.EpollEvent, 256)}
	if e.cfg.tcp() {
		l.frame = append(slices.Clip(hdr), e.payload...)
	}
	l.poll = l.wait
	return l, nil
}

// loopConn is a connection in an event loop.
type loopConn struct {
	l     *eventLoop
	ec    *echoConn
	w     *wire
	token int32            // its index in l.conns, the epoll events' data
	fn    func(fd uintptr) // lc.step, bound once

	state   int
	events  uint32 // of the epoll event being served
	t0      int64  // the send time of the message in flight
	written int    // rawtcp: bytes of l.frame written
	in      []byte // the reply being read, header and payload, and one byte more
	have    int    // bytes of in read

	// What step leaves for the loop.
	act  int
	kind string
	err  error
}

// add registers ec's socket, and reports whether it did: the connection must be direct,
// over TCP.
func (l *eventLoop) add(ec *echoConn) bool {
	w := ec.c.direct()
	if w == nil || w.raw.rc == nil {
		return false
	}
	lc := &loopConn{l: l, ec: ec, w: w, token: int32(len(l.conns)), in: make([]byte, len(l.hdr)+len(l.e.payload)+1)}
	lc.fn = lc.step
	var errno error
	err := w.raw.rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET, Fd: lc.token}
		errno = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || errno != nil {
		return false
	}
	l.conns = append(l.conns, lc)
	l.left++
	ec.looped = true
	return true
}

// run sends every connection's first message, then serves the connections that are ready
// until none is left.
func (l *eventLoop) run() {
	defer l.file.Close()
	for _, lc := range l.conns {
		l.serve(lc, 0)
	}
	for l.left > 0 {
		if err := l.rc.Read(l.poll); err != nil {
			// Woken by the run (a deadline in the past), which closed every connection:
			// what is left goes, its errors not counted.
			for _, lc := range l.conns {
				if lc != nil {
					lc.act, lc.kind, lc.err = actFail, kindRead, err
					l.finish(lc)
				}
			}
			return
		}
		for _, ev := range l.events[:l.ready] {
			if lc := l.conns[ev.Fd]; lc != nil {
				l.serve(lc, ev.Events)
			}
		}
	}
}

// wait is the function of RawConn.Read on the epoll instance: it takes the events ready,
// without waiting, and ends the wait if there were any.
func (l *eventLoop) wait(fd uintptr) bool {
	for {
		n, errno := epollWait(int(fd), l.events)
		if errno == syscall.EINTR {
			continue
		}
		l.ready = n
		return n > 0 // nothing ready (or an error, which only a bug can cause): wait
	}
}

// serve moves lc on as far as its socket allows, then does what that left to do.
func (l *eventLoop) serve(lc *loopConn, events uint32) {
	lc.act, lc.events = actNone, events
	// Control holds the socket open: the run may close it meanwhile.
	if err := lc.w.raw.rc.Control(lc.fn); err != nil {
		lc.act, lc.kind, lc.err = actFail, kindRead, err // the run closed it: not counted
	}
	l.finish(lc)
}

// finish does what lc's step left to do, outside Control: closing the socket waits for
// Control to return.
func (l *eventLoop) finish(lc *loopConn) {
	if lc.act == actNone {
		return
	}
	l.conns[lc.token] = nil
	l.left--
	ec := lc.ec
	if lc.act == actFail {
		ec.fail(lc.kind, lc.err)
		ec.c.closeNow()
		ec.echo.open.Add(-1)
		return
	}
	inFlight, t0 := lc.state == loopAwaiting, lc.t0
	lc.w.unread = lc.in[:lc.have]
	l.wg.Go(func() {
		defer ec.echo.open.Add(-1)
		ec.closedLoop(inFlight, t0)
	})
}

// step is the function of RawConn.Control on lc's socket, fd: it writes the rest of a
// message, or reads the reply and sends the next message.
func (lc *loopConn) step(fd uintptr) {
	switch lc.state {
	case loopWriting:
		if lc.write(fd) {
			lc.await(fd) // what came while writing came without an edge to come
		}
	case loopAwaiting:
		lc.await(fd)
	default:
		lc.send(fd, lc.l.e.clock.now())
	}
}

// await reads what it can of the reply and, once the whole of it is in, sends the next
// message. Once the peer has ended its stream, or reset it, the connection goes back:
// a short read no longer means that there is nothing more to read, as the end (or the
// error) comes after the bytes before it, without another edge.
func (lc *loopConn) await(fd uintptr) {
	if lc.events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		lc.leave(fd, actResume, "", nil)
		return
	}
	if now, ok := lc.read(fd); ok {
		lc.send(fd, now)
	}
}

// send sends the next message, at now, or hands the connection over if it sends no more.
func (lc *loopConn) send(fd uintptr, now int64) {
	ec := lc.ec
	if ec.done(now) {
		lc.leave(fd, actResume, "", nil) // closedLoop closes it gracefully
		return
	}
	if lc.l.frame == nil {
		if err := ec.c.queue(ec.echo.payload); err != nil {
			lc.leave(fd, actFail, kindWrite, err)
			return
		}
	}
	lc.t0, lc.written = now, 0
	lc.write(fd)
}

// write writes what is left of the message in flight, and reports whether all of it is
// out; if not, the socket is full, and its next event brings room.
func (lc *loopConn) write(fd uintptr) bool {
	var all bool
	var err error
	if frame := lc.l.frame; frame != nil {
		all, err = writeAll(int(fd), frame, &lc.written)
	} else {
		all, err = lc.w.writeHeld(int(fd))
	}
	switch {
	case err != nil:
		lc.leave(fd, actFail, kindWrite, err)
		return false
	case !all:
		lc.state = loopWriting
		return false
	}
	lc.state = loopAwaiting
	lc.ec.countSent(lc.t0)
	return true
}

// read reads what it can of the reply awaited and, once the whole of it is in, records
// it and reports the time it came. A reply that is not exactly the message sent back,
// and the end of the stream, hand the connection over.
func (lc *loopConn) read(fd uintptr) (now int64, ok bool) {
	var n int
	for {
		var errno syscall.Errno
		n, errno = rawRead(int(fd), lc.in[lc.have:])
		switch errno {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, false
		default:
			lc.leave(fd, actFail, kindRead, os.NewSyscallError("read", errno))
			return 0, false
		}
		break
	}
	now = lc.l.e.clock.now()
	if n == 0 {
		lc.leave(fd, actResume, "", nil) // the end of the stream, which the library reports
		return 0, false
	}
	lc.have += n
	hdr := lc.l.hdr
	k := min(lc.have, len(hdr))
	if !bytes.Equal(lc.in[:k], hdr[:k]) || lc.have == len(lc.in) {
		lc.leave(fd, actResume, "", nil) // not the reply, or more than it
		return 0, false
	}
	size := len(lc.in) - 1
	if lc.have < size {
		return 0, false
	}
	e := lc.ec.echo
	msg := lc.in[len(hdr):size]
	if e.typ == ws.MessageText && !utf8.Valid(msg) {
		lc.leave(fd, actResume, "", nil) // the library fails it (1007)
		return 0, false
	}
	lc.have = 0
	lc.state = loopIdle
	lc.ec.reply(e.typ, msg, lc.t0, now) // of the type and the length sent: true
	return now, true
}

// leave takes fd out of the epoll instance, and leaves act to the loop.
func (lc *loopConn) leave(fd uintptr, act int, kind string, err error) {
	syscall.EpollCtl(lc.l.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) // an error only if it was not in it
	lc.act, lc.kind, lc.err = act, kind, err
}

// writeHeld writes the bytes held to the socket fd without waiting, and reports whether
// all went out; the rest stays held for the next call. The wire no longer holds writes.
func (w *wire) writeHeld(fd int) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.holding = false
	var n int
	all, err := writeAll(fd, w.out, &n)
	w.out = w.out[:copy(w.out, w.out[n:])]
	return all, err
}

// writeAll writes p[*written:] to the socket fd until all of it is out or the socket is
// full, adding what it writes to *written, and reports whether all of p is out.
func writeAll(fd int, p []byte, written *int) (bool, error) {
	for *written < len(p) {
		n, errno := rawWrite(fd, p[*written:])
		switch errno {
		case 0:
			*written += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false, nil
		default:
			return false, os.NewSyscallError("write", errno)
		}
	}
	return true, nil
}

// rawRead, rawWrite and epollWait are read(2), write(2) and epoll_wait(2) with a timeout of
// zero, as raw system calls: none of them waits.
func rawRead(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(n), errno
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(n), errno
}

func epollWait(epfd int, events []syscall.EpollEvent) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}
