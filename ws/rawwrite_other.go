//go:build !unix

package ws

// sockWriter is the writer of rawwrite_unix.go. Elsewhere writes go through net.Conn's
// Write, and a write cannot be tried without waiting: TryFlush sends nothing.
type sockWriter struct{}

// send writes p whole. frameLock is held.
func (c *Conn) send(p []byte) (int, error) { return c.nc.Write(p) }

func (c *Conn) tryWriteLocked(p []byte) (int, error) { return 0, nil }

// sendv writes a frame's header and payload with writev, through net.Buffers.
func (c *Conn) sendv(hdr, p []byte) (int, error) { return c.sendBuffers(hdr, p) }
