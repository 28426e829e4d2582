//go:build unix

package ws

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader fills a connection's read buffer straight from a TCP socket, taking the
// buffer from its pool only once the socket has bytes to give. A connection waiting for
// its next message thus holds no buffer, at the cost of no extra system call: like a
// net.Conn Read, it tries a read, and on EAGAIN waits in the runtime's poller — here
// having put the buffer back first.
type rawReader struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // c.rawRead, bound once so that reads do not allocate
	c    *Conn
	n    int
	errn error
}

func (r *rawReader) init(c *Conn) {
	tcp, ok := c.nc.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return
	}
	r.rc, r.c = rc, c
	r.fn = r.read
}

// ready reports whether the raw path can be used.
func (r *rawReader) ready() bool { return r.rc != nil }

// fill reads into the connection's read buffer, which holds no unread bytes, at least one
// byte.
func (r *rawReader) fill() error {
	r.n, r.errn = 0, nil
	if err := r.rc.Read(r.fn); err != nil {
		return err // a deadline, or the connection closed
	}
	if r.errn != nil {
		return r.errn
	}
	if r.n == 0 {
		return io.EOF
	}
	return nil
}

func (r *rawReader) read(fd uintptr) bool {
	c := r.c
	if c.rbuf == nil {
		c.rbuf = getBuffer(c.opts.ReadBufferSize)
	}
	c.r, c.w = 0, 0
	for {
		n, err := sockRecv(int(fd), *c.rbuf)
		switch err {
		case nil:
			r.n = n
			c.w = n
			if n > 0 {
				c.progress.Add(1)
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			// Nothing to read: wait without holding the buffer.
			putBuffer(c.rbuf)
			c.rbuf = nil
			return false
		default:
			r.errn = os.NewSyscallError("read", err)
			return true
		}
	}
}

// readMore is Serve's read, inside RawConn.Read: it reads into the free end of the read
// buffer, having moved the unread bytes to its front, and sets s.drained when the read
// left the socket empty (it returned less than it had room for).
func (s *serveLoop) readMore(fd uintptr) int {
	c := s.c
	if c.rbuf == nil {
		// As large as the last message's frame, which a message like it fills in one read.
		c.rbuf = getReadBuffer(max(c.opts.ReadBufferSize, s.want))
		c.r, c.w = 0, 0
	} else if c.r > 0 {
		c.w = copy(*c.rbuf, (*c.rbuf)[c.r:c.w])
		c.r = 0
	}
	room := (*c.rbuf)[c.w:]
	for {
		n, err := sockRecv(int(fd), room)
		switch err {
		case nil:
			if n == 0 {
				s.rerr = io.EOF
				return readMoreFailed
			}
			c.w += n
			c.progress.Add(1)
			s.drained = n < len(room)
			return readMoreGot
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return readMoreNone
		default:
			s.rerr = os.NewSyscallError("read", err)
			return readMoreFailed
		}
	}
}

// loop runs f as syscall.RawConn.Read does: until it returns true, waiting for the
// socket to be readable each time it returns false.
func (r *rawReader) loop(f func(fd uintptr) bool) error { return r.rc.Read(f) }

// setLowat sets the socket's receive low-water mark (see setRcvLowat).
func (r *rawReader) setLowat(n int) {
	r.rc.Control(func(fd uintptr) { setRcvLowat(fd, n) })
}

// shutdown shuts the socket down both ways, ending every wait on it, without closing it.
func (r *rawReader) shutdown() {
	r.rc.Control(func(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
}
