package bench

import (
	"syscall"
	"testing"
	"time"
)

// TestBenchLoopPartialWrites checks that an event loop finishes the messages that its
// sockets cannot take at once: with a send buffer of a few KiB, each 64 KiB message goes
// out in pieces, the loop waiting for room between them.
func TestBenchLoopPartialWrites(t *testing.T) {
	small := func(network, address string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
		return err
	}
	for _, url := range []string{startEcho(t, nil), startTCP(t, nil)} {
		t.Run(scheme(url), func(t *testing.T) {
			t.Parallel()
			cfg := Config{URL: url, Connections: 2, Size: loopMaxSize, Binary: true, Duration: 200 * time.Millisecond, dialControl: small}
			res := echoChecked(t, cfg, map[string]int64{})
			if res.Received == 0 || res.Bytes != res.Received*loopMaxSize {
				t.Errorf("%d replies, %d bytes", res.Received, res.Bytes)
			}
		})
	}
}
