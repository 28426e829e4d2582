//go:build linux && !386 && !s390x && race

package ws

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// With the race detector on, socket I/O is synchronisation: syscall's Read and Write tell
// the detector that a write happens before any read made after it (so that a goroutine
// that learns something through a socket may use what the writer wrote before), and
// which bytes of the buffers the kernel read and wrote. sockRecv and sockSend, which do
// not go through them, do the same: the bytes themselves with runtime.RaceReadRange and
// RaceWriteRange, and the ordering by a Read and a Write of nothing on /dev/null, which
// acquire and release the very variable that syscall's Read and Write do, so that a
// socket read through a net.Conn and written through a Conn (or the other way round)
// still orders them. Without the race detector none of this is compiled.

var raceDevNull = sync.OnceValue(func() int {
	fd, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
})

// raceRead reports a read of n bytes into p.
func raceRead(p []byte, n int) {
	if n > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(&p[0]), n)
	}
	if fd := raceDevNull(); fd >= 0 {
		syscall.Read(fd, nil) // acquires syscall's ioSync
	}
}

// raceWriting reports a write about to be made.
func raceWriting() {
	if fd := raceDevNull(); fd >= 0 {
		syscall.Write(fd, nil) // releases syscall's ioSync
	}
}

// raceWrote reports a write of n bytes from p.
func raceWrote(p []byte, n int) {
	if n > 0 && len(p) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(&p[0]), min(n, len(p)))
	}
}
