package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"github.com/duplex-ws/duplex/ws"
)

// sessionCommands lists the commands of an interactive session, for --help and /help.
const sessionCommands = `  /ping [DATA]            ping the server (with DATA) and show the round trip when the pong arrives
  /close [CODE] [REASON]  close the connection, with 1000 (normal closure) by default
  /binary DATA            send DATA, in hex (or base64, see --binary-format), as binary
  /help                   list the commands
  //TEXT                  send /TEXT
`

// session is an open connection of duplex connect: one goroutine reads and shows the
// messages received, while run sends the input and ends the connection.
type session struct {
	o           *connectOptions
	c           *ws.Conn
	d           *display
	interactive bool

	readDone chan error    // the reader's last error, once
	first    chan struct{} // closed when the first message arrives
	closing  atomic.Bool   // this side started the closing handshake
	pings    sync.WaitGroup
}

func newSession(o *connectOptions, c *ws.Conn, d *display, interactive bool) *session {
	return &session{o: o, c: c, d: d, interactive: interactive, readDone: make(chan error, 1), first: make(chan struct{})}
}

// connected says, at the start of an interactive session, what was agreed.
func (s *session) connected(resp *http.Response) {
	var agreed []string
	if p := s.c.Subprotocol(); p != "" {
		agreed = append(agreed, "subprotocol "+p)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		agreed = append(agreed, ext)
	}
	msg := "Connected to " + s.o.url.Redacted()
	if len(agreed) > 0 {
		msg += " (" + strings.Join(agreed, "; ") + ")"
	}
	s.d.info("%s. /help lists the commands; Ctrl-D closes.", msg)
}

// run exchanges messages until the connection ends, and returns nil if it ended
// normally.
func (s *session) run(ctx context.Context, stdin io.Reader) error {
	defer func() {
		s.c.CloseNow()
		s.pings.Wait()
		s.d.end()
	}()
	go s.read()
	s.d.showPrompt()

	// The input is read by a goroutine of its own, as reading a terminal or pipe cannot be
	// interrupted: it ends with the input, or at its next line once stop is closed.
	input, inputEnd, stop := make(chan []byte), make(chan error, 1), make(chan struct{})
	defer close(stop)
	go readInput(stdin, s.o.binary, input, inputEnd, stop)

	first := s.first
	if !s.o.once {
		first = nil
	}
	var waited <-chan time.Time
	for {
		select {
		case err := <-s.readDone:
			return s.ended(err)
		case <-first:
			return s.close(ws.StatusNormalClosure, "")
		case p := <-input:
			s.d.typed()
			if done, err := s.input(ctx, p); done {
				return err
			}
			s.d.showPrompt()
		case err := <-inputEnd:
			input, inputEnd = nil, nil
			if err != nil {
				s.close(ws.StatusNormalClosure, "")
				return fmt.Errorf("reading the input: %w", err)
			}
			if s.interactive {
				return s.close(ws.StatusNormalClosure, "")
			}
			if s.o.wait > 0 {
				t := time.NewTimer(s.o.wait)
				defer t.Stop()
				waited = t.C
			}
		case <-waited:
			return s.close(ws.StatusNormalClosure, "")
		case <-ctx.Done():
			return s.close(ws.StatusGoingAway, "")
		}
	}
}

// readInput sends the lines of r on lines, without their line ends (with whole, all of r
// as one), then the error that ended r on end: nil for io.EOF.
func readInput(r io.Reader, whole bool, lines chan<- []byte, end chan<- error, stop <-chan struct{}) {
	if whole {
		p, err := io.ReadAll(r)
		if err == nil {
			select {
			case lines <- p:
			case <-stop:
				return
			}
		}
		end <- err
		return
	}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 || err == nil {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			select {
			case lines <- line:
			case <-stop:
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			end <- err
			return
		}
	}
}

// read shows the messages received until the connection ends.
func (s *session) read() {
	var buf []byte
	for n := 0; ; n++ {
		typ, msg, err := s.c.ReadAppend(context.Background(), buf[:0])
		if err != nil {
			s.readDone <- err
			return
		}
		switch {
		case n == 0:
			s.d.message("<", typ, msg)
			close(s.first)
		case !s.o.once: // with --once, the messages that arrive while closing are not shown
			s.d.message("<", typ, msg)
		}
		if buf = msg; cap(buf) > 64<<10 {
			buf = nil // a large message's buffer is not kept
		}
	}
}

// input handles a line of input, or the whole input with --binary. It returns done when
// the session is over, with its result.
func (s *session) input(ctx context.Context, p []byte) (done bool, err error) {
	switch {
	case s.o.binary:
		s.send(ctx, ws.MessageBinary, p)
		return false, nil
	case !s.interactive || !bytes.HasPrefix(p, []byte("/")):
		s.send(ctx, ws.MessageText, p)
		return false, nil
	case bytes.HasPrefix(p, []byte("//")):
		s.send(ctx, ws.MessageText, p[1:])
		return false, nil
	}
	name, arg, _ := strings.Cut(string(p[1:]), " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "help":
		s.d.info("Commands:\n%s", strings.TrimSuffix(sessionCommands, "\n"))
	case "ping":
		if len(arg) > 125 {
			s.d.info("/ping: data of %d bytes exceeds the 125 a ping may carry", len(arg))
			return false, nil
		}
		s.ping(ctx, arg)
	case "close":
		code, reason, err := parseClose(arg)
		if err != nil {
			s.d.info("/close: %v", err)
			return false, nil
		}
		return true, s.close(code, reason)
	case "binary":
		data, err := s.d.decode(arg)
		if err != nil {
			s.d.info("/binary: %v", err)
			return false, nil
		}
		s.send(ctx, ws.MessageBinary, data)
	default:
		s.d.info("unknown command /%s: /help lists the commands, and // starts a message that begins with /", name)
	}
	return false, nil
}

// send shows a message and sends it: shown first, it comes before its answer. A failure
// is left to the reader to report, as it means that the connection ended.
func (s *session) send(ctx context.Context, typ ws.MessageType, p []byte) {
	s.d.message(">", typ, p)
	s.c.Write(ctx, typ, p)
}

// ping sends a ping, with data if not empty, and shows the round trip when its pong
// arrives.
func (s *session) ping(ctx context.Context, data string) {
	if data == "" {
		s.d.sent("ping")
	} else {
		s.d.sent("ping " + data)
	}
	s.pings.Add(1)
	go func() {
		defer s.pings.Done()
		start := time.Now()
		var err error
		if data == "" {
			err = s.c.Ping(ctx)
		} else {
			err = s.c.PingPayload(ctx, []byte(data))
		}
		if err != nil {
			if !s.closing.Load() && !errors.Is(err, net.ErrClosed) {
				s.d.info("ping: %v", err)
			}
			return
		}
		s.d.pong(time.Since(start))
	}()
}

// parseClose parses the arguments of /close: a code, a reason, both or neither.
func parseClose(arg string) (ws.StatusCode, string, error) {
	first, rest, _ := strings.Cut(arg, " ")
	n, err := strconv.Atoi(first)
	if err != nil {
		return ws.StatusNormalClosure, arg, nil // a reason alone
	}
	code := ws.StatusCode(n)
	if !sendable(code) {
		return 0, "", fmt.Errorf("%d is not a code that may be sent: use 1000-1003, 1007-1014, or 3000-4999", n)
	}
	return code, strings.TrimSpace(rest), nil
}

// sendable reports whether a close frame may carry code (RFC 6455 §7.4).
func sendable(code ws.StatusCode) bool {
	return code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
}

// close performs the closing handshake, reports it, and returns nil: a connection
// closed from this side ends normally.
func (s *session) close(code ws.StatusCode, reason string) error {
	s.closing.Store(true)
	err := s.c.Close(code, reason)
	answer := <-s.readDone
	msg := "closed with " + codeText(code)
	if reason != "" {
		msg += ": " + reason
	}
	var ce *ws.CloseError
	switch {
	case err != nil && !errors.As(answer, &ce):
		msg += "; the server did not answer"
	case errors.As(answer, &ce) && (ce.Code != code || ce.Reason != ""):
		msg += "; the server answered " + closeText(ce)
	}
	s.d.info("%s", msg)
	return nil
}

// ended reports the end of the connection that the reader saw, and returns nil if it was
// normal: the server closed with 1000, 1001, or no code.
func (s *session) ended(err error) error {
	var (
		ce *ws.CloseError
		pe *ws.ProtocolError
	)
	switch {
	case errors.As(err, &ce) && ce.Code == ws.StatusAbnormalClosure:
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return errors.New("the server dropped the connection without a closing handshake (1006)")
		}
		return fmt.Errorf("the connection was lost (1006): %s", ce.Reason)
	case errors.As(err, &ce):
		msg := "closed by the server with " + closeText(ce)
		switch ce.Code {
		case ws.StatusNormalClosure, ws.StatusGoingAway, ws.StatusNoStatusRcvd:
			s.d.info("%s", msg)
			return nil
		}
		return errors.New(msg)
	case errors.As(err, &pe):
		return fmt.Errorf("closed with %s, as the server broke the protocol: %s", codeText(pe.Code), pe.Reason)
	}
	return err
}

// closeText describes a close frame: its code, and its reason if any.
func closeText(ce *ws.CloseError) string {
	if ce.Reason == "" {
		return codeText(ce.Code)
	}
	return codeText(ce.Code) + ": " + ce.Reason
}

// display writes what a session shows: messages on stdout, the rest on stderr, one write
// at a time so that lines never mix. In an interactive session messages are marked > (sent)
// and < (received); without, the messages received are written as they are, one a line.
type display struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	marked         bool // mark messages with > and <
	// prompt shows "> " for the line being typed, on a terminal: lines that arrive are
	// written over it (with \r and erase-line), and it is shown again after them. The
	// terminal echoes the lines typed, so sent messages are not written again.
	prompt       bool
	prompted     bool
	binaryFormat string // hex or base64
	json         bool   // indent JSON text messages
}

// message shows a message sent (dir ">") or received ("<").
func (d *display) message(dir string, typ ws.MessageType, p []byte) {
	switch {
	case !d.marked && dir == "<":
		d.write(d.stdout, d.format(typ, p))
	case dir == "<":
		d.write(d.stdout, "< "+strings.ReplaceAll(d.format(typ, p), "\n", "\n  "))
	default:
		d.sent(d.format(typ, p))
	}
}

// sent shows what was sent, in an interactive session: on a terminal the line typed
// shows it already.
func (d *display) sent(text string) {
	if d.marked && !d.prompt {
		d.write(d.stdout, "> "+strings.ReplaceAll(text, "\n", "\n  "))
	}
}

// pong shows the answer to /ping.
func (d *display) pong(rtt time.Duration) {
	d.write(d.stdout, "< pong after "+rtt.Round(time.Microsecond).String())
}

// info writes a line (or several) to stderr.
func (d *display) info(format string, args ...any) {
	d.write(d.stderr, fmt.Sprintf(format, args...))
}

// write writes text and a line end to w, over the prompt if one is shown.
func (d *display) write(w io.Writer, text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prompted {
		io.WriteString(d.stdout, "\r\x1b[K")
	}
	io.WriteString(w, text+"\n")
	if d.prompt {
		io.WriteString(d.stdout, "> ")
		d.prompted = true
	}
}

// typed notes that a line was typed: the terminal moved to the next, without a prompt.
func (d *display) typed() {
	d.mu.Lock()
	d.prompted = false
	d.mu.Unlock()
}

// showPrompt shows the prompt if it is not shown.
func (d *display) showPrompt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prompt && !d.prompted {
		io.WriteString(d.stdout, "> ")
		d.prompted = true
	}
}

// end erases the prompt, for the shell's.
func (d *display) end() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prompted {
		io.WriteString(d.stdout, "\r\x1b[K")
		d.prompted = false
	}
}

// format returns the text that shows a message: text as it is (indented if it is JSON
// and --json asks), binary in hex or base64. Marked, binary messages say so, and
// control characters are escaped, so that a message cannot drive the terminal.
func (d *display) format(typ ws.MessageType, p []byte) string {
	if typ == ws.MessageBinary {
		enc := hex.EncodeToString(p)
		if d.binaryFormat == "base64" {
			enc = base64.StdEncoding.EncodeToString(p)
		}
		if d.marked {
			return strings.TrimSpace(fmt.Sprintf("[binary, %d bytes] %s", len(p), enc))
		}
		return enc
	}
	text := string(p)
	if d.json && json.Valid(p) {
		var b bytes.Buffer
		if json.Indent(&b, p, "", "  ") == nil {
			text = b.String()
		}
	}
	if d.marked {
		text = escapeControls(text)
	}
	return text
}

// decode decodes the argument of /binary.
func (d *display) decode(arg string) ([]byte, error) {
	arg = strings.Join(strings.Fields(arg), "")
	if d.binaryFormat == "base64" {
		p, err := base64.StdEncoding.DecodeString(arg)
		if err != nil {
			return nil, fmt.Errorf("not base64: %v", err)
		}
		return p, nil
	}
	p, err := hex.DecodeString(arg)
	if err != nil {
		return nil, fmt.Errorf("not hex (such as 00ff10): %v", err)
	}
	return p, nil
}

// escapeControls writes the control characters of s other than newline and tab as Go
// escapes.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, isEscaped) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isEscaped(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isEscaped(r rune) bool { return r != '\n' && r != '\t' && unicode.IsControl(r) }
