//go:build !linux

package ws

// poller is the epoll-based wait of readable_linux.go; elsewhere WhenReadable calls its
// function at once.
type poller struct{}

var readiness poller

func (p *poller) arm(c *Conn, f func()) bool { return false }
func (p *poller) forget(token uint32)        {}
