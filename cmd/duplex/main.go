// Command duplex is the Duplex WebSocket server and toolkit. Run duplex --help for its
// commands; duplex serve starts the server.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/duplex-ws/duplex/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the process's exit status: 0, 2 for an
// error in the command line, 1 for any other error (which cli.Run has reported).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return cli.ExitCode(cli.Run(ctx, args, stdin, stdout, stderr))
}
