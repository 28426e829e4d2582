//go:build unix && (!linux || 386 || s390x)

package ws

import "syscall"

// sockRecv and sockSend are read(2) and write(2) on a non-blocking socket: see
// sockio_sys.go for what Linux does instead. A write takes at most 1 GiB at a time, as
// net.Conn's does: some systems refuse more than 2 GiB in one.
func sockRecv(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }

func sockSend(fd int, p []byte) (int, error) { return syscall.Write(fd, p[:min(len(p), 1<<30)]) }

// sockSendv writes the first of bufs, which is as far as a write of both may go: sendv,
// below, is the only writer of two buffers, and here it goes through net.Buffers instead.
func sockSendv(fd int, bufs *[2][]byte, iov *[2]syscall.Iovec) (int, error) {
	return sockSend(fd, bufs[0])
}

// sendv writes a frame's header and payload with writev, through net.Buffers.
func (c *Conn) sendv(hdr, p []byte) (int, error) { return c.sendBuffers(hdr, p) }
