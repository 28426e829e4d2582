// Command echo is a WebSocket echo server: it sends every message it receives on /ws back
// to its sender, and serves a page at / to try it from a browser.
//
//	go run ./examples/echo -addr 127.0.0.1:8081
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

//go:embed index.html
var indexHTML []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "`address` to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *addr, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down: it stops accepting, closes every
// WebSocket with 1001 (going away) and returns once their handlers have ended.
func run(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "echo: serving http://%s/ (WebSocket at ws://%s/ws)\n", ln.Addr(), ln.Addr())

	// http.Server.Shutdown forgets connections once they are hijacked, so the WebSocket
	// handlers are counted here, to be waited for.
	var sessions sync.WaitGroup
	srv := &http.Server{
		Handler: routes(&sessions),
		// Requests, and so the echo loops, end when ctx does.
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	sessions.Wait()
	return err
}

// routes returns the server's handler; sessions counts the echo loops running.
func routes(sessions *sync.WaitGroup) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		sessions.Add(1)
		defer sessions.Done()
		echo(w, r)
	})
	return mux
}

// echo upgrades the request and sends every message back, with its type, until the peer
// closes or the request's context ends.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered with an HTTP error
	}
	defer c.CloseNow()
	ctx := r.Context()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.Close(ws.StatusGoingAway, "server shutting down")
			}
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}
