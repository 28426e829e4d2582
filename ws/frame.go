package ws

import (
	"encoding/binary"
	"math"
	"strconv"
)

// opcode is a frame's opcode (RFC 6455 §5.2, §11.8).
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

// isControl reports whether o is a control opcode: the most significant opcode bit is set
// (RFC 6455 §5.5).
func (o opcode) isControl() bool { return o&0x8 != 0 }

func (o opcode) String() string {
	switch o {
	case opContinuation:
		return "continuation"
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(o)) + ")"
}

// Bits of the first two header bytes (RFC 6455 §5.2).
const (
	finBit  = 0x80
	rsv1Bit = 0x40
	rsvBits = 0x70
	maskBit = 0x80
)

const (
	// maxHeaderSize is the largest frame header: 2 bytes, an 8-byte extended length and a
	// 4-byte masking key.
	maxHeaderSize = 14
	// maxControlPayload is the largest control frame payload (RFC 6455 §5.5).
	maxControlPayload = 125
)

// header is a decoded frame header.
type header struct {
	fin    bool
	rsv    byte // the RSV1..RSV3 bits, in place (rsvBits)
	opcode opcode
	masked bool
	length int64
	// key is the masking key, the four key bytes read as a little-endian uint32 so that
	// byte i of the payload is XORed with byte(key >> (8 * (i % 4))).
	key uint32
}

// parseHeader decodes the frame header at the start of b. It returns the header and its size
// in bytes, or n == 0 when b does not hold the whole header yet. It checks only what the
// header's encoding itself requires; the rules that depend on the connection are in
// [Conn.checkHeader].
func parseHeader(b []byte) (h header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&finBit != 0
	h.rsv = b0 & rsvBits
	h.opcode = opcode(b0 & 0x0F)
	h.masked = b1&maskBit != 0
	n = 2
	switch l := b1 &^ maskBit; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
		n = 4
		// §5.2: "the minimal number of bytes MUST be used to encode the length".
		if h.length < 126 {
			return h, n, protocolErrorf(StatusProtocolError, "non-minimal 16-bit payload length %d", h.length)
		}
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		l64 := binary.BigEndian.Uint64(b[2:])
		n = 10
		// §5.2: "the most significant bit MUST be 0".
		if l64 > math.MaxInt64 {
			return h, n, protocolErrorf(StatusProtocolError, "64-bit payload length has its most significant bit set")
		}
		h.length = int64(l64)
		if h.length <= math.MaxUint16 {
			return h, n, protocolErrorf(StatusProtocolError, "non-minimal 64-bit payload length %d", h.length)
		}
	default:
		h.length = int64(l)
	}
	if h.masked {
		if len(b) < n+4 {
			return h, 0, nil
		}
		h.key = binary.LittleEndian.Uint32(b[n:])
		n += 4
	}
	return h, n, nil
}

// appendHeader appends the encoding of a frame header to b. When masked is set, key is the
// masking key in the form described at [header].
func appendHeader(b []byte, fin bool, rsv byte, op opcode, length int, masked bool, key uint32) []byte {
	b0 := byte(op) | rsv
	if fin {
		b0 |= finBit
	}
	var b1 byte
	if masked {
		b1 = maskBit
	}
	switch {
	case length < 126:
		b = append(b, b0, b1|byte(length))
	case length <= math.MaxUint16:
		b = append(b, b0, b1|126)
		b = binary.BigEndian.AppendUint16(b, uint16(length))
	default:
		b = append(b, b0, b1|127)
		b = binary.BigEndian.AppendUint64(b, uint64(length))
	}
	if masked {
		b = binary.LittleEndian.AppendUint32(b, key)
	}
	return b
}
