package ws

import (
	"sync"
	"syscall"
)

// setRcvLowat sets a socket's receive low-water mark to n bytes (n = 0: 1, the default).
// Linux then reports the socket readable once that many bytes are queued, or the peer has
// closed or failed, or its receive buffer is under pressure, whichever comes first; a read
// that does not wait still returns what is there.
//
// Before Linux 4.18 a mark above what the receive buffer could hold was out of reach (4.18
// caps it and grows the buffer to fit), so there setRcvLowat does nothing.
func setRcvLowat(fd uintptr, n int) {
	if rcvLowatSafe() {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, max(n, 1))
	}
}

var rcvLowatSafe = sync.OnceValue(func() bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	var release []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	return kernelAtLeast(string(release), 4, 18)
})

// kernelAtLeast reports whether a kernel release such as "6.18.44-fc" is major.minor or
// later.
func kernelAtLeast(release string, major, minor int) bool {
	var v [2]int // major, minor
	i := 0
scan:
	for _, c := range release {
		switch {
		case c >= '0' && c <= '9':
			v[i] = v[i]*10 + int(c-'0')
		case c == '.' && i == 0:
			i = 1
		default:
			break scan
		}
	}
	return v[0] > major || v[0] == major && v[1] >= minor
}
