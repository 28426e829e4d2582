package hub

import (
	"encoding/json"
	"time"
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

func encodePresence(typ, room, name string, members []string, now time.Time) []byte {
	if members == nil {
		members = []string{} // [], not null
	}
	return encode(presenceEvent{Type: typ, Room: room, Name: name, Members: members, TS: now.UnixMilli()})
}

func encodeMessage(room, from, text string, now time.Time) []byte {
	return encode(messageEvent{Type: "message", Room: room, From: from, Text: text, TS: now.UnixMilli()})
}

func encodeError(text string, now time.Time) []byte {
	return encode(errorEvent{Type: "error", Error: text, TS: now.UnixMilli()})
}

// encode marshals an event. It cannot fail: events hold only strings and integers, and
// json.Marshal replaces bytes that are not UTF-8 with U+FFFD, so the event is always a
// valid text message.
func encode(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
