package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"

	"github.com/duplex-ws/duplex/ws"
)

// conn is a connection that carries whole messages: a WebSocket connection, or a TCP
// connection that speaks the rawtcp protocol of bench/servers/rawtcp. The runs hold their
// connections as this interface; a call through it costs a few nanoseconds a message,
// nothing beside what a message costs.
type conn interface {
	// send writes one message. It neither modifies p nor keeps it.
	send(p []byte) error
	// queue is send, the message going out with the next flush (or earlier, should the
	// messages queued grow past wireMax).
	queue(p []byte) error
	// flush writes the messages queued, in one write where it can. With await, it then
	// waits until a reply can be read; only the goroutine that receives may ask to await.
	flush(await bool) error
	// receive reads the next message and appends it to dst.
	receive(dst []byte) (ws.MessageType, []byte, error)
	// close closes gracefully: a WebSocket connection with the closing handshake and 1000.
	close()
	// closeNow closes at once.
	closeNow()
	// direct returns the wire under the connection if an event loop may send and receive
	// the messages on it by itself (loop_linux.go): its bytes are the messages' frames, not
	// compressed, encrypted nor tunnelled, and nothing received is buffered above it.
	// Otherwise it returns nil.
	direct() *wire
}

// wsConn is a WebSocket connection that sends messages of one type.
type wsConn struct {
	c    *ws.Conn
	typ  ws.MessageType
	wire *wire // under c
	// plain is set when c's frames go through the wire as they are: ws://, dialled straight
	// to the server (no proxy), without compression.
	plain bool
	// prepared, when set, is the one message a run sends over and over (Echo's): it is
	// compressed once, as a server's broadcast is, and each frame still masked with a key
	// of its own.
	prepared *ws.PreparedMessage
}

// Contexts are context.Background(): a cancellable one would cost an allocation a call.

func (w *wsConn) send(p []byte) error { return w.c.Write(context.Background(), w.typ, p) }

// queue writes the message with the library, whose frame (masked, with a key of its own)
// the wire holds.
func (w *wsConn) queue(p []byte) error {
	w.wire.hold()
	if pm := w.prepared; pm != nil && len(p) > 0 && len(p) == len(pm.Data()) && &p[0] == &pm.Data()[0] {
		return w.c.WritePrepared(context.Background(), pm)
	}
	return w.c.Write(context.Background(), w.typ, p)
}

// flush awaits the reply only when c has none of it buffered: the socket may have
// nothing more to give.
func (w *wsConn) flush(await bool) error {
	if await && w.c.Buffered() == 0 {
		return w.wire.flushAwait()
	}
	return w.wire.flush()
}

func (w *wsConn) receive(dst []byte) (ws.MessageType, []byte, error) {
	return w.c.ReadAppend(context.Background(), dst)
}

func (w *wsConn) close()    { w.c.Close(ws.StatusNormalClosure, "") }
func (w *wsConn) closeNow() { w.c.CloseNow() }

func (w *wsConn) direct() *wire {
	if !w.plain || w.c.Buffered() != 0 {
		return nil
	}
	return w.wire
}

// The rawtcp protocol: after connecting, the client sends one byte, tcpEcho or
// tcpBroadcast; from then on each message, both ways, is a 4-byte big-endian length and
// that many bytes of payload. There are no message types: received messages are binary.
const (
	tcpEcho      = 'E'
	tcpBroadcast = 'B'

	tcpHeaderLen = 4
	// tcpCopyMax is the largest payload that send copies behind its length, to write both
	// in one call; larger ones are written with writev, from where they are.
	tcpCopyMax = 64 << 10
	// tcpChunk bounds how far ahead of the bytes received receive grows a buffer, whatever
	// length a peer announces.
	tcpChunk = 64 << 10
)

// errTCPTooLarge is the error of a rawtcp message longer than the run can expect.
var errTCPTooLarge = errors.New("bench: a rawtcp message over the size limit")

// tcpConn is a TCP connection that speaks the rawtcp protocol.
type tcpConn struct {
	c     *wire
	br    *bufio.Reader
	limit int64 // the longest message receive accepts

	// The writer's.
	whdr [tcpHeaderLen]byte
	vec  [2][]byte // length and payload, for writev
	bufs net.Buffers
	// The reader's.
	rhdr [tcpHeaderLen]byte
}

func (t *tcpConn) send(p []byte) error {
	if len(p) <= tcpCopyMax {
		if err := t.queue(p); err != nil {
			return err
		}
		return t.c.flush()
	}
	binary.BigEndian.PutUint32(t.whdr[:], uint32(len(p)))
	t.vec = [2][]byte{t.whdr[:], p}
	t.bufs = t.vec[:]
	_, err := t.bufs.WriteTo(t.c.Conn)
	t.vec[1] = nil
	return err
}

// queue holds the message's length and payload in the wire, which copies them: a
// payload over tcpCopyMax is sent from where it is.
func (t *tcpConn) queue(p []byte) error {
	if len(p) > tcpCopyMax {
		if err := t.c.flush(); err != nil {
			return err
		}
		return t.send(p)
	}
	binary.BigEndian.PutUint32(t.whdr[:], uint32(len(p)))
	t.c.hold()
	if _, err := t.c.Write(t.whdr[:]); err != nil {
		return err
	}
	_, err := t.c.Write(p)
	return err
}

func (t *tcpConn) flush(await bool) error {
	if await && t.br.Buffered() == 0 {
		return t.c.flushAwait()
	}
	return t.c.flush()
}

func (t *tcpConn) receive(dst []byte) (ws.MessageType, []byte, error) {
	if _, err := io.ReadFull(t.br, t.rhdr[:]); err != nil {
		return 0, dst, err
	}
	n := int64(binary.BigEndian.Uint32(t.rhdr[:]))
	if n > t.limit {
		return 0, dst, fmt.Errorf("%w: %d bytes, at most %d expected", errTCPTooLarge, n, t.limit)
	}
	for n > 0 {
		chunk := int(min(n, tcpChunk))
		start := len(dst)
		dst = slices.Grow(dst, chunk)[:start+chunk]
		if _, err := io.ReadFull(t.br, dst[start:]); err != nil {
			return 0, dst[:start], err
		}
		n -= int64(chunk)
	}
	return ws.MessageBinary, dst, nil
}

func (t *tcpConn) close()    { t.c.Close() }
func (t *tcpConn) closeNow() { t.c.Close() }

func (t *tcpConn) direct() *wire {
	if t.br.Buffered() != 0 {
		return nil
	}
	return t.c
}

// dialTCP connects to the rawtcp server at addr and chooses mode, tcpEcho or
// tcpBroadcast.
func dialTCP(ctx context.Context, d *net.Dialer, addr string, mode byte, limit int64) (*tcpConn, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{mode}); err != nil {
		c.Close()
		return nil, err
	}
	w := newWire(c)
	return &tcpConn{c: w, br: bufio.NewReaderSize(w, 16<<10), limit: limit}, nil
}

// dialer opens a run's connections.
type dialer struct {
	tcp    bool
	mode   byte            // tcp: tcpEcho or tcpBroadcast
	limit  int64           // tcp: the longest message expected
	tcpNet net.Dialer      // tcp
	opts   *ws.DialOptions // WebSocket
	typ    ws.MessageType  // WebSocket: of the messages sent
}

// newDialer returns the dialer of a run of cfg, whose connections send messages of type
// typ, or choose mode over rawtcp.
func newDialer(cfg *Config, mode byte, typ ws.MessageType, subprotocols ...string) dialer {
	if cfg.tcp() {
		return dialer{tcp: true, mode: mode, limit: 2*int64(cfg.Size) + 1<<10, tcpNet: net.Dialer{Control: cfg.dialControl}}
	}
	return dialer{opts: cfg.dialOptions(subprotocols...), typ: typ}
}

// dial opens a connection to rawURL.
func (d *dialer) dial(ctx context.Context, rawURL string) (conn, error) {
	if d.tcp {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, err
		}
		c, err := dialTCP(ctx, &d.tcpNet, u.Host, d.mode, d.limit)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	// The connection's TCP connection is a wire, which ws.Dial, given this dialling
	// function, wraps (in TLS for wss). Dialled to the URL's own address, it is not a
	// proxy's.
	var w *wire
	var straight bool
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "80") // ws://'s: wss:// is never plain
	}
	opts := *d.opts
	opts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		netDial := d.opts.NetDialContext
		if netDial == nil {
			var nd net.Dialer
			netDial = nd.DialContext
		}
		c, err := netDial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		w, straight = newWire(c), addr == target
		return w, nil
	}
	c, resp, err := ws.Dial(ctx, rawURL, &opts)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	plain := u.Scheme == "ws" && straight && opts.Compression.Mode == ws.CompressionDisabled
	return &wsConn{c: c, typ: d.typ, wire: w, plain: plain}, nil
}
