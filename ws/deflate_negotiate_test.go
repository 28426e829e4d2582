package ws

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The permessage-deflate negotiation tables (RFC 7692 §5, §7.1): one row per rule, each
// run against the negotiating function and through a real handshake over loopback (Accept
// answering raw requests, Dial reading raw responses).

// takeover15 are the parameters of a plain "permessage-deflate" both ways.
var takeover15 = deflateParams{writeTakeover: true, readTakeover: true, writeWindowBits: 15, readWindowBits: 15}

// with returns p changed by f, for table rows.
func (p deflateParams) with(f func(*deflateParams)) deflateParams { f(&p); return p }

// takeoverOpts is the server's or client's default compression with context takeover.
var takeoverOpts = CompressionOptions{Mode: CompressionContextTakeover}

// serverNegotiationTests: a server (opts) answering request lines. want is the
// Sec-WebSocket-Extensions response, "" when compression is declined, which never fails the
// handshake (§5.1: "the server ... declines" by leaving the offer out).
var serverNegotiationTests = []struct {
	name   string
	opts   CompressionOptions
	lines  []string // Sec-WebSocket-Extensions request lines
	want   string
	params deflateParams // the server's parameters, when accepted
}{
	{name: "§5.1 no offer", opts: takeoverOpts, lines: nil, want: ""},
	{name: "§5.1 other extensions only", opts: takeoverOpts, lines: []string{"x-webkit-deflate-frame, foo; bar=1"}, want: ""},
	{name: "§7 plain offer", opts: takeoverOpts, lines: []string{"permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§5.1 compression disabled declines", opts: CompressionOptions{}, lines: []string{"permessage-deflate"}, want: ""},
	{name: "§7.1.1.1 server_no_context_takeover accepted by repeating it", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_no_context_takeover"}, want: "permessage-deflate; server_no_context_takeover",
		params: takeover15.with(func(p *deflateParams) { p.writeTakeover = false })},
	{name: "§7.1.1.2 client_no_context_takeover", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_no_context_takeover"}, want: "permessage-deflate; client_no_context_takeover",
		params: takeover15.with(func(p *deflateParams) { p.readTakeover = false })},
	{name: "§7.1.1 both no_context_takeover", opts: takeoverOpts,
		lines:  []string{"permessage-deflate; client_no_context_takeover; server_no_context_takeover"},
		want:   "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		params: deflateParams{writeWindowBits: 15, readWindowBits: 15}},
	{name: "§7.1.1.1 §7.1.1.2 a no-takeover server says so unasked", opts: CompressionOptions{Mode: CompressionNoContextTakeover},
		lines: []string{"permessage-deflate"}, want: "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		params: deflateParams{writeWindowBits: 15, readWindowBits: 15}},
	{name: "§7.1.2.1 server_max_window_bits=10", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=10"}, want: "permessage-deflate; server_max_window_bits=10",
		params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 10 })},
	{name: "§7.1.2.1 server_max_window_bits=8, the smallest", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=8"}, want: "permessage-deflate; server_max_window_bits=8",
		params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 8 })},
	{name: "§7.1.2.1 server_max_window_bits=15 is repeated", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=15"}, want: "permessage-deflate; server_max_window_bits=15", params: takeover15},
	{name: "§7.1 quoted value", opts: takeoverOpts,
		lines: []string{`permessage-deflate; server_max_window_bits="10"`}, want: "permessage-deflate; server_max_window_bits=10",
		params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 10 })},
	{name: "§7.1 quoted value with a quoted-pair", opts: takeoverOpts,
		lines: []string{`permessage-deflate; client_max_window_bits="1\1"`}, want: "permessage-deflate; client_max_window_bits=11",
		params: takeover15.with(func(p *deflateParams) { p.readWindowBits = 11 })},
	{name: "§7.1.2.1 the server's smaller window wins", opts: CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 9},
		lines: []string{"permessage-deflate; server_max_window_bits=12"}, want: "permessage-deflate; server_max_window_bits=9",
		params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 9 })},
	{name: "§7.1.2.1 the offer's smaller window wins", opts: CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 12},
		lines: []string{"permessage-deflate; server_max_window_bits=9"}, want: "permessage-deflate; server_max_window_bits=9",
		params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 9 })},
	{name: "§7.1.2.1 server_max_window_bits stated unasked", opts: CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 11},
		lines: []string{"permessage-deflate"}, want: "permessage-deflate; server_max_window_bits=11",
		params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 11 })},
	{name: "§7.1.2.2 client_max_window_bits without value, nothing asked", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_max_window_bits"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.2 client_max_window_bits without value, server limits", opts: CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 10},
		lines: []string{"permessage-deflate; client_max_window_bits"}, want: "permessage-deflate; client_max_window_bits=10",
		params: takeover15.with(func(p *deflateParams) { p.readWindowBits = 10 })},
	{name: "§7.1.2.2 client_max_window_bits=9 bounds the client's window", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_max_window_bits=9"}, want: "permessage-deflate; client_max_window_bits=9",
		params: takeover15.with(func(p *deflateParams) { p.readWindowBits = 9 })},
	{name: "§7.1.2.2 client_max_window_bits=12, server asks 10", opts: CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 10},
		lines: []string{"permessage-deflate; client_max_window_bits=12"}, want: "permessage-deflate; client_max_window_bits=10",
		params: takeover15.with(func(p *deflateParams) { p.readWindowBits = 10 })},
	{name: "§7.1.2.2 not offered: the server MUST NOT limit the client", opts: CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 10},
		lines: []string{"permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2 both windows", opts: CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 9, ClientMaxWindowBits: 8},
		lines:  []string{"permessage-deflate; server_max_window_bits=10; client_max_window_bits"},
		want:   "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8",
		params: deflateParams{writeTakeover: true, readTakeover: true, writeWindowBits: 9, readWindowBits: 8}},
	{name: "§5.1 first acceptable of several offers, in order", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, want: "permessage-deflate; server_max_window_bits=10",
		params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 10 })},
	{name: "§5.1 offers across header lines", opts: takeoverOpts,
		lines:  []string{"x-webkit-deflate-frame", "permessage-deflate; client_no_context_takeover", "permessage-deflate"},
		want:   "permessage-deflate; client_no_context_takeover",
		params: takeover15.with(func(p *deflateParams) { p.readTakeover = false })},
	{name: "§9.1 RFC 6455 whitespace around separators", opts: takeoverOpts,
		lines:  []string{"foo ,\tpermessage-deflate ;  server_max_window_bits = 10 ; client_no_context_takeover , bar"},
		want:   "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
		params: takeover15.with(func(p *deflateParams) { p.readTakeover = false; p.writeWindowBits = 10 })},
	{name: "names in any case", opts: takeoverOpts,
		lines: []string{"Permessage-Deflate; Server_No_Context_Takeover"}, want: "permessage-deflate; server_no_context_takeover",
		params: takeover15.with(func(p *deflateParams) { p.writeTakeover = false })},

	// §7: "a server MUST decline an extension negotiation offer" with a parameter not
	// defined for offers, an invalid value, or the same parameter twice; the next offer
	// is then tried, and no offer left means no compression, never a failed handshake.
	{name: "§7 unknown parameter declined, next tried", opts: takeoverOpts,
		lines: []string{"permessage-deflate; foo, permessage-deflate; server_no_context_takeover"}, want: "permessage-deflate; server_no_context_takeover",
		params: takeover15.with(func(p *deflateParams) { p.writeTakeover = false })},
	{name: "§7 unknown parameter with value declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; mem_level=8"}, want: ""},
	{name: "§7 duplicate server_no_context_takeover declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7 duplicate client_max_window_bits declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_max_window_bits=10; client_max_window_bits, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7 duplicate server_max_window_bits declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", "permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.1.1 server_no_context_takeover with a value declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_no_context_takeover=1, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.1.2 client_no_context_takeover with a value declined", opts: takeoverOpts,
		lines: []string{`permessage-deflate; client_no_context_takeover=""`, "permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.1 valueless server_max_window_bits declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits, permessage-deflate; client_no_context_takeover"}, want: "permessage-deflate; client_no_context_takeover",
		params: takeover15.with(func(p *deflateParams) { p.readTakeover = false })},
	{name: "§7.1.2.1 server_max_window_bits=7 declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=7, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.1 server_max_window_bits=16 declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=16, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.1 server_max_window_bits=09 (leading zero) declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=09, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: `§7.1.2.1 server_max_window_bits="09" declined`, opts: takeoverOpts,
		lines: []string{`permessage-deflate; server_max_window_bits="09", permessage-deflate`}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.1 server_max_window_bits=ten declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=ten, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.1 server_max_window_bits=+9 declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=+9, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.1 server_max_window_bits=010 declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=010, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.2 client_max_window_bits=7 declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_max_window_bits=7, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.2 client_max_window_bits=16 declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_max_window_bits=16, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.2 client_max_window_bits=09 declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_max_window_bits=09, permessage-deflate"}, want: "permessage-deflate", params: takeover15},
	{name: "§7.1.2.2 client_max_window_bits=x declined", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_max_window_bits=x", "permessage-deflate; server_no_context_takeover"}, want: "permessage-deflate; server_no_context_takeover",
		params: takeover15.with(func(p *deflateParams) { p.writeTakeover = false })},
	{name: "§7.1 quoted value that is not a token declined, next tried", opts: takeoverOpts,
		lines: []string{`permessage-deflate; server_max_window_bits="1 0", permessage-deflate`}, want: "permessage-deflate", params: takeover15},
	{name: "§7 every offer invalid: no compression", opts: takeoverOpts,
		lines: []string{"permessage-deflate; server_max_window_bits=99", "permessage-deflate; foo"}, want: ""},
	{name: "§9.1 RFC 6455 malformed list: no compression", opts: takeoverOpts,
		lines: []string{`permessage-deflate; server_max_window_bits="10`}, want: ""},
}

// TestDeflateNegotiateServer runs the server table against acceptDeflate, and checks that
// every answer is one the client's offer allows.
func TestDeflateNegotiateServer(t *testing.T) {
	for _, tt := range serverNegotiationTests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Sec-Websocket-Extensions": tt.lines}
			resp, p, ok := acceptDeflate(h, &tt.opts)
			if resp != tt.want || ok != (tt.want != "") {
				t.Fatalf("response %q (ok %v); want %q", resp, ok, tt.want)
			}
			if ok && p != tt.params {
				t.Errorf("params %+v; want %+v", p, tt.params)
			}
			if ok {
				if err := answerFitsSomeOffer(tt.lines, resp, p); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestDeflateNegotiateServerHandshake runs the server table through Accept: raw requests
// over loopback, and the 101 response's Sec-WebSocket-Extensions. A declined offer is never
// a failed handshake.
func TestDeflateNegotiateServerHandshake(t *testing.T) {
	type accepted struct {
		c   *Conn
		err error
	}
	results := make(chan accepted, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("row"))
		c, err := Accept(w, r, &AcceptOptions{Compression: serverNegotiationTests[i].opts})
		results <- accepted{c, err}
	}))
	defer srv.Close()
	for i, tt := range serverNegotiationTests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			req := "GET /?row=" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			for _, l := range tt.lines {
				req += "Sec-WebSocket-Extensions: " + l + "\r\n"
			}
			if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			var a accepted
			select {
			case a = <-results:
			case <-time.After(10 * time.Second):
				t.Fatal("Accept did not return")
			}
			if a.err != nil {
				t.Fatalf("Accept: %v", a.err)
			}
			defer a.c.CloseNow()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d; want 101 whatever the offers", resp.StatusCode)
			}
			got := resp.Header.Values("Sec-WebSocket-Extensions")
			if tt.want == "" && len(got) != 0 || tt.want != "" && (len(got) != 1 || got[0] != tt.want) {
				t.Fatalf("Sec-WebSocket-Extensions %q; want %q", got, tt.want)
			}
			if (a.c.deflate != nil) != (tt.want != "") {
				t.Fatalf("connection compresses: %v; want %v", a.c.deflate != nil, tt.want != "")
			}
			if a.c.deflate != nil && a.c.deflate.params != tt.params {
				t.Errorf("connection params %+v; want %+v", a.c.deflate.params, tt.params)
			}
		})
	}
}

// answerFitsSomeOffer checks, independently of checkDeflateResponse, that response accepts
// one of the permessage-deflate offers in lines as RFC 7692 §7.1 allows, and that params
// are what the response says for the server.
func answerFitsSomeOffer(lines []string, response string, params deflateParams) error {
	offers, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": lines})
	if err != nil {
		return fmt.Errorf("offers do not parse: %v", err)
	}
	answers, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": {response}})
	if err != nil || len(answers) != 1 || answers[0].name != extensionName {
		return fmt.Errorf("response %q is not one permessage-deflate (%v)", response, err)
	}
	ans := map[string]string{}
	for _, p := range answers[0].params {
		if _, dup := ans[p.name]; dup {
			return fmt.Errorf("response %q repeats %s", response, p.name)
		}
		ans[p.name] = p.value
	}
	// What the response says of the server.
	if _, ok := ans["server_no_context_takeover"]; ok == params.writeTakeover {
		return fmt.Errorf("response %q, but the server's writeTakeover is %v", response, params.writeTakeover)
	}
	if _, ok := ans["client_no_context_takeover"]; ok == params.readTakeover {
		return fmt.Errorf("response %q, but the server's readTakeover is %v", response, params.readTakeover)
	}
	if v, ok := ans["server_max_window_bits"]; ok && v != strconv.Itoa(params.writeWindowBits) || !ok && params.writeWindowBits != 15 {
		return fmt.Errorf("response %q, but the server compresses with %d bits", response, params.writeWindowBits)
	}
	if v, ok := ans["client_max_window_bits"]; ok && v != strconv.Itoa(params.readWindowBits) || !ok && params.readWindowBits != 15 {
		return fmt.Errorf("response %q, but the server reads %d bits", response, params.readWindowBits)
	}
	var reasons []string
offers:
	for _, o := range offers {
		if !strings.EqualFold(o.name, extensionName) {
			continue
		}
		off := map[string]extensionParam{}
		for _, p := range o.params {
			off[strings.ToLower(p.name)] = p
		}
		for name, v := range ans {
			switch name {
			case "server_no_context_takeover", "client_no_context_takeover":
				if v != "" {
					reasons = append(reasons, name+" has a value")
					continue offers
				}
			case "server_max_window_bits", "client_max_window_bits":
				n, err := strconv.Atoi(v)
				if err != nil || n < 8 || n > 15 || v != strconv.Itoa(n) {
					reasons = append(reasons, name+"="+v+" is invalid")
					continue offers
				}
				p, offered := off[name]
				if name == "client_max_window_bits" && !offered {
					reasons = append(reasons, "§7.1.2.2 client_max_window_bits not offered")
					continue offers
				}
				if offered && p.hasValue {
					if max, _ := strconv.Atoi(p.value); n > max {
						reasons = append(reasons, name+" above the offer's")
						continue offers
					}
				}
			default:
				reasons = append(reasons, "unknown "+name)
				continue offers
			}
		}
		// §7.1.1.1, §7.1.2.1: accepting these requires repeating them.
		if _, asked := off["server_no_context_takeover"]; asked {
			if _, ok := ans["server_no_context_takeover"]; !ok {
				reasons = append(reasons, "server_no_context_takeover ignored")
				continue
			}
		}
		if _, asked := off["server_max_window_bits"]; asked {
			if _, ok := ans["server_max_window_bits"]; !ok {
				reasons = append(reasons, "server_max_window_bits ignored")
				continue
			}
		}
		return nil
	}
	return fmt.Errorf("response %q fits no offer of %q: %v", response, lines, reasons)
}

// clientNegotiationTests: a client (opts) reading a response to its own offer. err is a
// part of Dial's error, "" when the handshake succeeds; compressed says whether
// compression was agreed.
var clientNegotiationTests = []struct {
	name       string
	opts       CompressionOptions
	lines      []string // the response's Sec-WebSocket-Extensions lines
	err        string
	compressed bool
	params     deflateParams // the client's, when compressed
}{
	{name: "§5 declined: no extension", opts: takeoverOpts, lines: nil},
	{name: "§5 declined: empty header", opts: takeoverOpts, lines: []string{""}},
	{name: "§7 accepted", opts: takeoverOpts, lines: []string{"permessage-deflate"}, compressed: true, params: takeover15},
	{name: "§7.1.1.1 server_no_context_takeover", opts: takeoverOpts, lines: []string{"permessage-deflate; server_no_context_takeover"}, compressed: true,
		params: takeover15.with(func(p *deflateParams) { p.readTakeover = false })},
	{name: "§7.1.1.2 client_no_context_takeover", opts: takeoverOpts, lines: []string{"permessage-deflate; client_no_context_takeover"}, compressed: true,
		params: takeover15.with(func(p *deflateParams) { p.writeTakeover = false })},
	{name: "§7.1.2.1 server_max_window_bits unasked", opts: takeoverOpts, lines: []string{"permessage-deflate; server_max_window_bits=9"}, compressed: true,
		params: takeover15.with(func(p *deflateParams) { p.readWindowBits = 9 })},
	{name: "§7.1.2.1 server_max_window_bits as offered", opts: CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 10},
		lines: []string{"permessage-deflate; server_max_window_bits=10"}, compressed: true, params: takeover15.with(func(p *deflateParams) { p.readWindowBits = 10 })},
	{name: "§7.1.2.1 server_max_window_bits below the offer", opts: CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 10},
		lines: []string{"permessage-deflate; server_max_window_bits=8"}, compressed: true, params: takeover15.with(func(p *deflateParams) { p.readWindowBits = 8 })},
	{name: "§7.1.2.2 client_max_window_bits after a valueless offer", opts: takeoverOpts,
		lines: []string{"permessage-deflate; client_max_window_bits=8"}, compressed: true, params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 8 })},
	{name: "§7.1.2.2 client_max_window_bits below the offer", opts: CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 12},
		lines: []string{"permessage-deflate; client_max_window_bits=9"}, compressed: true, params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 9 })},
	{name: "§7.1.2.2 client's own limit kept when the server says nothing", opts: CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 12},
		lines: []string{"permessage-deflate"}, compressed: true, params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 12 })},
	{name: "§7.1 quoted value", opts: takeoverOpts, lines: []string{`permessage-deflate; client_max_window_bits="10"`}, compressed: true,
		params: takeover15.with(func(p *deflateParams) { p.writeWindowBits = 10 })},
	{name: "§7.1.1 no-takeover client, server repeats both", opts: CompressionOptions{Mode: CompressionNoContextTakeover},
		lines: []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, compressed: true,
		params: deflateParams{writeWindowBits: 15, readWindowBits: 15}},
	{name: "§7.1.1.2 no-takeover client stays so without client_no_context_takeover", opts: CompressionOptions{Mode: CompressionNoContextTakeover},
		lines: []string{"permessage-deflate; server_no_context_takeover"}, compressed: true,
		params: deflateParams{writeWindowBits: 15, readWindowBits: 15}},
	{name: "§7.1 names in any case", opts: takeoverOpts, lines: []string{"PerMessage-Deflate; Server_Max_Window_Bits=12"}, compressed: true,
		params: takeover15.with(func(p *deflateParams) { p.readWindowBits = 12 })},

	// §7.1: "the client MUST _Fail the WebSocket Connection_" on a response it cannot
	// accept.
	{name: "§7 unknown parameter", opts: takeoverOpts, lines: []string{"permessage-deflate; foo"}, err: `unknown permessage-deflate parameter "foo"`},
	{name: "§7 unknown parameter with a value", opts: takeoverOpts, lines: []string{"permessage-deflate; mem_level=8"}, err: "unknown permessage-deflate parameter"},
	{name: "§7 duplicate parameter", opts: takeoverOpts, lines: []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, err: "given twice"},
	{name: "§7 duplicate window", opts: takeoverOpts, lines: []string{"permessage-deflate; client_max_window_bits=9; client_max_window_bits=9"}, err: "given twice"},
	{name: "§7.1.1.1 server_no_context_takeover with a value", opts: takeoverOpts, lines: []string{"permessage-deflate; server_no_context_takeover=1"}, err: "has a value"},
	{name: "§7.1.1.2 client_no_context_takeover with a value", opts: takeoverOpts, lines: []string{"permessage-deflate; client_no_context_takeover=1"}, err: "has a value"},
	{name: "§7.1.2.1 server_max_window_bits without value", opts: takeoverOpts, lines: []string{"permessage-deflate; server_max_window_bits"}, err: "invalid server_max_window_bits"},
	{name: "§7.1.2.1 server_max_window_bits=7", opts: takeoverOpts, lines: []string{"permessage-deflate; server_max_window_bits=7"}, err: "invalid server_max_window_bits"},
	{name: "§7.1.2.1 server_max_window_bits=16", opts: takeoverOpts, lines: []string{"permessage-deflate; server_max_window_bits=16"}, err: "invalid server_max_window_bits"},
	{name: "§7.1.2.1 server_max_window_bits=09", opts: takeoverOpts, lines: []string{"permessage-deflate; server_max_window_bits=09"}, err: "invalid server_max_window_bits"},
	{name: "§7.1.2.1 server_max_window_bits above the offer", opts: CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 10},
		lines: []string{"permessage-deflate; server_max_window_bits=11"}, err: "server_max_window_bits=11 exceeds the 10 offered"},
	{name: "§7.1.2.1 server_max_window_bits offered, ignored", opts: CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 10},
		lines: []string{"permessage-deflate"}, err: "server ignored the server_max_window_bits offered"},
	{name: "§7.1.2.2 client_max_window_bits without value", opts: takeoverOpts, lines: []string{"permessage-deflate; client_max_window_bits"}, err: "invalid client_max_window_bits"},
	{name: "§7.1.2.2 client_max_window_bits=x", opts: takeoverOpts, lines: []string{"permessage-deflate; client_max_window_bits=x"}, err: "invalid client_max_window_bits"},
	{name: "§7.1.2.2 client_max_window_bits above the offer", opts: CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 9},
		lines: []string{"permessage-deflate; client_max_window_bits=10"}, err: "client_max_window_bits=10 exceeds the 9 offered"},
	{name: "§7.1.1.1 server_no_context_takeover offered, ignored", opts: CompressionOptions{Mode: CompressionNoContextTakeover},
		lines: []string{"permessage-deflate; client_no_context_takeover"}, err: "server ignored the server_no_context_takeover offered"},
	{name: "§9.1 RFC 6455 a different extension", opts: takeoverOpts, lines: []string{"x-webkit-deflate-frame"}, err: `extension "x-webkit-deflate-frame", which was not offered`},
	{name: "§9.1 RFC 6455 two extensions", opts: takeoverOpts, lines: []string{"permessage-deflate, permessage-deflate"}, err: "not offered"},
	{name: "§9.1 RFC 6455 two extension lines", opts: takeoverOpts, lines: []string{"permessage-deflate", "permessage-deflate; server_no_context_takeover"}, err: "not offered"},
	{name: "§9.1 RFC 6455 extension when none was offered", opts: CompressionOptions{}, lines: []string{"permessage-deflate"}, err: "not offered"},
	{name: "§9.1 RFC 6455 malformed", opts: takeoverOpts, lines: []string{"permessage-deflate; ;"}, err: "malformed"},
}

// TestDeflateNegotiateClient runs the client table against checkDeflateResponse.
func TestDeflateNegotiateClient(t *testing.T) {
	for _, tt := range clientNegotiationTests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok, err := checkDeflateResponse(http.Header{"Sec-Websocket-Extensions": tt.lines}, &tt.opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v; want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || ok != tt.compressed {
				t.Fatalf("compressed %v, error %v; want %v", ok, err, tt.compressed)
			}
			if ok && p != tt.params {
				t.Errorf("params %+v; want %+v", p, tt.params)
			}
		})
	}
}

// TestDeflateNegotiateClientHandshake runs the client table through Dial against a raw
// server: a response the client cannot accept fails Dial with ErrBadHandshake.
func TestDeflateNegotiateClientHandshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer func() { <-done }()
	defer ln.Close()
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			r, err := http.ReadRequest(bufio.NewReader(nc))
			if err != nil {
				nc.Close()
				continue
			}
			i, _ := strconv.Atoi(r.URL.Query().Get("row"))
			resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				acceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n"
			for _, l := range clientNegotiationTests[i].lines {
				resp += "Sec-WebSocket-Extensions: " + l + "\r\n"
			}
			io.WriteString(nc, resp+"\r\n")
			io.Copy(io.Discard, nc) // until the client closes
			nc.Close()
		}
	}()
	for i, tt := range clientNegotiationTests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, "ws://"+ln.Addr().String()+"/?row="+strconv.Itoa(i), &DialOptions{
				Compression: tt.opts,
				Proxy:       func(*http.Request) (*url.URL, error) { return nil, nil },
			})
			if tt.err != "" {
				if err == nil {
					c.CloseNow()
					t.Fatal("Dial succeeded")
				}
				if !errors.Is(err, ErrBadHandshake) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Dial error %q; want ErrBadHandshake saying %q", err, tt.err)
				}
				if resp == nil || resp.StatusCode != http.StatusSwitchingProtocols {
					t.Errorf("Dial returned response %v; want the 101", resp)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			if (c.deflate != nil) != tt.compressed {
				t.Fatalf("connection compresses: %v; want %v", c.deflate != nil, tt.compressed)
			}
			if c.deflate != nil && c.deflate.params != tt.params {
				t.Errorf("connection params %+v; want %+v", c.deflate.params, tt.params)
			}
		})
	}
}

// TestDeflateNegotiateOffer pins the client's offer for every mode and window.
func TestDeflateNegotiateOffer(t *testing.T) {
	tests := []struct {
		opts CompressionOptions
		want string
	}{
		{CompressionOptions{}, ""},
		{CompressionOptions{Mode: CompressionContextTakeover}, "permessage-deflate; client_max_window_bits"},
		{CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}, "permessage-deflate; client_max_window_bits"},
		{CompressionOptions{Mode: CompressionNoContextTakeover}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"},
		{CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 9}, "permessage-deflate; server_max_window_bits=9; client_max_window_bits"},
		{CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 8}, "permessage-deflate; client_max_window_bits=8"},
		{CompressionOptions{Mode: CompressionNoContextTakeover, ServerMaxWindowBits: 8, ClientMaxWindowBits: 12},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=12"},
		// Out of range windows are clamped to [8, 15].
		{CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 3, ClientMaxWindowBits: 99}, "permessage-deflate; server_max_window_bits=8; client_max_window_bits"},
	}
	for _, tt := range tests {
		if got := offerDeflate(&tt.opts); got != tt.want {
			t.Errorf("offerDeflate(%+v) = %q; want %q", tt.opts, got, tt.want)
		}
	}
}

// negotiationWindows are the window options the matrix tries: zero means the default 15.
var negotiationWindows = []int{0, 8, 9, 11, 14, 15}

var negotiationModes = []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover}

// TestDeflateNegotiateMatrix negotiates every client mode and windows against every server
// mode and windows (offerDeflate, acceptDeflate, checkDeflateResponse) and checks that both
// ends agree, that neither compresses with more than the other reads (§7.1.2) or with
// context the other drops (§7.1.1), and that each end's options are honoured.
func TestDeflateNegotiateMatrix(t *testing.T) {
	n := 0
	for _, cm := range negotiationModes {
		for _, sm := range negotiationModes {
			for _, csb := range negotiationWindows {
				for _, ccb := range negotiationWindows {
					for _, ssb := range negotiationWindows {
						for _, scb := range negotiationWindows {
							co := CompressionOptions{Mode: cm, ServerMaxWindowBits: csb, ClientMaxWindowBits: ccb}
							so := CompressionOptions{Mode: sm, ServerMaxWindowBits: ssb, ClientMaxWindowBits: scb}
							if err := checkNegotiation(co, so); err != nil {
								t.Fatalf("client %+v, server %+v: %v", co, so, err)
							}
							n++
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

// checkNegotiation negotiates between a client and a server and checks the outcome.
func checkNegotiation(co, so CompressionOptions) error {
	offer := offerDeflate(&co)
	h := http.Header{}
	if offer != "" {
		h.Set("Sec-WebSocket-Extensions", offer)
	}
	resp, sp, sok := acceptDeflate(h, &so)
	rh := http.Header{}
	if sok {
		rh.Set("Sec-WebSocket-Extensions", resp)
	}
	cp, cok, err := checkDeflateResponse(rh, &co)
	if err != nil {
		return fmt.Errorf("offer %q, response %q: client fails: %v", offer, resp, err)
	}
	want := co.Mode != CompressionDisabled && so.Mode != CompressionDisabled
	if sok != want || cok != want {
		return fmt.Errorf("offer %q, response %q: server agrees %v, client %v; want %v", offer, resp, sok, cok, want)
	}
	if !want {
		return nil
	}
	if err := answerFitsSomeOffer([]string{offer}, resp, sp); err != nil {
		return err
	}
	switch {
	case sp.writeWindowBits != cp.readWindowBits || cp.writeWindowBits > sp.readWindowBits:
		return fmt.Errorf("offer %q, response %q: windows disagree: server %+v, client %+v", offer, resp, sp, cp)
	case sp.writeTakeover && !cp.readTakeover || cp.writeTakeover && !sp.readTakeover:
		return fmt.Errorf("offer %q, response %q: takeover disagrees: server %+v, client %+v", offer, resp, sp, cp)
	case sp.writeWindowBits > orDefaultBits(so.ServerMaxWindowBits) || sp.writeWindowBits > orDefaultBits(co.ServerMaxWindowBits):
		return fmt.Errorf("offer %q, response %q: server window %d above an option", offer, resp, sp.writeWindowBits)
	case cp.writeWindowBits > orDefaultBits(co.ClientMaxWindowBits) || cp.writeWindowBits > orDefaultBits(so.ClientMaxWindowBits):
		return fmt.Errorf("offer %q, response %q: client window %d above an option", offer, resp, cp.writeWindowBits)
	case sp.writeWindowBits != min(orDefaultBits(so.ServerMaxWindowBits), orDefaultBits(co.ServerMaxWindowBits)):
		return fmt.Errorf("offer %q, response %q: server window %d is not the smaller option", offer, resp, sp.writeWindowBits)
	case cp.writeWindowBits != min(orDefaultBits(co.ClientMaxWindowBits), orDefaultBits(so.ClientMaxWindowBits)):
		return fmt.Errorf("offer %q, response %q: client window %d is not the smaller option", offer, resp, cp.writeWindowBits)
	}
	noTakeover := co.Mode == CompressionNoContextTakeover || so.Mode == CompressionNoContextTakeover
	if sp.writeTakeover == noTakeover || cp.writeTakeover == noTakeover || sp.readTakeover == noTakeover || cp.readTakeover == noTakeover {
		return fmt.Errorf("offer %q, response %q: takeover with modes %v/%v: server %+v, client %+v", offer, resp, co.Mode, so.Mode, sp, cp)
	}
	return nil
}

// TestDeflateNegotiateRandomOffers feeds the server random offers, valid and not, and
// checks that it never fails, that it accepts exactly when some offer is valid, and that
// each answer fits an offer.
func TestDeflateNegotiateRandomOffers(t *testing.T) {
	r := rand.New(rand.NewPCG(7692, 1))
	params := []string{
		"server_no_context_takeover", "client_no_context_takeover", "server_no_context_takeover=1",
		"server_max_window_bits=8", "server_max_window_bits=15", `server_max_window_bits="12"`, "server_max_window_bits",
		"server_max_window_bits=7", "server_max_window_bits=16", "server_max_window_bits=09",
		"client_max_window_bits", "client_max_window_bits=9", `client_max_window_bits="10"`, "client_max_window_bits=0",
		"foo", "foo=bar",
	}
	for range 3000 {
		var offers []string
		for range 1 + r.IntN(3) {
			o := "permessage-deflate"
			if r.IntN(6) == 0 {
				o = "x-other"
			}
			for range r.IntN(4) {
				o += "; " + params[r.IntN(len(params))]
			}
			offers = append(offers, o)
		}
		so := CompressionOptions{Mode: negotiationModes[1+r.IntN(2)], ServerMaxWindowBits: negotiationWindows[r.IntN(len(negotiationWindows))],
			ClientMaxWindowBits: negotiationWindows[r.IntN(len(negotiationWindows))]}
		lines := []string{strings.Join(offers, ", ")}
		resp, p, ok := acceptDeflate(http.Header{"Sec-Websocket-Extensions": lines}, &so)
		valid := false
		for _, o := range offers {
			valid = valid || validOffer(o)
		}
		if ok != valid {
			t.Fatalf("offers %q: accepted %v (%q); want %v", lines, ok, resp, valid)
		}
		if ok {
			if err := answerFitsSomeOffer(lines, resp, p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// validOffer reports, from RFC 7692 §7.1, whether a server must be able to accept o.
func validOffer(o string) bool {
	parts := strings.Split(o, "; ")
	if parts[0] != "permessage-deflate" {
		return false
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		name, value, hasValue := strings.Cut(p, "=")
		value = strings.Trim(value, `"`)
		if seen[name] {
			return false
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return false
			}
		case "server_max_window_bits", "client_max_window_bits":
			if !hasValue && name == "server_max_window_bits" {
				return false
			}
			if hasValue {
				n, err := strconv.Atoi(value)
				if err != nil || n < 8 || n > 15 || strconv.Itoa(n) != value {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}
