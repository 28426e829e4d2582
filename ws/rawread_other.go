//go:build !unix

package ws

import "errors"

// rawReader is the buffer-saving read path of rawread_unix.go; elsewhere reads go through
// net.Conn.Read.
type rawReader struct{}

func (r *rawReader) init(c *Conn) {}
func (r *rawReader) ready() bool  { return false }
func (r *rawReader) fill() error  { return errors.ErrUnsupported }
func (r *rawReader) shutdown()    {}
func (r *rawReader) setLowat(int) {}

func (r *rawReader) loop(f func(fd uintptr) bool) error { return errors.ErrUnsupported }

func (s *serveLoop) readMore(fd uintptr) int { return readMoreFailed }
