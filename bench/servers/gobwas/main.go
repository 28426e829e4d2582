// Command gobwas is the benchmark server of github.com/gobwas/ws: /echo sends every
// message back, /broadcast sends every message to every connection there. It compresses
// only without context takeover, the mode of the wsflate helpers.
//
// It is written the way gobwas/ws's README builds a fast server: a plain net.Listener and
// the zero-copy ws.Upgrader (no net/http), wsutil.Reader for messages, wsutil.Writer to
// send each as one frame, ws.CompileFrame to encode a broadcast once, and wsflate for
// permessage-deflate.
//
//	go run ./servers/gobwas -addr 127.0.0.1:9005 -compress no-takeover
package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/duplex-ws/duplex/bench/internal/srv"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
)

func main() {
	srv.Main("gobwas", []srv.Compression{srv.CompressNone, srv.CompressNoTakeover}, serve)
}

func serve(ctx context.Context, ln net.Listener, opts srv.Options) error {
	var room srv.Broadcast[*frames]
	deflate := opts.Compress == srv.CompressNoTakeover
	return srv.ServeConns(ctx, ln, func(nc net.Conn) {
		defer nc.Close()
		path, compressed, err := upgrade(nc, deflate)
		if err != nil {
			return
		}
		c := newConn(nc, compressed)
		switch path {
		case "/echo":
			c.echo()
		case "/broadcast":
			c.broadcast(&room)
		}
	})
}

// upgrade performs the opening handshake, routing by the request's path and agreeing to
// permessage-deflate, with the wsflate helpers' parameters, if deflate is set.
func upgrade(nc net.Conn, deflate bool) (path string, compressed bool, err error) {
	ext := wsflate.Extension{Parameters: wsflate.DefaultParameters} // no context takeover
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			p, _, _ := bytes.Cut(uri, []byte("?"))
			switch string(p) {
			case "/echo":
				path = "/echo"
			case "/broadcast":
				path = "/broadcast"
			default:
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusNotFound))
			}
			return nil
		},
	}
	if deflate {
		u.Negotiate = ext.Negotiate
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second)) // ws leaves timeouts to the caller
	if _, err := u.Upgrade(nc); err != nil {
		return "", false, err
	}
	nc.SetDeadline(time.Time{})
	_, compressed = ext.Accepted()
	return path, compressed, nil
}

// conn is a server connection.
type conn struct {
	nc  net.Conn
	rd  wsutil.Reader
	ctl wsutil.FrameHandlerFunc // answers pings and closes, through wmu
	wmu sync.Mutex              // serialises writes: control replies and broadcasts

	// When permessage-deflate was agreed:
	deflate bool
	msg     wsflate.MessageState // whether the message read, or written, is compressed
	fr      *wsflate.Reader
	fw      *wsflate.Writer
}

func newConn(nc net.Conn, deflate bool) *conn {
	c := &conn{nc: nc, deflate: deflate}
	c.ctl = wsutil.ControlFrameHandler(lockedWriter{c}, ws.StateServerSide)
	c.rd = wsutil.Reader{
		Source:         bufio.NewReader(nc), // wsutil.Reader does not buffer
		State:          ws.StateServerSide,
		CheckUTF8:      !deflate, // else it would check the compressed bytes: see read
		MaxMessageSize: srv.ReadLimit,
		OnIntermediate: c.ctl,
	}
	if deflate {
		c.rd.State |= ws.StateExtended
		c.rd.Extensions = []wsutil.RecvExtension{&c.msg}
		c.fr = wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor {
			return inflater{flate.NewReader(r)}
		})
		// Level 1, as the other servers compress (wsflate's DefaultHelper uses 9).
		c.fw = wsflate.NewWriter(nil, func(w io.Writer) wsflate.Compressor {
			f, _ := flate.NewWriter(w, flate.BestSpeed)
			return f
		})
	}
	return c
}

// inflater lets wsflate.Reader reset a flate reader rather than make a new one per message.
type inflater struct{ io.ReadCloser }

func (f inflater) Reset(r io.Reader) { f.ReadCloser.(flate.Resetter).Reset(r, nil) }

type lockedWriter struct{ c *conn }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	return w.c.nc.Write(p)
}

var errInvalidUTF8 = errors.New("gobwas: invalid UTF-8 in a text message")

// read reads the next data message into buf, decompressed, answering control frames on
// the way. buf grows as the message arrives.
func (c *conn) read(buf *bytes.Buffer) (ws.OpCode, error) {
	for {
		h, err := c.rd.NextFrame()
		if err != nil {
			return 0, err
		}
		if h.OpCode.IsControl() {
			if err := c.ctl(h, &c.rd); err != nil {
				return 0, err
			}
			continue
		}
		buf.Reset()
		if !c.deflate {
			_, err = buf.ReadFrom(&c.rd)
			return h.OpCode, err
		}
		if c.msg.IsCompressed() {
			c.fr.Reset(&c.rd)
			_, err = buf.ReadFrom(c.fr)
		} else {
			_, err = buf.ReadFrom(&c.rd)
		}
		if err == nil && h.OpCode == ws.OpText && !utf8.Valid(buf.Bytes()) {
			err = errInvalidUTF8
		}
		return h.OpCode, err
	}
}

// echo sends every message back as one frame, compressed if it came compressed.
func (c *conn) echo() {
	var buf bytes.Buffer
	w := wsutil.NewWriter(lockedWriter{c}, ws.StateServerSide, 0)
	w.DisableFlush() // one frame per message: the buffer grows to the largest
	if c.deflate {
		w.SetExtensions(&c.msg) // sets RSV1 as the message read had it
	}
	for {
		op, err := c.read(&buf)
		if err != nil {
			return
		}
		w.ResetOp(op)
		if c.deflate && c.msg.IsCompressed() {
			c.fw.Reset(w)
			_, err = c.fw.Write(buf.Bytes())
			if err == nil {
				err = c.fw.Close()
			}
		} else {
			_, err = w.Write(buf.Bytes())
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			return
		}
	}
}

// frames is a broadcast message, compiled once with ws.CompileFrame, and once more
// compressed when its publisher agreed to compression (so the server compresses).
type frames struct {
	plain, deflated []byte
}

// broadcast compiles each message into frames, which each subscriber's writer writes.
func (c *conn) broadcast(room *srv.Broadcast[*frames]) {
	leave := room.Join(
		func(f *frames) error {
			b := f.plain
			if c.deflate && f.deflated != nil {
				b = f.deflated
			}
			_, err := lockedWriter{c}.Write(b)
			return err
		},
		func() { c.nc.Close() })
	defer leave()
	defer c.nc.Close() // first: a writer blocked on a peer that does not read must return
	var buf, deflated bytes.Buffer
	for {
		op, err := c.read(&buf)
		if err != nil {
			return
		}
		f := &frames{}
		if f.plain, err = ws.CompileFrame(ws.NewFrame(op, true, buf.Bytes())); err != nil {
			return
		}
		if c.deflate {
			deflated.Reset()
			c.fw.Reset(&deflated)
			if _, err := c.fw.Write(buf.Bytes()); err != nil {
				return
			}
			if err := c.fw.Close(); err != nil {
				return
			}
			frame := ws.NewFrame(op, true, deflated.Bytes())
			frame.Header.Rsv = ws.Rsv(true, false, false)
			if f.deflated, err = ws.CompileFrame(frame); err != nil {
				return
			}
		}
		room.Publish(f)
	}
}
