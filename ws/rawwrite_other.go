//go:build !unix

package ws

// tryWriter is TryFlush's writer of rawwrite_unix.go; elsewhere a write cannot be tried
// without waiting, and TryFlush sends nothing.
type tryWriter struct{}

func (c *Conn) tryWriteLocked(p []byte) (int, error) { return 0, nil }
