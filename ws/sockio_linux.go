package ws

import (
	"syscall"
	"unsafe"
)

// sockRecv and sockSend are read(2) and write(2) for a plain TCP connection's reads and
// writes (rawread_unix.go, rawwrite_unix.go), made inside syscall.RawConn's Read and
// Write as recvfrom(2) and sendto(2) with MSG_DONTWAIT: whatever the socket's file flags
// say, they cannot wait in the kernel (RawConn waits in the runtime's poller instead).
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
// A call that may copy more than maxQuickIO bytes goes through syscall.Syscall6, the
// usual way: it may take long enough for sysmon to hand the goroutine's P to another
// thread meanwhile.
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

// maxQuickIO is the most a socket call without the scheduler's bookkeeping may copy:
// some 20–40 µs of work at most, about how long sysmon lets a system call hold a P
// before it hands the P on. Until then the P is held either way; the goroutine's only
// cost is that a stop-the-world waits for the call to end.
const maxQuickIO = 256 << 10

// sockSendv writes bufs[0] and then bufs[1] with one sendmsg(2), as writev(2) would, using
// iov for the vector.
func sockSendv(fd int, bufs *[2][]byte, iov *[2]syscall.Iovec) (int, error) {
	var msg syscall.Msghdr
	total := 0
	for _, b := range bufs {
		if len(b) > 0 {
			v := &iov[msg.Iovlen]
			v.Base = &b[0]
			v.SetLen(len(b))
			msg.Iovlen++
			total += len(b)
		}
	}
	if msg.Iovlen > 0 {
		msg.Iov = &iov[0]
	}
	const flags = syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL
	raceWriting()
	var r uintptr
	var errno syscall.Errno
	if total <= maxQuickIO {
		r, _, errno = syscall.RawSyscall6(syscall.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), flags, 0, 0, 0)
	} else {
		r, _, errno = syscall.Syscall6(syscall.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), flags, 0, 0, 0)
	}
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
