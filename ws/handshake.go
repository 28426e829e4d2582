package ws

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

// websocketGUID is the GUID of RFC 6455 §1.3 that the accept key is derived with.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key (§4.2.2, item 5.4):
// the base64 of the SHA-1 of the key followed by the GUID.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(websocketGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// newKey returns a fresh Sec-WebSocket-Key: 16 random bytes in base64 (§4.1).
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// validKey reports whether key is a Sec-WebSocket-Key: base64 of exactly 16 bytes (§4.2.1,
// item 5).
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}

// headerTokens calls f with each comma-separated element of every h[name] line, trimmed of
// spaces and tabs, skipping empty elements (RFC 9110 §5.6.1). f returns false to stop.
func headerTokens(h http.Header, name string, f func(token string) bool) {
	for _, line := range h[http.CanonicalHeaderKey(name)] {
		for line != "" {
			var elem string
			elem, line, _ = strings.Cut(line, ",")
			if elem = strings.Trim(elem, " \t"); elem != "" && !f(elem) {
				return
			}
		}
	}
}

// headerHasToken reports whether the token list h[name] holds token, compared
// case-insensitively as Upgrade and Connection tokens are.
func headerHasToken(h http.Header, name, token string) bool {
	found := false
	headerTokens(h, name, func(t string) bool {
		found = strings.EqualFold(t, token)
		return !found
	})
	return found
}

// headerList returns the elements of the token list h[name].
func headerList(h http.Header, name string) []string {
	var list []string
	headerTokens(h, name, func(t string) bool {
		list = append(list, t)
		return true
	})
	return list
}
