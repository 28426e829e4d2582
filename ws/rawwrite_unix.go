//go:build unix

package ws

import (
	"os"
	"syscall"
)

// tryWriter writes to a TCP socket without waiting, for TryFlush: inside
// syscall.RawConn.Write, which holds the socket open, it writes until the socket's buffer
// is full and then returns, rather than waiting in the runtime's poller as net.Conn's
// Write does. A Conn makes one at its first TryFlush; fn is bound once, so that a try
// allocates nothing.
type tryWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	p   []byte // to write
	n   int    // of p, written
	err error
}

// tryWriteLocked writes as much of p as the socket takes now and returns how much that
// was. It writes nothing on a connection that is not plain TCP. frameLock is held.
func (c *Conn) tryWriteLocked(p []byte) (int, error) {
	if c.tw == nil {
		if c.tcp == nil {
			return 0, nil
		}
		rc, err := c.tcp.SyscallConn()
		if err != nil {
			return 0, nil
		}
		c.tw = &tryWriter{rc: rc}
		c.tw.fn = c.tw.write
	}
	w := c.tw
	w.p, w.n, w.err = p, 0, nil
	err := w.rc.Write(w.fn)
	n := w.n
	if w.err != nil {
		err = w.err
	}
	w.p, w.err = nil, nil
	return n, err
}

func (w *tryWriter) write(fd uintptr) bool {
	for w.n < len(w.p) {
		n, err := syscall.Write(int(fd), w.p[w.n:])
		switch err {
		case nil:
			w.n += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return true // full: the rest waits for a Flush
		default:
			w.err = os.NewSyscallError("write", err)
			return true
		}
	}
	return true
}
