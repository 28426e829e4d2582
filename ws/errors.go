package ws

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// ProtocolError reports that the peer broke the protocol: a malformed frame, invalid UTF-8
// in a text message, a message over the read limit. Code is the close code this endpoint
// sent when it failed the connection because of it (RFC 6455 §7.1.7): 1002, 1007 or 1009
// (or 1011, for an internal failure while reading, such as a decompressor that could not
// start).
// Find it with errors.As.
type ProtocolError struct {
	Code   StatusCode
	Reason string
}

func (e *ProtocolError) Error() string {
	return "ws: " + e.Reason + " (closing with " + strconv.Itoa(int(e.Code)) + ")"
}

func protocolErrorf(code StatusCode, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// errClosed is returned by operations on a connection that is closed or closing. It wraps
// [net.ErrClosed], so errors.Is(err, net.ErrClosed) holds.
var errClosed = fmt.Errorf("ws: connection closed: %w", net.ErrClosed)

// errCloseSent is returned by writes after a close frame was sent (RFC 6455 §5.5.1: no
// data frames after a close frame).
var errCloseSent = fmt.Errorf("ws: close frame already sent: %w", net.ErrClosed)

// ErrBadHandshake is wrapped by every error that [Accept] returns for a request that is not
// a valid WebSocket opening handshake, and by [Dial]'s errors for a response that is not a
// valid reply to its own.
var ErrBadHandshake = errors.New("ws: bad handshake")

// HandshakeError is the error [Accept] returns for a request it refused, with the HTTP
// status it answered: 400, 405, 426 or 505 for a request that is not a valid opening
// handshake, 403 for an origin that is not allowed, 500 for a malformed origin pattern. It
// wraps [ErrBadHandshake].
type HandshakeError struct {
	Status int
	Reason string
}

func (e *HandshakeError) Error() string { return "ws: bad handshake: " + e.Reason }
func (e *HandshakeError) Unwrap() error { return ErrBadHandshake }
