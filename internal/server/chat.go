package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/duplex-ws/duplex/hub"
	"github.com/duplex-ws/duplex/ws"
)

// The limits of docs/chat-protocol.md.
const (
	defaultRoom = "lobby"
	maxRoomLen  = 64   // characters
	maxNameLen  = 32   // characters
	maxTextLen  = 2000 // characters, after trimming
	maxInvalid  = 10   // invalid messages before the connection is closed with 1008
)

// Close reasons, with 1008 (policy violation).
const (
	reasonRateLimit      = "rate limit exceeded" // chat and echo
	reasonTooManyInvalid = "too many invalid messages"
)

// serveChat admits a member to a room: the room and name are checked, and the name held,
// before the upgrade, so a client learns why it is refused from the HTTP status (400,
// 409, 503). Then the handler's goroutine reads the member's messages and publishes them
// through the hub, whose writer goroutine is the only one that writes to the connection.
func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) {
	release, ok := s.admit(w, r, endpointChat)
	if !ok {
		return
	}
	defer release()

	query := r.URL.Query()
	room, name := query.Get("room"), query.Get("name")
	if room == "" {
		room = defaultRoom
	}
	if err := checkRoom(room); err != nil {
		s.refuse(w, r, endpointChat, rejectBadRequest, http.StatusBadRequest, err.Error())
		return
	}
	if err := checkName(name); err != nil {
		s.refuse(w, r, endpointChat, rejectBadRequest, http.StatusBadRequest, err.Error())
		return
	}
	m, err := s.hub.Reserve(room, name)
	switch {
	case errors.Is(err, hub.ErrNameTaken):
		s.refuse(w, r, endpointChat, rejectNameTaken, http.StatusConflict,
			fmt.Sprintf("the name %q is taken in room %q", name, room))
		return
	case err != nil:
		s.refuse(w, r, endpointChat, rejectShuttingDown, http.StatusServiceUnavailable, "the server is shutting down")
		return
	}

	c := s.accept(w, r, endpointChat, []string{ChatSubprotocol})
	if c == nil {
		m.Leave(ws.StatusGoingAway, "")
		return
	}
	defer s.conns.remove(c)
	defer s.metrics.opened(endpointChat)()
	if err := m.Join(countedConn{Conn: c, metrics: s.metrics}); err != nil {
		c.Close(ws.StatusGoingAway, hub.ReasonShutdown)
		return
	}
	start := time.Now()
	code, reason := s.chat(c, m)
	m.Leave(code, reason)
	<-m.Done()
	s.log.Debug("chat connection closed", "remote", r.RemoteAddr, "room", room, "name", name,
		"duration", time.Since(start), "code", int(code), "reason", reason)
}

// chat reads m's messages from c and publishes them until the connection ends or must be
// closed, and returns the close code and reason.
func (s *Server) chat(c *ws.Conn, m *hub.Member) (ws.StatusCode, string) {
	bucket := newTokenBucket(s.cfg.RateLimit, s.cfg.RateBurst, time.Now())
	invalid := 0
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(context.Background(), buf[:0])
		if err != nil {
			return closeCode(err)
		}
		buf = msg
		if cap(buf) > maxKeptBuffer {
			buf = nil // a large message's buffer is not kept for every message after it
		}
		s.metrics.received(endpointChat, len(msg))
		if !bucket.allow(time.Now()) {
			return ws.StatusPolicyViolation, reasonRateLimit
		}
		text, err := parseMessage(typ, msg)
		if err != nil {
			if invalid++; invalid >= maxInvalid {
				return ws.StatusPolicyViolation, reasonTooManyInvalid
			}
			m.SendError(err.Error())
			continue
		}
		m.Publish(text)
	}
}

// clientMessage is the one message a client sends.
type clientMessage struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
}

var errTextLength = fmt.Errorf("text must be 1 to %d characters", maxTextLen)

// parseMessage returns the text of a client's message, trimmed, or the error to answer it
// with.
func parseMessage(typ ws.MessageType, msg []byte) (string, error) {
	if typ != ws.MessageText {
		return "", errors.New(`messages must be JSON text, such as {"type":"message","text":"hello"}`)
	}
	var cm clientMessage
	if err := json.Unmarshal(msg, &cm); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field == "text":
			return "", errTextLength
		case errors.As(err, &te) && te.Field == "type":
			return "", errors.New(`type must be "message"`)
		}
		return "", errors.New(`messages must be JSON objects, such as {"type":"message","text":"hello"}`)
	}
	if cm.Type != "message" {
		return "", fmt.Errorf(`unknown type %q: the only type is "message"`, cm.Type)
	}
	if cm.Text == nil {
		return "", errTextLength
	}
	text := strings.TrimSpace(*cm.Text)
	if n := utf8.RuneCountInString(text); n < 1 || n > maxTextLen {
		return "", errTextLength
	}
	return text, nil
}

// checkRoom checks a room name: 1 to 64 characters of [A-Za-z0-9_.-].
func checkRoom(room string) error {
	ok := len(room) >= 1 && len(room) <= maxRoomLen
	for i := 0; ok && i < len(room); i++ {
		b := room[i]
		ok = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '.' || b == '-'
	}
	if !ok {
		return fmt.Errorf("room must be 1 to %d characters of A-Z, a-z, 0-9, '_', '.' and '-'", maxRoomLen)
	}
	return nil
}

// checkName checks a member's name: 1 to 32 characters, letters (with their combining
// marks), digits, spaces, '_', '-' and '.', neither starting nor ending with a space.
func checkName(name string) error {
	n := utf8.RuneCountInString(name)
	ok := utf8.ValidString(name) && n >= 1 && n <= maxNameLen &&
		!strings.HasPrefix(name, " ") && !strings.HasSuffix(name, " ")
	for i, r := range name {
		if !ok {
			break
		}
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == ' ', r == '_', r == '-', r == '.':
		case unicode.Is(unicode.M, r) && i > 0: // a combining mark, after what it marks
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("name must be 1 to %d letters, digits, spaces, '_', '-' or '.', not starting or ending with a space", maxNameLen)
	}
	return nil
}
