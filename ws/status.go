package ws

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// StatusCode is a close status code (RFC 6455 §7.4). The registered codes are in the
// IANA "WebSocket Close Code Number Registry"; 3000–3999 are for libraries, frameworks and
// applications that register them, 4000–4999 are private.
type StatusCode int

// The codes defined by RFC 6455 §7.4.1 and the IANA registry.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	// StatusNoStatusRcvd is reported when a close frame carries no code. It is never
	// sent (§7.4.1).
	StatusNoStatusRcvd StatusCode = 1005
	// StatusAbnormalClosure is reported when the connection ended without a close frame.
	// It is never sent (§7.4.1).
	StatusAbnormalClosure     StatusCode = 1006
	StatusInvalidFramePayload StatusCode = 1007
	StatusPolicyViolation     StatusCode = 1008
	StatusMessageTooBig       StatusCode = 1009
	StatusMandatoryExtension  StatusCode = 1010
	StatusInternalError       StatusCode = 1011
	StatusServiceRestart      StatusCode = 1012
	StatusTryAgainLater       StatusCode = 1013
	StatusBadGateway          StatusCode = 1014
	StatusTLSHandshake        StatusCode = 1015 // never sent (§7.4.1)
)

const (
	statusUnknown              StatusCode = -1
	maxCloseReason                        = maxControlPayload - 2
	closeReasonTruncatedSuffix            = "…"
)

// String returns the code's name, such as "normal closure", with its number for codes
// outside the registry.
func (c StatusCode) String() string {
	switch c {
	case StatusNormalClosure:
		return "normal closure"
	case StatusGoingAway:
		return "going away"
	case StatusProtocolError:
		return "protocol error"
	case StatusUnsupportedData:
		return "unsupported data"
	case StatusNoStatusRcvd:
		return "no status received"
	case StatusAbnormalClosure:
		return "abnormal closure"
	case StatusInvalidFramePayload:
		return "invalid frame payload data"
	case StatusPolicyViolation:
		return "policy violation"
	case StatusMessageTooBig:
		return "message too big"
	case StatusMandatoryExtension:
		return "mandatory extension"
	case StatusInternalError:
		return "internal error"
	case StatusServiceRestart:
		return "service restart"
	case StatusTryAgainLater:
		return "try again later"
	case StatusBadGateway:
		return "bad gateway"
	case StatusTLSHandshake:
		return "TLS handshake"
	}
	return "status " + strconv.Itoa(int(c))
}

// validOnWire reports whether c may appear in a close frame (RFC 6455 §7.4): 1000–1003,
// 1007–1014 and 3000–4999. 1004 is reserved, 1005, 1006 and 1015 must never be sent, and
// the rest of 0–2999 is unassigned.
func (c StatusCode) validOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// CloseError is how the connection ended: the close frame the peer sent, or, with code
// 1006 (StatusAbnormalClosure), an end detected here without one (the connection lost, a
// keepalive unanswered). [Conn.Read] and the other reading methods return it, found with
// errors.As, once the connection has ended.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	by := "ws: closed by peer: "
	if e.Code == StatusAbnormalClosure {
		by = "ws: connection closed: " // detected here: no close frame came
	}
	if e.Reason == "" {
		return by + strconv.Itoa(int(e.Code)) + " (" + e.Code.String() + ")"
	}
	return by + strconv.Itoa(int(e.Code)) + " (" + e.Code.String() + "): " + e.Reason
}

// CloseStatus returns the code of the [CloseError] in err's chain, or -1 if there is none.
// It is the way to tell a normal closure (1000, 1001) from an error:
//
//	if ws.CloseStatus(err) == ws.StatusNormalClosure { … }
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return statusUnknown
}

// parseClosePayload decodes a close frame's payload (RFC 6455 §5.5.1): empty, or a
// two-byte code followed by a UTF-8 reason. A one-byte payload or a code that may not be
// sent is a protocol error (1002); a reason that is not UTF-8 is 1007.
func parseClosePayload(p []byte) (*CloseError, error) {
	switch len(p) {
	case 0:
		return &CloseError{Code: StatusNoStatusRcvd}, nil
	case 1:
		return nil, protocolErrorf(StatusProtocolError, "close frame payload of 1 byte")
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.validOnWire() {
		return nil, protocolErrorf(StatusProtocolError, "invalid close code %d", int(code))
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return nil, protocolErrorf(StatusInvalidFramePayload, "close reason is not valid UTF-8")
	}
	return &CloseError{Code: code, Reason: string(reason)}, nil
}

// appendClosePayload appends the payload of a close frame with the given code and reason.
// A reason longer than a control frame allows is cut at a rune boundary and marked with
// "…"; invalid UTF-8 in it is replaced by U+FFFD. StatusNoStatusRcvd gives an empty
// payload.
func appendClosePayload(b []byte, code StatusCode, reason string) []byte {
	if code == StatusNoStatusRcvd {
		return b
	}
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	// §5.5.1: the reason is UTF-8; invalid bytes would make the peer fail with 1007.
	reason = strings.ToValidUTF8(reason, "\uFFFD")
	if len(reason) > maxCloseReason {
		cut := maxCloseReason - len(closeReasonTruncatedSuffix)
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut] + closeReasonTruncatedSuffix
	}
	return append(b, reason...)
}
