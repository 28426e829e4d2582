//go:build unix && !linux

package ws

import "syscall"

// sockRecv and sockSend are read(2) and write(2) on a non-blocking socket: see
// sockio_linux.go for what Linux does instead.
func sockRecv(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }

func sockSend(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }

// sockSendv writes the first of bufs, which is as far as a write of both may go: sendv,
// below, is the only writer of two buffers, and here it goes through net.Buffers instead.
func sockSendv(fd int, bufs *[2][]byte, iov *[2]syscall.Iovec) (int, error) {
	return sockSend(fd, bufs[0])
}

// sendv writes a frame's header and payload with writev, through net.Buffers.
func (c *Conn) sendv(hdr, p []byte) (int, error) { return c.sendBuffers(hdr, p) }
