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

// NewCompressedConnForTest is NewConnForTest with permessage-deflate negotiated as mode
// says, in both directions: the peer compresses with readWindowBits, this end with
// writeWindowBits. CompressionDisabled negotiates nothing. The Threshold is the default.
func NewCompressedConnForTest(nc net.Conn, client bool, opts *ConnOptions, mode CompressionMode, readWindowBits, writeWindowBits int) *Conn {
	var d *deflateState
	if mode != CompressionDisabled {
		takeover := mode == CompressionContextTakeover
		d = newDeflateState(deflateParams{
			writeTakeover:   takeover,
			readTakeover:    takeover,
			writeWindowBits: writeWindowBits,
			readWindowBits:  readWindowBits,
		}, 0, 1)
	}
	return newConn(nc, client, "", opts, nil, d)
}

// NewCompressedConnForBench makes a server connection over nc with permessage-deflate in
// the given mode (15 window bits), or none for CompressionDisabled.
func NewCompressedConnForBench(nc net.Conn, mode CompressionMode) *Conn {
	var ds *deflateState
	if mode != CompressionDisabled {
		p := deflateParams{writeWindowBits: 15, readWindowBits: 15}
		p.writeTakeover = mode == CompressionContextTakeover
		p.readTakeover = p.writeTakeover
		ds = newDeflateState(p, 0, 1)
	}
	return newConn(nc, false, "", nil, nil, ds)
}

// WaitingForTest reports whether c has a WhenReadable registered and not yet fired.
func WaitingForTest(c *Conn) bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.ready.f != nil
}

// ReadBufferForTest reports the size of c's read buffer, 0 while it holds none, and how
// many of its bytes are unread. Call it only while no read runs.
func ReadBufferForTest(c *Conn) (size, unread int) {
	if c.rbuf == nil {
		return 0, 0
	}
	return len(*c.rbuf), c.w - c.r
}
