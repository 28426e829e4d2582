//go:build linux && !386 && !s390x

package ws

import (
	"syscall"
	"unsafe"
)

// sockRecv and sockSend are read(2) and write(2) for a plain TCP connection's reads and
// writes (rawread_unix.go, rawwrite_unix.go), made inside syscall.RawConn's Read and
// Write as recvfrom(2) and sendto(2) with MSG_DONTWAIT: whatever the socket's file flags
// say, they never wait for bytes to read or for room to write (RawConn waits for those in
// the runtime's poller instead). On Linux, that is; 386 and s390x, which reach these
// calls through socketcall(2), do as other systems do (sockio_other.go).
//
// That lets them skip the scheduler's bookkeeping for a system call (entersyscall and
// exitsyscall), as syscall.RawSyscall does. It saves more than the bookkeeping's few
// dozen nanoseconds. The first such call a program makes after all its goroutines have
// waited wakes the runtime's monitor thread (sysmon), which then looks again every 20 µs
// for a millisecond or so and backs off only slowly. A server that waits between
// messages pays for each look with two context switches on its CPU:
//   - echo, one connection: 2.4–2.6 context switches a message with read and write,
//     0.9 without;
//   - broadcast to 1000 subscribers, 50 messages a second: 45–110 every 1000
//     deliveries, 1–2 without (perf stat; bench/RESULTS.md for the CPU it saves).
//
// sendto and recvfrom also skip the file layer that read and write go through for a
// socket.
//
// The cost: while such a call runs, its goroutine keeps its P, which sysmon would
// otherwise hand to another thread after some 20 µs, and a stop-the-world waits for it.
// A call may still sleep in the kernel without waiting for the network: for the socket's
// lock, held by a call on the same socket from another thread (a read alongside a write),
// or for memory. So the calls are kept short: buffers of at most maxQuickIO bytes, and
// only the connection's own buffers, which it has touched (a user's payload may be a
// mapped file, whose pages a copy would fault in from disk): sockSendv, which sends a
// payload as the caller passed it, makes the call the usual way, through syscall.Syscall6,
// as do calls on larger buffers.
func sockRecv(fd int, p []byte) (int, error) {
	n, err := sockIO(syscall.SYS_RECVFROM, fd, p, syscall.MSG_DONTWAIT)
	if err == nil {
		raceRead(p, n)
	}
	return n, err
}

func sockSend(fd int, p []byte) (int, error) {
	raceWriting()
	// MSG_NOSIGNAL: a peer that has gone is EPIPE, not SIGPIPE as well.
	n, err := sockIO(syscall.SYS_SENDTO, fd, p, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL)
	raceWrote(p, n)
	return n, err
}

// maxQuickIO is the largest buffer a socket call without the scheduler's bookkeeping is
// made with: a copy of some 10–30 µs here, about as long as sysmon lets any system call
// keep its P (it looks every 20 µs or more, and hands a P on once it has seen the same
// call twice).
const maxQuickIO = 256 << 10

// sockSendv writes bufs[0] and then bufs[1] with one sendmsg(2), as writev(2) would, using
// iov for the vector: a frame's header and the caller's payload (see above).
func sockSendv(fd int, bufs *[2][]byte, iov *[2]syscall.Iovec) (int, error) {
	var msg syscall.Msghdr
	for _, b := range bufs {
		if len(b) > 0 {
			v := &iov[msg.Iovlen]
			v.Base = &b[0]
			v.SetLen(len(b))
			msg.Iovlen++
		}
	}
	if msg.Iovlen > 0 {
		msg.Iov = &iov[0]
	}
	const flags = syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL
	raceWriting()
	r, _, errno := syscall.Syscall6(syscall.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), flags, 0, 0, 0)
	*iov = [2]syscall.Iovec{} // no pointer into a buffer outlives the call
	if errno != 0 {
		return 0, errno
	}
	n := int(r)
	raceWrote(bufs[0], n)
	raceWrote(bufs[1], n-len(bufs[0]))
	return n, nil
}

// sendv writes a frame's header and payload, in one system call where it can.
func (c *Conn) sendv(hdr, p []byte) (int, error) {
	w := c.rawWriter()
	if w == nil {
		return c.sendBuffers(hdr, p)
	}
	return w.write(c, w.allFn, hdr, p)
}

func sockIO(trap uintptr, fd int, p []byte, flags int) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	var r uintptr
	var errno syscall.Errno
	if len(p) <= maxQuickIO {
		r, _, errno = syscall.RawSyscall6(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)), uintptr(flags), 0, 0)
	} else {
		r, _, errno = syscall.Syscall6(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)), uintptr(flags), 0, 0)
	}
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
