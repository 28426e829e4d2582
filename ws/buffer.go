package ws

import (
	"math/bits"
	"sync"
)

// Buffers come from pools in power-of-two size classes from 512 bytes to 2 MiB, and are
// returned as soon as the operation that needed them is done. A read waiting for a message
// on plain TCP on Unix holds none (rawread_unix.go). Most take at most 64 KiB (getBuffer);
// only Serve, which reads a frame of up to 2 MiB whole into one buffer (serve.go), and a
// client, which masks a large frame 256 KiB at a time (writeFrameLocked), take more.
const (
	minBufferShift     = 9
	maxBufferShift     = 16
	maxBufferSize      = 1 << maxBufferShift
	maxReadBufferShift = 21
	maxReadBufferSize  = 1 << maxReadBufferShift
)

var bufferPools [maxReadBufferShift - minBufferShift + 1]sync.Pool

// bufferClass returns the index of the smallest class of at least n bytes, capped at the
// class of 1<<maxShift bytes.
func bufferClass(n, maxShift int) int {
	if n <= 1<<minBufferShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	return min(shift, maxShift) - minBufferShift
}

// getBuffer returns a buffer of at least n bytes, or of maxBufferSize bytes if n is larger.
func getBuffer(n int) *[]byte { return getClass(bufferClass(n, maxBufferShift)) }

// getReadBuffer returns a buffer of at least n bytes, or of maxReadBufferSize bytes if n
// is larger.
func getReadBuffer(n int) *[]byte { return getClass(bufferClass(n, maxReadBufferShift)) }

func getClass(class int) *[]byte {
	if b, ok := bufferPools[class].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 1<<(class+minBufferShift))
	return &b
}

// putBuffer returns a buffer from getBuffer or getReadBuffer to its pool.
func putBuffer(b *[]byte) {
	n := len(*b)
	if n < 1<<minBufferShift || n > maxReadBufferSize || n&(n-1) != 0 {
		return
	}
	bufferPools[bits.Len(uint(n))-1-minBufferShift].Put(b)
}
