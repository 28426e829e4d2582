// Package cli is the duplex command line: [Run] parses the arguments and runs a
// subcommand. Each subcommand lives in a file of its own (serve.go) and is listed by
// commands; adding one (connect, bench) means adding a file and a line there.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is a subcommand of duplex.
type command struct {
	name    string
	summary string // one line, for duplex --help
	run     func(ctx context.Context, env *env, args []string) error
	help    func(w io.Writer) // writes the command's --help
}

// commands lists the subcommands, in the order duplex --help shows them.
func commands() []command {
	return []command{
		{name: "serve", summary: "run the WebSocket server: a web page, echo and chat rooms", run: runServe, help: serveHelp},
		{name: "bench", summary: "load a WebSocket server and measure throughput, latency and errors", run: runBench, help: benchHelp},
		{name: "connect", summary: "connect to a WebSocket server and exchange messages, typed or piped", run: runConnect, help: connectHelp},
	}
}

// env is what a command may use of its process: streams and environment variables.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(name string) (string, bool)
}

// Run runs the duplex command line args (without the program name) until it is done or
// ctx ends, as a process would with those streams. It writes its errors to stderr and
// returns them too; [ExitCode] gives the process's exit status for them.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return run(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv})
}

func run(ctx context.Context, args []string, e *env) error {
	if len(args) == 0 {
		usage(e.stderr)
		return &usageError{errors.New("no command")}
	}
	name, args := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 0 {
			if c, ok := lookup(args[0]); ok {
				c.help(e.stdout)
				return nil
			}
		}
		usage(e.stdout)
		return nil
	}
	c, ok := lookup(name)
	if !ok {
		err := &usageError{fmt.Errorf("unknown command %q", name)}
		fmt.Fprintf(e.stderr, "duplex: %v\nRun 'duplex --help' for the commands.\n", err)
		return err
	}
	err := c.run(ctx, e, args)
	var uerr *usageError
	switch {
	case err == nil:
	case errors.As(err, &uerr):
		fmt.Fprintf(e.stderr, "duplex %s: %v\nRun 'duplex %s --help' for usage.\n", c.name, err, c.name)
	default:
		fmt.Fprintf(e.stderr, "duplex %s: %v\n", c.name, err)
	}
	return err
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usage writes duplex --help.
func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Duplex is a WebSocket server and toolkit.\n\nUsage:\n  duplex <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'duplex <command> --help' for a command's flags.\n")
	io.WriteString(w, b.String())
}

// usageError is an error in the command line: a flag, its value, or an argument.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usageError with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// ExitCode returns the exit status of a process whose Run returned err: 0 for nil, 2 for
// an error in the command line, 1 for any other.
func ExitCode(err error) int {
	var uerr *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &uerr):
		return 2
	}
	return 1
}
