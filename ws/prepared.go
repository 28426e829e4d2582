package ws

import (
	"context"
	"fmt"
	"sync"

	"github.com/duplex-ws/duplex/internal/deflate"
)

// PreparedMessage is a message encoded once and written to many connections, as a
// broadcast is. Its frame is built the first time a connection needs it, once per kind of
// connection: uncompressed, and compressed for each window size negotiated. A server
// connection then sends the stored frame in one write, with no framing or compression
// work of its own; a client connection, which must mask every frame with a key of its own
// (RFC 6455 §5.3), masks the stored payload as it sends it, and compresses nothing
// either.
//
// A PreparedMessage is safe for concurrent use.
type PreparedMessage struct {
	typ  MessageType
	data []byte

	// variants[0] is the uncompressed frame; variants[bits-7] the frame compressed with
	// a window of 1<<bits bytes and no history.
	variants [deflate.MaxWindowBits - deflate.MinWindowBits + 2]preparedFrame
}

type preparedFrame struct {
	once  sync.Once
	frame []byte // a server's: header and payload
	start int    // where the payload begins
}

// NewPreparedMessage prepares a message of the given type. It keeps data, which must not
// be modified afterwards.
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if err := checkMessageType(typ); err != nil {
		return nil, err
	}
	return &PreparedMessage{typ: typ, data: data}, nil
}

// Type returns the message's type.
func (pm *PreparedMessage) Type() MessageType { return pm.typ }

// Data returns the message's payload, which must not be modified.
func (pm *PreparedMessage) Data() []byte { return pm.data }

// frame returns the server frame of the message, compressed with a window of 1<<bits bytes,
// or uncompressed if bits is 0, and where in it the payload begins.
func (pm *PreparedMessage) frame(bits int) ([]byte, int) {
	i := 0
	if bits != 0 {
		i = bits - deflate.MinWindowBits + 1
	}
	v := &pm.variants[i]
	v.once.Do(func() {
		if bits == 0 {
			v.frame = appendHeader(make([]byte, 0, maxHeaderSize+len(pm.data)), true, 0, opcode(pm.typ), len(pm.data), false, 0)
			v.start = len(v.frame)
			v.frame = append(v.frame, pm.data...)
			return
		}
		e := pooledEncoder(bits, 1)
		payload := e.Flush(e.Write(make([]byte, 0, len(pm.data)/2+64), pm.data))
		releasePooledEncoder(e)
		v.frame = appendHeader(make([]byte, 0, maxHeaderSize+len(payload)), true, rsv1Bit, opcode(pm.typ), len(payload), false, 0)
		v.start = len(v.frame)
		v.frame = append(v.frame, payload...)
	})
	return v.frame, v.start
}

// WritePrepared writes a prepared message, as Write would write its data: compressed if
// permessage-deflate was negotiated and the message reaches the Threshold option's size.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	return c.writePrepared(ctx, pm, frameEncoded)
}

// writePrepared sends or queues, as how says, pm's frame.
func (c *Conn) writePrepared(ctx context.Context, pm *PreparedMessage, how frameHow) error {
	compress := c.deflate != nil && len(pm.data) >= c.deflate.threshold
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	bits := 0
	if compress {
		bits = c.deflate.params.writeWindowBits
	}
	if err := c.msgLock.lock(ctx, c.closed); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	defer c.msgLock.unlock()
	var err error
	switch {
	case c.client && !compress:
		err = c.writeFrame(ctx, true, 0, opcode(pm.typ), pm.data, how&^frameEncoded)
	case c.client:
		// The payload compressed once, masked by writeFrame with this connection's key.
		frame, start := pm.frame(bits)
		err = c.writeFrame(ctx, true, rsv1Bit, opcode(pm.typ), frame[start:], how&^frameEncoded)
	default:
		frame, _ := pm.frame(bits)
		err = c.writeFrame(ctx, true, 0, 0, frame, how)
	}
	if err != nil {
		return err
	}
	if compress && c.deflate.enc != nil {
		// With context takeover the peer's window now holds the message; so must ours.
		c.deflate.enc.Remember(pm.data)
	}
	return nil
}
