// Package server is the HTTP application of duplex serve: the web page, the echo and chat
// WebSocket endpoints, health and metrics, with connection limits, origin checks, TLS and
// a graceful shutdown.
//
// Goroutines: net/http runs a handler per request; a WebSocket handler holds a slot of the
// connection table from before its upgrade until its connection is closed, and Shutdown
// waits for those (http.Server.Shutdown does not wait for hijacked connections). A chat
// connection also has a writer goroutine, owned by the hub, which Shutdown closes. Run
// serves on a goroutine of its own, which ends before Run returns; Shutdown starts one
// goroutine per echo connection to close it, and one to wait for the handlers, and waits
// for them all.
package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/duplex-ws/duplex/hub"
	"github.com/duplex-ws/duplex/ws"
)

// ChatSubprotocol is the WebSocket subprotocol of the chat, agreed when the client offers
// it.
const ChatSubprotocol = "duplex.chat.v1"

// Server is the duplex serve application. Make one with [New].
type Server struct {
	cfg     Config
	log     *slog.Logger
	hub     *hub.Hub
	conns   *connTable
	metrics *metrics
	http    *http.Server
	handler http.Handler
}

// New returns a server configured by cfg; nil means the defaults. Errors for settings that
// cannot work wrap [ErrConfig].
func New(cfg *Config) (*Server, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsConf, err := tlsConfig(&c, time.Now())
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   c,
		log:   log,
		conns: newConnTable(c.MaxConnections, c.MaxConnectionsPerIP),
		hub: hub.New(&hub.Options{
			QueueSize:    c.QueueSize,
			WriteTimeout: c.WriteTimeout,
			Logger:       log,
		}),
	}
	s.metrics = newMetrics(s.hub)

	mux := http.NewServeMux()
	mux.Handle("GET /", webHandler())
	mux.HandleFunc("GET /ws/echo", s.serveEcho)
	mux.HandleFunc("GET /ws/chat", s.serveChat)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.Handle("GET /metrics", s.metrics.handler())
	s.handler = mux

	// ws.Accept speaks HTTP/1.1 only (not RFC 8441 over HTTP/2), so HTTP/2 stays off.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	s.http = &http.Server{
		Handler:           mux,
		TLSConfig:         tlsConf,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug), // TLS handshake errors, mostly
	}
	return s, nil
}

// Handler returns the server's routes, for tests and for embedding in another server.
// Connections it upgrades are closed by [Server.Shutdown].
func (s *Server) Handler() http.Handler { return s.handler }

// Certificate returns the TLS certificate the server presents, or nil if it serves plain
// HTTP. With TLSSelfSigned, a client that trusts it (in its RootCAs) can verify the server.
func (s *Server) Certificate() *x509.Certificate {
	if s.http.TLSConfig == nil {
		return nil
	}
	return s.http.TLSConfig.Certificates[0].Leaf
}

// Run serves on ln until ctx is done, then shuts down gracefully (see [Server.Shutdown])
// within ShutdownTimeout; connections still open then are closed at once, which is logged.
// It returns nil after a shutdown, or the error that stopped serving.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() {
		if s.http.TLSConfig != nil {
			served <- s.http.ServeTLS(ln, "", "")
		} else {
			served <- s.http.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("shutdown timed out: remaining connections closed", "timeout", s.cfg.ShutdownTimeout)
	}
	if serveErr == nil {
		serveErr = <-served
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		return nil
	}
	return serveErr
}

// Shutdown stops the server gracefully: it stops listening and refuses new WebSocket
// connections, sends every open connection a close frame with 1001 (going away) and
// "server shutting down", and waits for the connections to close and for the requests
// in progress to end. If ctx ends first, it closes every connection at once and returns
// ctx's error once their handlers have returned.
func (s *Server) Shutdown(ctx context.Context) error {
	echoConns := s.conns.close(endpointEcho)
	var closers sync.WaitGroup
	for _, c := range echoConns {
		closers.Go(func() { c.Close(ws.StatusGoingAway, hub.ReasonShutdown) })
	}
	var hubErr error
	closers.Go(func() { hubErr = s.hub.Close(ctx) })
	httpErr := s.http.Shutdown(ctx)

	handlersDone := make(chan struct{})
	go func() {
		s.conns.handlers.Wait()
		close(handlersDone)
	}()
	var err error
	select {
	case <-handlersDone:
	case <-ctx.Done():
		err = ctx.Err()
		s.conns.closeNow()
		s.http.Close()
		<-handlersDone
	}
	closers.Wait()
	return errors.Join(err, hubErr, httpErr)
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.conns.isClosing() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "shutting down")
		return
	}
	fmt.Fprintln(w, "ok")
}

// admit takes a connection slot for r, or answers 503 and returns false. The caller must
// call release.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, ep endpoint) (release func(), ok bool) {
	ip := clientIP(r)
	why, ok := s.conns.admit(ip)
	if !ok {
		msg := "too many connections"
		switch why {
		case rejectMaxConnectionsPerIP:
			msg = "too many connections from " + ip
		case rejectShuttingDown:
			msg = "the server is shutting down"
		}
		w.Header().Set("Retry-After", "5")
		s.refuse(w, r, ep, why, http.StatusServiceUnavailable, msg)
		return nil, false
	}
	return func() { s.conns.leave(ip) }, true
}

// refuse answers a WebSocket request with an HTTP error before its upgrade, and counts it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ep endpoint, why rejection, status int, msg string) {
	s.metrics.reject(why)
	s.log.Debug("websocket refused", "endpoint", ep.String(), "remote", r.RemoteAddr, "status", status, "reason", msg)
	http.Error(w, ep.String()+": "+msg, status)
}

// accept upgrades r, counting a refusal by ws.Accept (which has answered it), and tracks
// the connection; the caller must remove it from the table. It returns nil if there is no
// connection to serve.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, ep endpoint, subprotocols []string) *ws.Conn {
	c, err := ws.Accept(w, r, &ws.AcceptOptions{
		ConnOptions: ws.ConnOptions{
			ReadLimit:    s.cfg.MaxMessageSize,
			PingInterval: max(s.cfg.PingInterval, 0),
			PongTimeout:  s.cfg.PongTimeout,
			Logger:       s.log,
		},
		Subprotocols:   subprotocols,
		Compression:    ws.CompressionOptions{Mode: compressionModes[s.cfg.Compression]},
		OriginPatterns: s.cfg.AllowOrigins,
	})
	if err != nil {
		var he *ws.HandshakeError
		if errors.As(err, &he) {
			why := rejectHandshake
			if he.Status == http.StatusForbidden {
				why = rejectOrigin
			}
			s.metrics.reject(why)
		}
		s.log.Debug("websocket refused", "endpoint", ep.String(), "remote", r.RemoteAddr, "err", err)
		return nil
	}
	if s.conns.add(c, ep) {
		// Shutdown began during the handshake, after it listed the connections to close.
		c.Close(ws.StatusGoingAway, hub.ReasonShutdown)
		s.conns.remove(c)
		return nil
	}
	return c
}
