package ws

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// CompressionMode chooses whether and how a connection offers or accepts permessage-deflate
// (RFC 7692).
type CompressionMode int

const (
	// CompressionDisabled neither offers nor accepts compression. It is the default.
	CompressionDisabled CompressionMode = iota
	// CompressionNoContextTakeover compresses each message on its own, and asks the peer to
	// do the same. Compression state lives only while a message is written or read, in
	// pools, so an idle connection holds none.
	CompressionNoContextTakeover
	// CompressionContextTakeover lets each message refer to the ones before it, within the
	// window, which compresses streams of similar messages much better. Each connection
	// keeps state sized by the windows: for sending, three times the window (96 KiB for
	// the default 15 window bits, 768 bytes for 8); for receiving, the peer's window of
	// history (32 KiB for 15 bits). The peer may still ask for no context takeover in
	// either direction, which is honoured.
	CompressionContextTakeover
)

func (m CompressionMode) String() string {
	switch m {
	case CompressionDisabled:
		return "disabled"
	case CompressionNoContextTakeover:
		return "no context takeover"
	case CompressionContextTakeover:
		return "context takeover"
	}
	return "CompressionMode(" + strconv.Itoa(int(m)) + ")"
}

// CompressionOptions configures permessage-deflate. The zero value disables it.
type CompressionOptions struct {
	Mode CompressionMode

	// ServerMaxWindowBits bounds the LZ77 window the server compresses with, as a base-2
	// logarithm from 8 (256 bytes) to 15 (32 KiB). A server uses it for its own messages
	// (or the client's smaller request); a client asks the server for it. Zero means 15.
	ServerMaxWindowBits int
	// ClientMaxWindowBits bounds the window the client compresses with, likewise: a client
	// uses it, a server asks the client for it where the client allows. Zero means 15.
	ClientMaxWindowBits int

	// Level is the compression level, 1 to 9 as compress/flate numbers them: 1 to 3 are
	// fast, skipping quickly over data that does not compress, and fit Huffman codes to
	// the data from 2 KiB up (below, the fixed codes are used); 4 to 9 try every position
	// with lazy matching and fit codes to every block, at about a third of the speed, for
	// text about a tenth smaller under 2 KiB and a few percent above. Zero means 1.
	// Prepared messages are compressed at level 1.
	Level int

	// Threshold is the size under which Write sends a message uncompressed, as small
	// messages gain nothing. Zero means 128 bytes; a negative value compresses every
	// message. [Conn.WriteCompressed] decides per message instead.
	Threshold int
}

// deflateParams are the parameters of a negotiated permessage-deflate, from this endpoint's
// point of view.
type deflateParams struct {
	writeTakeover   bool // this endpoint compresses with context takeover
	readTakeover    bool // the peer does
	writeWindowBits int
	readWindowBits  int
}

const extensionName = "permessage-deflate"

// extensionOffer is one element of a Sec-WebSocket-Extensions list: a name and its
// parameters, a parameter without a value having value "" and hasValue false.
type extensionOffer struct {
	name   string
	params []extensionParam
}

type extensionParam struct {
	name     string
	value    string
	hasValue bool
}

// parseExtensions parses every Sec-WebSocket-Extensions line of h (RFC 6455 §9.1):
// comma-separated extensions, each a token followed by ";"-separated parameters, each a
// token with an optional "=" and a token or quoted-string value. An element that does not
// parse is reported as an error.
func parseExtensions(h http.Header) ([]extensionOffer, error) {
	var offers []extensionOffer
	for _, line := range h.Values("Sec-WebSocket-Extensions") {
		for s := line; ; {
			var ext extensionOffer
			var err error
			s = skipSpace(s)
			if s == "" {
				break
			}
			ext.name, s = nextToken(s)
			if ext.name == "" {
				return nil, fmt.Errorf("malformed extension list %q", line)
			}
			for {
				s = skipSpace(s)
				if s == "" || s[0] == ',' {
					break
				}
				if s[0] != ';' {
					return nil, fmt.Errorf("malformed extension list %q", line)
				}
				var p extensionParam
				p.name, s = nextToken(skipSpace(s[1:]))
				if p.name == "" {
					return nil, fmt.Errorf("malformed extension parameter in %q", line)
				}
				s = skipSpace(s)
				if s != "" && s[0] == '=' {
					p.hasValue = true
					if p.value, s, err = tokenOrQuoted(skipSpace(s[1:])); err != nil {
						return nil, fmt.Errorf("%w in %q", err, line)
					}
				}
				ext.params = append(ext.params, p)
			}
			offers = append(offers, ext)
			if s == "" {
				break
			}
			s = s[1:] // the comma
		}
	}
	return offers, nil
}

func skipSpace(s string) string { return strings.TrimLeft(s, " \t") }

// nextToken splits a leading token (RFC 9110 §5.6.2) off s.
func nextToken(s string) (token, rest string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func isTokenChar(c byte) bool {
	if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// tokenOrQuoted splits a token or a quoted-string off s, unquoting the latter. RFC 7692 §7.1
// requires an unquoted value to be a token too.
func tokenOrQuoted(s string) (value, rest string, err error) {
	if s == "" || s[0] != '"' {
		value, rest = nextToken(s)
		if value == "" {
			return "", s, errors.New("missing parameter value")
		}
		return value, rest, nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			// RFC 7692 §7.1: the unquoted value must be a token; one that is not is an
			// invalid value, which declines its offer (not the whole header) when the
			// parameter's own checks see it.
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", s, errors.New("unterminated quoted string")
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", s, errors.New("unterminated quoted string")
}

// parseWindowBits parses a window-bits value: a decimal 8 to 15 without leading zeros
// (RFC 7692 §7.1.2.1).
func parseWindowBits(v string) (int, bool) {
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' || i == 0 && v[i] == '0' || i == 2 {
			return 0, false
		}
		n = n*10 + int(v[i]-'0')
	}
	return n, n >= 8 && n <= 15
}

// orDefaultBits returns bits, or 15 if it is zero, clamped to [8, 15].
func orDefaultBits(bits int) int {
	if bits == 0 {
		return 15
	}
	return min(max(bits, 8), 15)
}

// acceptDeflate chooses the first permessage-deflate offer the server can accept (RFC 7692
// §5.1), and returns the Sec-WebSocket-Extensions response and the parameters. ok is false
// when compression is disabled or no offer is acceptable, which is not an error: the
// connection goes on uncompressed.
func acceptDeflate(h http.Header, o *CompressionOptions) (response string, p deflateParams, ok bool) {
	if o.Mode == CompressionDisabled {
		return "", p, false
	}
	offers, err := parseExtensions(h)
	if err != nil {
		return "", p, false
	}
	for _, offer := range offers {
		if strings.EqualFold(offer.name, extensionName) {
			if response, p, ok = acceptDeflateOffer(offer, o); ok {
				return response, p, true
			}
		}
	}
	return "", p, false
}

// acceptDeflateOffer answers one offer, or declines it (RFC 7692 §7: a server declines an
// offer with a parameter not defined for offers, an invalid value, or a parameter given
// twice).
func acceptDeflateOffer(offer extensionOffer, o *CompressionOptions) (string, deflateParams, bool) {
	var (
		seen                               = map[string]bool{}
		serverNoTakeover, clientNoTakeover bool
		serverBits                         = 0 // 0: not offered
		clientBitsOffered                  bool
		clientBits                         = 0 // 0: offered without a value
	)
	for _, prm := range offer.params {
		name := strings.ToLower(prm.name)
		if seen[name] {
			return "", deflateParams{}, false
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover":
			if prm.hasValue {
				return "", deflateParams{}, false
			}
			serverNoTakeover = true
		case "client_no_context_takeover":
			if prm.hasValue {
				return "", deflateParams{}, false
			}
			clientNoTakeover = true
		case "server_max_window_bits":
			bits, ok := parseWindowBits(prm.value)
			if !prm.hasValue || !ok {
				return "", deflateParams{}, false
			}
			serverBits = bits
		case "client_max_window_bits":
			clientBitsOffered = true
			if prm.hasValue {
				bits, ok := parseWindowBits(prm.value)
				if !ok {
					return "", deflateParams{}, false
				}
				clientBits = bits
			}
		default:
			return "", deflateParams{}, false
		}
	}

	var p deflateParams
	resp := []string{extensionName}
	// §7.1.1.1: the server's own context takeover. Declared off when the client asks, or
	// when this server does not keep context.
	p.writeTakeover = o.Mode == CompressionContextTakeover && !serverNoTakeover
	if !p.writeTakeover {
		resp = append(resp, "server_no_context_takeover")
	}
	// §7.1.1.2: the client's. A server may always forbid it.
	p.readTakeover = o.Mode == CompressionContextTakeover && !clientNoTakeover
	if !p.readTakeover {
		resp = append(resp, "client_no_context_takeover")
	}
	// §7.1.2.1: the server's window: the smaller of the offer's and this server's; stated
	// whenever it is below 15 or the offer named one.
	p.writeWindowBits = orDefaultBits(o.ServerMaxWindowBits)
	if serverBits != 0 {
		p.writeWindowBits = min(p.writeWindowBits, serverBits)
	}
	if serverBits != 0 || p.writeWindowBits < 15 {
		resp = append(resp, "server_max_window_bits="+strconv.Itoa(p.writeWindowBits))
	}
	// §7.1.2.2: the client's window may be limited only if the client offered the
	// parameter; a value it gave is an upper bound.
	p.readWindowBits = 15
	if clientBitsOffered {
		p.readWindowBits = orDefaultBits(o.ClientMaxWindowBits)
		if clientBits != 0 {
			p.readWindowBits = min(p.readWindowBits, clientBits)
		}
		if clientBits != 0 || p.readWindowBits < 15 {
			resp = append(resp, "client_max_window_bits="+strconv.Itoa(p.readWindowBits))
		}
	} else if clientBits != 0 {
		p.readWindowBits = clientBits
	}
	return strings.Join(resp, "; "), p, true
}

// offerDeflate returns the client's Sec-WebSocket-Extensions offer for o, or "" when
// compression is disabled.
func offerDeflate(o *CompressionOptions) string {
	if o.Mode == CompressionDisabled {
		return ""
	}
	offer := []string{extensionName}
	if o.Mode == CompressionNoContextTakeover {
		offer = append(offer, "server_no_context_takeover", "client_no_context_takeover")
	}
	if bits := orDefaultBits(o.ServerMaxWindowBits); bits < 15 {
		offer = append(offer, "server_max_window_bits="+strconv.Itoa(bits))
	}
	// Declare support for client_max_window_bits, with this client's limit if any, so
	// that a server may ask for a smaller window (§7.1.2.2).
	if bits := orDefaultBits(o.ClientMaxWindowBits); bits < 15 {
		offer = append(offer, "client_max_window_bits="+strconv.Itoa(bits))
	} else {
		offer = append(offer, "client_max_window_bits")
	}
	return strings.Join(offer, "; ")
}

// checkDeflateResponse checks the server's Sec-WebSocket-Extensions answer to offerDeflate
// (RFC 7692 §5, §7.1) and returns the parameters; ok is false when the server declined
// compression. Anything the client did not offer, or that contradicts the offer, is an
// error that fails the handshake.
func checkDeflateResponse(h http.Header, o *CompressionOptions) (p deflateParams, ok bool, err error) {
	exts, err := parseExtensions(h)
	if err != nil {
		return p, false, err
	}
	if len(exts) == 0 {
		return p, false, nil
	}
	if o.Mode == CompressionDisabled || len(exts) > 1 || !strings.EqualFold(exts[0].name, extensionName) {
		return p, false, fmt.Errorf("server agreed extension %q, which was not offered", exts[0].name)
	}
	offeredServerBits := orDefaultBits(o.ServerMaxWindowBits)
	offeredClientBits := orDefaultBits(o.ClientMaxWindowBits)
	p = deflateParams{
		writeTakeover:   o.Mode == CompressionContextTakeover,
		readTakeover:    true,
		writeWindowBits: offeredClientBits,
		readWindowBits:  15,
	}
	seen := map[string]bool{}
	serverBitsAnswered, serverNoTakeoverAnswered := false, false
	for _, prm := range exts[0].params {
		name := strings.ToLower(prm.name)
		if seen[name] {
			return p, false, fmt.Errorf("permessage-deflate parameter %s given twice", name)
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover":
			if prm.hasValue {
				return p, false, fmt.Errorf("permessage-deflate parameter %s has a value", name)
			}
			p.readTakeover = false
			serverNoTakeoverAnswered = true
		case "client_no_context_takeover":
			if prm.hasValue {
				return p, false, fmt.Errorf("permessage-deflate parameter %s has a value", name)
			}
			p.writeTakeover = false
		case "server_max_window_bits":
			bits, ok := parseWindowBits(prm.value)
			if !prm.hasValue || !ok {
				return p, false, fmt.Errorf("invalid server_max_window_bits %q", prm.value)
			}
			if bits > offeredServerBits {
				return p, false, fmt.Errorf("server_max_window_bits=%d exceeds the %d offered", bits, offeredServerBits)
			}
			p.readWindowBits = bits
			serverBitsAnswered = true
		case "client_max_window_bits":
			bits, ok := parseWindowBits(prm.value)
			if !prm.hasValue || !ok {
				return p, false, fmt.Errorf("invalid client_max_window_bits %q", prm.value)
			}
			if bits > offeredClientBits {
				return p, false, fmt.Errorf("client_max_window_bits=%d exceeds the %d offered", bits, offeredClientBits)
			}
			p.writeWindowBits = bits
		default:
			return p, false, fmt.Errorf("unknown permessage-deflate parameter %q", prm.name)
		}
	}
	// An offer's server_no_context_takeover and server_max_window_bits are accepted only
	// by repeating them (§7.1.1.1, §7.1.2.1).
	if o.Mode == CompressionNoContextTakeover {
		if !serverNoTakeoverAnswered {
			return p, false, errors.New("server ignored the server_no_context_takeover offered")
		}
		p.writeTakeover = false
	}
	if offeredServerBits < 15 && !serverBitsAnswered {
		return p, false, errors.New("server ignored the server_max_window_bits offered")
	}
	return p, true, nil
}
