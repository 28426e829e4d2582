// Command chat is a WebSocket chat room: a member connects to /ws?name=NICK, and every
// text message it sends is relayed, as JSON, to all members; the page at / is a client.
//
//	go run ./examples/chat -addr 127.0.0.1:8082
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
	"syscall"
	"time"
)

//go:embed index.html
var indexHTML []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "`address` to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *addr, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down: it stops accepting, closes every member's
// connection with 1001 (going away) and returns once the room's goroutines have ended.
func run(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "chat: serving http://%s/ (WebSocket at ws://%s/ws?name=NICK)\n", ln.Addr(), ln.Addr())

	room := newHub(nil)
	// The room's connections are hijacked, which http.Server.Shutdown does not wait
	// for: room.Close does.
	defer room.Close()
	srv := &http.Server{Handler: routes(room), ReadHeaderTimeout: 10 * time.Second}
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
	return err
}

// routes returns the server's handler: the page at / and the room at /ws.
func routes(room *hub) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	mux.Handle("/ws", room)
	return mux
}
