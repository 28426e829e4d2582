//go:build !linux

package ws

// setRcvLowat does nothing outside Linux, whose receive low-water mark Serve relies on
// (rcvlowat_linux.go): Serve is woken at every segment of a large frame instead.
func setRcvLowat(fd uintptr, n int) {}
