package server

import (
	"strings"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

func TestCheckRoom(t *testing.T) {
	for room, ok := range map[string]bool{
		"lobby":                 true,
		"A-z_0.9":               true,
		strings.Repeat("r", 64): true,
		strings.Repeat("r", 65): false,
		"":                      false,
		"two words":             false,
		"café":                  false,
		"a/b":                   false,
		"%41":                   false,
	} {
		if err := checkRoom(room); (err == nil) != ok {
			t.Errorf("checkRoom(%q) = %v, want ok %v", room, err, ok)
		}
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"ada":                   true,
		"Ada Lovelace":          true,
		"a.b-c_d":               true,
		"Zoë":                   true,
		"Zoe\u0308":             true, // e and a combining diaeresis
		"日本語":                   true,
		"देवनागरी":              true,
		"١٢٣":                   true, // Arabic-Indic digits
		strings.Repeat("n", 32): true,
		strings.Repeat("é", 32): true, // characters, not bytes
		strings.Repeat("n", 33): false,
		"":                      false,
		" ":                     false,
		" ada":                  false,
		"ada ":                  false,
		"a\tb":                  false,
		"a\u00a0b":              false, // no-break space
		"\u0308e":               false, // a mark first
		"ada!":                  false,
		"<b>":                   false,
		"\xff":                  false,
		"😀":                     false,
	} {
		if err := checkName(name); (err == nil) != ok {
			t.Errorf("checkName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		typ  ws.MessageType
		msg  string
		text string // "" for an error
	}{
		{ws.MessageText, `{"type":"message","text":"hello"}`, "hello"},
		{ws.MessageText, `{"text":" hi\n","type":"message","extra":1}`, "hi"},
		{ws.MessageText, `{"type":"message","text":"` + strings.Repeat("😀", 2000) + `"}`, strings.Repeat("😀", 2000)},
		{ws.MessageText, `{"type":"message","text":"` + strings.Repeat("😀", 2001) + `"}`, ""},
		{ws.MessageText, `{"type":"message","text":""}`, ""},
		{ws.MessageText, `{"type":"message","text":null}`, ""},
		{ws.MessageText, `{"type":"message","text":"a"} {}`, ""},
		{ws.MessageText, `{"type":1,"text":"a"}`, ""},
		{ws.MessageText, `null`, ""},
		{ws.MessageText, ``, ""},
		{ws.MessageBinary, `{"type":"message","text":"hello"}`, ""},
	} {
		text, err := parseMessage(tc.typ, []byte(tc.msg))
		if text != tc.text || (err == nil) != (tc.text != "") {
			t.Errorf("parseMessage(%v, %.40q) = %.20q, %v; want %.20q", tc.typ, tc.msg, text, err, tc.text)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(0, 0)
	b := newTokenBucket(2, 3, t0) // 2 a second, 3 at once
	for i := range 3 {
		if !b.allow(t0) {
			t.Fatalf("message %d of the burst refused", i)
		}
	}
	if b.allow(t0) {
		t.Fatal("a fourth message at once allowed")
	}
	if b.allow(t0.Add(499 * time.Millisecond)) {
		t.Fatal("allowed before a token was earned")
	}
	if !b.allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("refused after a token was earned")
	}
	if b.allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("the earned token was used twice")
	}
	// A long pause fills the bucket to the burst, no more.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if !b.allow(later) {
			t.Fatalf("after a pause, message %d refused", i)
		}
	}
	if b.allow(later) {
		t.Fatal("after a pause, more than the burst allowed")
	}
	var unlimited *tokenBucket = newTokenBucket(-1, 0, t0)
	for range 1000 {
		if !unlimited.allow(t0) {
			t.Fatal("no rate limit refused a message")
		}
	}
}
