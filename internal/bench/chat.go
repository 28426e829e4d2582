package bench

import (
	"bytes"
	"net/url"
)

// The chat protocol of duplex serve (docs/chat-protocol.md), as Broadcast speaks it.
const (
	chatSubprotocol = "duplex.chat.v1"
	publisherName   = "pub"

	// A text published starts with its intended send time, in nanoseconds on the run's
	// clock, and its sequence number, in hexadecimal; dots fill it up to its size. The last
	// text, which only says that no more follow, starts with endMark instead.
	timeHexLen   = 16
	seqHexLen    = 8
	timestampLen = timeHexLen + seqHexLen
	endMark      = "end"

	chatHead = `{"type":"message","text":"`
	chatTail = `"}`
)

var (
	messagePrefix = []byte(`{"type":"message"`)
	welcomePrefix = []byte(`{"type":"welcome"`)
	textField     = []byte(`"text":"`)
)

// chatProtocol is duplex serve's chat: each connection joins a room, named in the URL's
// query with the member's name, and is welcomed; a text message sent there comes to every
// member of the room in an envelope that names its sender.
type chatProtocol struct {
	url  *url.URL
	room string
	size int // of a text
}

func (p *chatProtocol) memberURL(name string) string {
	u := *p.url
	q := u.Query()
	q.Set("room", p.room)
	q.Set("name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func (p *chatProtocol) message() []byte {
	msg, _ := newChatMessage(p.size)
	return msg
}

func (p *chatProtocol) stamp(msg []byte, due, seq int64) {
	text := msg[len(chatHead):][:p.size]
	putHex(text[:timeHexLen], uint64(due))
	putHex(text[timeHexLen:timestampLen], uint64(seq))
}

func (p *chatProtocol) end(msg []byte) { copy(msg[len(chatHead):], endMark) }

func (p *chatProtocol) parse(msg []byte) (deliveryKind, int64) {
	switch {
	case bytes.HasPrefix(msg, welcomePrefix):
		return deliveryJoined, 0
	case !bytes.HasPrefix(msg, messagePrefix):
		return deliveryOther, 0 // a join or a leave
	}
	due, end, ok := parseDelivery(msg, p.size)
	switch {
	case !ok:
		return deliveryBad, 0
	case end:
		return deliveryEnd, 0
	}
	return deliveryMessage, due
}

// newChatMessage returns the chat message a publisher sends, {"type":"message","text":…},
// and its text, of size bytes, within it.
func newChatMessage(size int) (msg, text []byte) {
	const head, tail = chatHead, chatTail
	msg = make([]byte, 0, len(head)+size+len(tail))
	msg = append(msg, head...)
	msg = append(msg, bytes.Repeat([]byte("."), size)...)
	msg = append(msg, tail...)
	return msg, msg[len(head) : len(head)+size]
}

const hexDigits = "0123456789abcdef"

// putHex writes v in hexadecimal, its last digits, into p.
func putHex(p []byte, v uint64) {
	for i := len(p) - 1; i >= 0; i-- {
		p[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// parseHex returns the value of the hexadecimal digits p.
func parseHex(p []byte) (uint64, bool) {
	var v uint64
	for _, c := range p {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// parseDelivery returns the intended send time of a chat message the publisher sent,
// or whether it is the end mark.
func parseDelivery(msg []byte, size int) (due int64, end, ok bool) {
	i := bytes.Index(msg, textField)
	if i < 0 || len(msg)-i-len(textField) < size {
		return 0, false, false
	}
	text := msg[i+len(textField):][:size]
	if bytes.HasPrefix(text, []byte(endMark)) {
		return 0, true, true
	}
	v, ok := parseHex(text[:timeHexLen])
	if _, seqOK := parseHex(text[timeHexLen:timestampLen]); !ok || !seqOK {
		return 0, false, false
	}
	return int64(v), false, true
}
