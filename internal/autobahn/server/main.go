// Command server is the Autobahn|Testsuite testee for Duplex as a server: it echoes every
// message on every path, unchanged.
//
//	go run ./internal/autobahn/server -addr 127.0.0.1:9001
//
// -compress chooses permessage-deflate (RFC 7692), which the suite's cases 12.* and 13.*
// need: "takeover" (the default) accepts every offer those cases make, "no-takeover"
// accepts them while compressing each message on its own, "none" declines them. When
// compression is agreed every message is compressed, however small.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/duplex-ws/duplex/internal/autobahn"
	"github.com/duplex-ws/duplex/ws"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. If ready is not nil, it receives the listening address.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9001", "address to listen on")
	verbose := fs.Bool("v", false, "log every connection's end")
	compress := fs.String("compress", "takeover", "permessage-deflate: none, no-takeover or takeover")
	if err := fs.Parse(args); err != nil {
		return err
	}
	deflate, err := autobahn.Compression(*compress)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	opts := &ws.AcceptOptions{
		ConnOptions:              ws.ConnOptions{ReadLimit: autobahn.ReadLimit, Logger: log},
		InsecureSkipVerifyOrigin: true,
		Compression:              deflate,
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, opts)
		if err != nil {
			log.Debug("handshake failed", "err", err)
			return
		}
		defer c.CloseNow()
		err = autobahn.Echo(r.Context(), c)
		log.Debug("connection ended", "err", err)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Info("autobahn testee listening", "addr", "ws://"+ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
