package hub

import (
	"encoding/json"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// The events of docs/chat-protocol.md, server to client. Each struct lists its fields in
// the order the document shows them.

// presenceEvent is a welcome, join or leave.
type presenceEvent struct {
	Type    string   `json:"type"`
	Room    string   `json:"room"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
	TS      int64    `json:"ts"`
}

type messageEvent struct {
	Type string `json:"type"`
	Room string `json:"room"`
	From string `json:"from"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
}

type errorEvent struct {
	Type  string `json:"type"`
	Error string `json:"error"`
	TS    int64  `json:"ts"`
}

func encodePresence(typ, room, name string, members []string, now time.Time) *ws.PreparedMessage {
	if members == nil {
		members = []string{} // [], not null
	}
	return encode(presenceEvent{Type: typ, Room: room, Name: name, Members: members, TS: now.UnixMilli()})
}

func encodeMessage(room, from, text string, now time.Time) *ws.PreparedMessage {
	return encode(messageEvent{Type: "message", Room: room, From: from, Text: text, TS: now.UnixMilli()})
}

func encodeError(text string, now time.Time) *ws.PreparedMessage {
	return encode(errorEvent{Type: "error", Error: text, TS: now.UnixMilli()})
}

// encode marshals an event into a prepared text message, framed (and compressed) once for
// every member it is written to. It cannot fail: events hold only strings and integers, and
// json.Marshal replaces bytes that are not UTF-8 with U+FFFD, so the event is always a
// valid text message.
func encode(v any) *ws.PreparedMessage {
	b, _ := json.Marshal(v)
	pm, _ := ws.NewPreparedMessage(ws.MessageText, b)
	return pm
}
