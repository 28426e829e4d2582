// Package srv is what the benchmark servers under bench/servers share, so that each of
// their main.go holds only the code of its library: the command line, listening, serving
// HTTP or raw TCP, stopping on a signal, and the bookkeeping of a broadcast's subscribers.
package srv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ReadLimit is the largest message every server accepts, duplex's default: the libraries'
// own defaults differ (coder/websocket's is 32 KiB), and a benchmark must not measure that.
const ReadLimit = 32 << 20

// Compression is the permessage-deflate mode a server agrees to, the value of its
// -compress flag, named as duplex serve --compression names it.
type Compression string

const (
	// CompressNone declines every offer of compression. It is the default.
	CompressNone Compression = "none"
	// CompressNoTakeover compresses each message on its own.
	CompressNoTakeover Compression = "no-takeover"
	// CompressTakeover lets a message refer to the ones before it on its connection.
	CompressTakeover Compression = "takeover"
)

// Options are a server's settings, from its command line.
type Options struct {
	Compress Compression
}

// ServeFunc serves ln, with the endpoints /echo and /broadcast, until ctx ends; it then
// stops accepting and returns nil, or returns an error if serving failed.
type ServeFunc func(ctx context.Context, ln net.Listener, opts Options) error

// Main runs the server called name: it reads the flags -addr and -compress (which must be
// one of modes), listens, prints "listening on ADDR" as its first line, and serves until
// SIGINT or SIGTERM. It exits with status 2 for a bad command line, 1 if serving fails.
func Main(name string, modes []Compression, serve ServeFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, name, modes, os.Args[1:], os.Stdout, os.Stderr, serve)
	stop()
	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		if !usage.reported {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		}
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// run is Main without the process: args are the command line without the program's name.
func run(ctx context.Context, name string, modes []Compression, args []string, stdout, stderr io.Writer, serve ServeFunc) error {
	f := flag.NewFlagSet(name, flag.ContinueOnError)
	f.SetOutput(stderr)
	addr := f.String("addr", "127.0.0.1:0", "`address` to listen on; port 0 picks a free one, printed on the first line")
	compress := f.String("compress", string(CompressNone), "permessage-deflate `mode`: "+names(modes))
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err, true} // the flag package has printed it, with the usage
	}
	if f.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", f.Arg(0)), false}
	}
	opts := Options{Compress: Compression(*compress)}
	if !slices.Contains(modes, opts.Compress) {
		return usageError{fmt.Errorf("-compress %s is not supported by this server; it supports %s", *compress, names(modes)), false}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	return serve(ctx, ln, opts)
}

// usageError is an error in the command line, which makes Main exit with status 2.
type usageError struct {
	error
	reported bool // already printed
}

func (e usageError) Unwrap() error { return e.error }

func names(modes []Compression) string {
	s := make([]string, len(modes))
	for i, m := range modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// ServeHTTP serves the handlers echo at /echo and broadcast at /broadcast on ln until ctx
// ends, then stops accepting and returns. Connections a handler has hijacked, as WebSocket
// handlers do, are not waited for: they end with the process.
func ServeHTTP(ctx context.Context, ln net.Listener, echo, broadcast http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("/echo", echo)
	mux.Handle("/broadcast", broadcast)
	s := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.Shutdown(shutdownCtx) // a request still being answered after a second is cut off
	<-served
	return nil
}

// ServeConns accepts connections on ln, each handled by handle on a goroutine of its own,
// until ctx ends; it then stops accepting and returns. The connections end with the
// process.
func ServeConns(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			time.Sleep(10 * time.Millisecond) // out of file descriptors, say: wait for some
			continue
		}
		go handle(c)
	}
}
