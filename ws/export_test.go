package ws

import "net"

// NewConnForTest makes a connection over nc as if its handshake had just completed, so
// tests can drive it with raw frames. client chooses the role.
func NewConnForTest(nc net.Conn, client bool, opts *ConnOptions) *Conn {
	return newConn(nc, client, "", opts, nil, nil)
}

// SetMaskKeyForTest makes a client connection mask every frame with key, so that tests can
// compare its frames byte for byte. Call it before the connection is used.
func SetMaskKeyForTest(c *Conn, key [4]byte) {
	k := uint32(key[0]) | uint32(key[1])<<8 | uint32(key[2])<<16 | uint32(key[3])<<24
	c.maskKey = func() uint32 { return k }
}
