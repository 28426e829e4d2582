package ws

import "unicode/utf8"

// utf8Validator checks a text message for well-formed UTF-8 (RFC 3629, as RFC 6455 §8.1
// requires) as its bytes arrive, in pieces of any size. It fails at the first byte that
// cannot begin or continue a valid sequence, so an invalid message is rejected without
// waiting for its end (§8.1: "fail the WebSocket connection" as soon as it is known).
//
// The zero value is ready to use and is at a sequence boundary.
type utf8Validator struct {
	state uint8
}

// States of the validator: how a partial sequence must continue (RFC 3629 §4).
const (
	utf8Accept  uint8 = iota // at a sequence boundary
	utf8Tail1                // one byte 80..BF to go
	utf8Tail2                // two bytes 80..BF to go
	utf8Tail3                // three bytes 80..BF to go
	utf8AfterE0              // A0..BF, then one more (no overlong 3-byte forms)
	utf8AfterED              // 80..9F, then one more (no UTF-16 surrogates)
	utf8AfterF0              // 90..BF, then two more (no overlong 4-byte forms)
	utf8AfterF4              // 80..8F, then two more (nothing above U+10FFFF)
	utf8Reject
)

// utf8Step advances the validator's state by one byte.
func utf8Step(s uint8, c byte) uint8 {
	switch s {
	case utf8Accept:
		switch {
		case c < 0x80:
			return utf8Accept
		case c < 0xC2: // a continuation byte, or the overlong leads C0 and C1
			return utf8Reject
		case c < 0xE0:
			return utf8Tail1
		case c == 0xE0:
			return utf8AfterE0
		case c == 0xED:
			return utf8AfterED
		case c < 0xF0:
			return utf8Tail2
		case c == 0xF0:
			return utf8AfterF0
		case c < 0xF4:
			return utf8Tail3
		case c == 0xF4:
			return utf8AfterF4
		}
	case utf8Tail1, utf8Tail2, utf8Tail3:
		if c&0xC0 == 0x80 {
			return s - 1
		}
	case utf8AfterE0:
		if 0xA0 <= c && c <= 0xBF {
			return utf8Tail1
		}
	case utf8AfterED:
		if 0x80 <= c && c <= 0x9F {
			return utf8Tail1
		}
	case utf8AfterF0:
		if 0x90 <= c && c <= 0xBF {
			return utf8Tail2
		}
	case utf8AfterF4:
		if 0x80 <= c && c <= 0x8F {
			return utf8Tail2
		}
	}
	return utf8Reject
}

// write feeds p to the validator. It returns false as soon as p, following what was written
// before, cannot be valid UTF-8; the validator then stays failed.
func (v *utf8Validator) write(p []byte) bool {
	s := v.state
	// Finish a sequence left open by the previous piece.
	for s != utf8Accept && s != utf8Reject && len(p) > 0 {
		s = utf8Step(s, p[0])
		p = p[1:]
	}
	if s == utf8Reject || len(p) == 0 {
		v.state = s
		return s != utf8Reject
	}
	// p starts at a sequence boundary. Everything before its last sequence is complete
	// and goes to utf8.Valid, which is fast on long runs; the last sequence, perhaps cut
	// by the end of p, goes through the state machine.
	i := len(p) - 1
	for back := 0; i > 0 && back < utf8.UTFMax-1 && p[i]&0xC0 == 0x80; back++ {
		i--
	}
	if !utf8.Valid(p[:i]) {
		v.state = utf8Reject
		return false
	}
	for _, c := range p[i:] {
		s = utf8Step(s, c)
	}
	v.state = s
	return s != utf8Reject
}

// complete reports whether the bytes written end at a sequence boundary, as a text message
// must (RFC 6455 §8.1).
func (v *utf8Validator) complete() bool { return v.state == utf8Accept }

// reset prepares the validator for a new message.
func (v *utf8Validator) reset() { v.state = utf8Accept }
