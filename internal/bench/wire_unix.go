//go:build unix

package bench

import (
	"net"
	"os"
	"syscall"
)

// rawConn writes to a TCP socket and waits for its reply in one step of the runtime's
// poller: syscall.RawConn.Read forgets any readiness it saw before, then calls its
// function, which writes, then waits for the socket to become readable. The reply can
// only come after the write, so its readiness is not missed; and the read that follows
// finds the reply rather than nothing. (A write followed by a read costs a read that
// returns EAGAIN, about a tenth of the generator's CPU per message, before the wait.)
type rawConn struct {
	rc syscall.RawConn
	fn func(fd uintptr) bool // rawConn.step, bound once so that a write allocates nothing

	p       []byte // to write
	n       int    // written
	err     error
	written bool // the whole of p went out: what follows is the wait
}

func (r *rawConn) init(c net.Conn) {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return
	}
	r.rc = rc
	r.fn = r.step
}

// writeAwait writes p and, once all of it is out, waits until the socket is readable
// or closed. It returns how much of p went out: less than all of it when the socket's
// buffer filled, and none where this is not a TCP socket, the caller then writing the
// rest the ordinary way (which waits for room).
func (r *rawConn) writeAwait(p []byte) (int, error) {
	if r.rc == nil {
		return 0, nil
	}
	r.p, r.n, r.err, r.written = p, 0, nil, false
	err := r.rc.Read(r.fn)
	n := r.n
	if r.err != nil {
		err = r.err
	} else if r.written {
		err = nil // an error of the wait (the connection closed) is the next read's to report
	}
	r.p, r.err = nil, nil
	return n, err
}

// step is the function of RawConn.Read: first it writes, then (called again once the
// socket is readable) it ends the wait.
func (r *rawConn) step(fd uintptr) bool {
	if r.written {
		return true
	}
	for r.n < len(r.p) {
		n, err := syscall.Write(int(fd), r.p[r.n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true // the socket's buffer is full: the caller writes the rest
		case err != nil:
			r.err = os.NewSyscallError("write", err)
			return true
		}
		r.n += n
	}
	r.written = true
	return false
}
