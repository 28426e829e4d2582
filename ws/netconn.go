package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// NetConn returns a net.Conn that carries a byte stream over c: each Write is sent as a
// message of type typ, and Read returns the payloads of the messages received, one after
// the other, as one stream. Messages of the other type are an error. It lets code written
// for a net.Conn (an RPC library, a protocol parser) run over a WebSocket.
//
// Read returns io.EOF once the peer closes normally (1000 or 1001). Each message is read
// whole into a buffer that is reused, so the read limit bounds the adapter's memory. SetDeadline and its
// kind bound the Reads and Writes that follow, as for a net.Conn; ctx bounds the whole
// adapter's life. Close closes the WebSocket with 1000.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	return &netConn{c: c, typ: typ, ctx: ctx}
}

type netConn struct {
	c   *Conn
	typ MessageType
	ctx context.Context

	readMu sync.Mutex // one Read at a time; guards buf and unread
	buf    []byte     // the last message read, reused
	unread []byte     // what of it Read has not returned yet

	deadlineMu    sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

var _ net.Conn = (*netConn)(nil)

func (nc *netConn) Read(p []byte) (int, error) {
	nc.readMu.Lock()
	defer nc.readMu.Unlock()
	for len(nc.unread) == 0 {
		ctx, cancel := nc.context(&nc.readDeadline)
		typ, msg, err := nc.c.ReadAppend(ctx, nc.buf[:0])
		cancel()
		if err != nil {
			switch CloseStatus(err) {
			case StatusNormalClosure, StatusGoingAway:
				return 0, io.EOF
			}
			return 0, nc.netError(err)
		}
		if typ != nc.typ {
			nc.c.Close(StatusUnsupportedData, "unexpected "+typ.String()+" message")
			return 0, fmt.Errorf("ws: net.Conn adapter: %s message received, want %s", typ, nc.typ)
		}
		nc.buf, nc.unread = msg, msg
	}
	n := copy(p, nc.unread)
	nc.unread = nc.unread[n:]
	return n, nil
}

func (nc *netConn) Write(p []byte) (int, error) {
	ctx, cancel := nc.context(&nc.writeDeadline)
	defer cancel()
	if err := nc.c.Write(ctx, nc.typ, p); err != nil {
		return 0, nc.netError(err)
	}
	return len(p), nil
}

// context returns the context for an operation bounded by the deadline *d.
func (nc *netConn) context(d *time.Time) (context.Context, context.CancelFunc) {
	nc.deadlineMu.Lock()
	deadline := *d
	nc.deadlineMu.Unlock()
	if deadline.IsZero() {
		return context.WithCancel(nc.ctx)
	}
	return context.WithDeadline(nc.ctx, deadline)
}

// netError makes a deadline's error one that satisfies os.ErrDeadlineExceeded's contract,
// as net.Conn users check with a net.Error Timeout.
func (nc *netConn) netError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &timeoutError{err}
	}
	return err
}

type timeoutError struct{ err error }

func (e *timeoutError) Error() string   { return e.err.Error() }
func (e *timeoutError) Unwrap() error   { return e.err }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

func (nc *netConn) Close() error         { return nc.c.Close(StatusNormalClosure, "") }
func (nc *netConn) LocalAddr() net.Addr  { return nc.c.LocalAddr() }
func (nc *netConn) RemoteAddr() net.Addr { return nc.c.RemoteAddr() }

func (nc *netConn) SetDeadline(t time.Time) error {
	nc.SetReadDeadline(t)
	return nc.SetWriteDeadline(t)
}

func (nc *netConn) SetReadDeadline(t time.Time) error {
	nc.deadlineMu.Lock()
	nc.readDeadline = t
	nc.deadlineMu.Unlock()
	return nil
}

func (nc *netConn) SetWriteDeadline(t time.Time) error {
	nc.deadlineMu.Lock()
	nc.writeDeadline = t
	nc.deadlineMu.Unlock()
	return nil
}
