package ws

import "strconv"

// MessageType is the type of a data message (RFC 6455 §5.6).
type MessageType int

const (
	// MessageText is a message of UTF-8 text. Reading checks the encoding and fails the
	// connection with 1007 at the first invalid byte; writing does not check it.
	MessageText MessageType = MessageType(opText)
	// MessageBinary is a message of arbitrary bytes.
	MessageBinary MessageType = MessageType(opBinary)
)

func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}
