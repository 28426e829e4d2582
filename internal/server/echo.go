package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/duplex-ws/duplex/hub"
	"github.com/duplex-ws/duplex/internal/writetimer"
	"github.com/duplex-ws/duplex/ws"
)

// serveEcho sends back every message of the connection, with its type, in the order
// received. The handler's goroutine is the connection's only reader and writer (Shutdown
// only closes it): each message is read, then written, so a client that does not read its
// echoes stops being read, and is dropped as a slow consumer once a write takes longer
// than WriteTimeout.
func (s *Server) serveEcho(w http.ResponseWriter, r *http.Request) {
	release, ok := s.admit(w, r, endpointEcho)
	if !ok {
		return
	}
	defer release()
	c := s.accept(w, r, endpointEcho, nil)
	if c == nil {
		return
	}
	defer s.conns.remove(c)
	defer s.metrics.opened(endpointEcho)()
	start := time.Now()
	code, reason := s.echo(c)
	s.log.Debug("echo connection closed", "remote", r.RemoteAddr, "duration", time.Since(start),
		"code", int(code), "reason", reason)
}

// maxKeptBuffer is the largest read buffer a connection keeps between messages.
const maxKeptBuffer = 4 << 10

// echo serves c until it ends, and returns the close code and reason of its end.
func (s *Server) echo(c *ws.Conn) (ws.StatusCode, string) {
	defer c.CloseNow()
	bucket := newTokenBucket(s.cfg.RateLimit, s.cfg.RateBurst, time.Now())
	wt := writetimer.New(s.cfg.WriteTimeout) // no context and timer per message
	defer wt.Stop()
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
		s.metrics.received(endpointEcho, len(msg))
		if !bucket.allow(time.Now()) {
			c.Close(ws.StatusPolicyViolation, reasonRateLimit)
			return ws.StatusPolicyViolation, reasonRateLimit
		}
		err = c.Write(wt.Start(), typ, msg)
		if wt.Expired() {
			s.metrics.echoSlow.Add(1)
			c.Close(ws.StatusPolicyViolation, hub.ReasonSlowConsumer) // if the stream still allows
			return ws.StatusPolicyViolation, hub.ReasonSlowConsumer
		}
		if errors.Is(err, net.ErrClosed) {
			// The closing handshake has begun (a shutdown's 1001, say): read on to the
			// peer's close frame; a connection really gone fails that read at once.
			continue
		}
		if err != nil {
			return ws.StatusAbnormalClosure, err.Error()
		}
		s.metrics.sent(endpointEcho, len(msg))
	}
}

// closeCode returns the close code and reason that ended a connection whose read failed
// with err: the peer's close frame, the code sent for its protocol error, or 1006 for a
// connection lost.
func closeCode(err error) (ws.StatusCode, string) {
	var ce *ws.CloseError
	var pe *ws.ProtocolError
	switch {
	case errors.As(err, &ce):
		return ce.Code, ce.Reason
	case errors.As(err, &pe):
		return pe.Code, pe.Reason
	}
	return ws.StatusAbnormalClosure, err.Error()
}
