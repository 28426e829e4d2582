//go:build unix

package ws

import (
	"net"
	"os"
	"syscall"
)

// sockWriter writes to a plain TCP socket from inside syscall.RawConn.Write, which holds
// the socket open (a Close waits for it) and, when the function it runs returns false,
// waits for room in the socket's buffer, honouring the write deadline as net.Conn's Write
// does. Its writes are sockSend's and sockSendv's (sockio_sys.go), which on 64-bit Linux
// skip the file layer and, for the connection's own buffers, the scheduler's bookkeeping.
// It writes until all is written (send, sendv), or, for
// TryFlush, for as long as the socket takes it (tryWriteLocked). A Conn makes one at its
// first write; its functions are bound once, so that a write allocates nothing.
type sockWriter struct {
	rc    syscall.RawConn
	allFn func(fd uintptr) bool // all, bound once
	tryFn func(fd uintptr) bool // try, bound once
	bufs  [2][]byte             // what is left to write, in order; bufs[1] only for sendv
	iov   [2]syscall.Iovec      // sockSendv's
	n     int                   // written so far
	err   error                 // the write's failure, if it failed
}

// rawWriter returns c's sockWriter, or nil on a connection that is not plain TCP.
func (c *Conn) rawWriter() *sockWriter {
	if c.sw == nil {
		if c.tcp == nil {
			return nil
		}
		rc, err := c.tcp.SyscallConn()
		if err != nil {
			return nil
		}
		w := &sockWriter{rc: rc}
		w.allFn, w.tryFn = w.all, w.try
		c.sw = w
	}
	return c.sw
}

// send writes p whole, as c.nc.Write does. frameLock is held.
func (c *Conn) send(p []byte) (int, error) {
	w := c.rawWriter()
	if w == nil {
		return c.nc.Write(p)
	}
	return w.write(c, w.allFn, p, nil)
}

// tryWriteLocked writes as much of p as the socket takes now and returns how much that
// was. It writes nothing on a connection that is not plain TCP. frameLock is held.
func (c *Conn) tryWriteLocked(p []byte) (int, error) {
	w := c.rawWriter()
	if w == nil {
		return 0, nil
	}
	return w.write(c, w.tryFn, p, nil)
}

// write runs f, all or try, in RawConn.Write to write a and then b.
func (w *sockWriter) write(c *Conn, f func(fd uintptr) bool, a, b []byte) (int, error) {
	w.bufs = [2][]byte{a, b}
	w.n, w.err = 0, nil
	err := w.rc.Write(f)
	n := w.n
	if w.err != nil {
		err = w.err
	}
	w.bufs, w.err = [2][]byte{}, nil
	if err != nil {
		err = writeError(c, err)
	}
	return n, err
}

// writeError is err, from RawConn.Write or a system call, as net.Conn's Write would have
// returned it: a *net.OpError whose Op is "write".
func writeError(c *Conn, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = "write" // RawConn.Write's is "raw-write"
		return oe
	}
	return &net.OpError{Op: "write", Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
}

// all writes until everything is written or the write fails, and asks RawConn.Write to
// wait whenever the socket is full.
func (w *sockWriter) all(fd uintptr) bool { return w.sendSome(int(fd)) }

// try writes what the socket takes now.
func (w *sockWriter) try(fd uintptr) bool {
	w.sendSome(int(fd))
	return true
}

// sendSome writes until everything is written or the write fails, when it returns true,
// or the socket is full, when it returns false.
func (w *sockWriter) sendSome(fd int) bool {
	for len(w.bufs[0])+len(w.bufs[1]) > 0 {
		var n int
		var err error
		if len(w.bufs[1]) == 0 {
			n, err = sockSend(fd, w.bufs[0])
		} else {
			n, err = sockSendv(fd, &w.bufs, &w.iov)
		}
		switch err {
		case nil:
			w.advance(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = os.NewSyscallError("write", err)
			return true
		}
	}
	return true
}

// advance moves past n bytes written of bufs, leaving what is left at the front.
func (w *sockWriter) advance(n int) {
	w.n += n
	k := min(n, len(w.bufs[0]))
	w.bufs[0] = w.bufs[0][k:]
	w.bufs[1] = w.bufs[1][n-k:]
	if len(w.bufs[0]) == 0 {
		w.bufs = [2][]byte{w.bufs[1], nil}
	}
}
