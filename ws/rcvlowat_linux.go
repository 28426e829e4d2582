package ws

import "syscall"

// setRcvLowat sets a socket's receive low-water mark to n bytes (n = 0: 1, the default).
// Linux then reports the socket readable once that many bytes are queued, or the peer has
// closed or failed, or its receive buffer is under pressure, whichever comes first; a read
// that does not wait still returns what is there.
func setRcvLowat(fd uintptr, n int) {
	syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, max(n, 1))
}
