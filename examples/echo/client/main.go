// Command client connects to a WebSocket server, sends each of its arguments (or, with
// none, each line of its standard input) as a text message, and prints every message it
// receives. At the end of its input, or on Ctrl-C, it closes the connection with 1000
// (normal closure).
//
//	go run ./examples/echo/client -url ws://127.0.0.1:8081/ws hello world
//	go run ./examples/echo/client -url 'ws://127.0.0.1:8082/ws?name=ann'  # the chat room
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/duplex-ws/duplex/ws"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8081/ws", "WebSocket `URL` to connect to")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: client [-url ws://host/path] [message ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *url, flag.Args(), os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// run sends messages (args, or the lines of stdin when there are none) and prints to
// stdout the messages received, until the input ends, ctx does, or the server closes.
func run(ctx context.Context, url string, args []string, stdin io.Reader, stdout io.Writer) error {
	c, _, err := ws.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops readInput

	// One goroutine reads: it prints the messages, and it is also what sees the server's
	// pings and close frame. It ends when the connection does.
	received := make(chan error, 1)
	go func() { received <- printMessages(c, stdout) }()
	input := make(chan string)
	go readInput(ctx, args, stdin, input)

	for {
		select {
		case msg, more := <-input:
			if !more {
				return closeNormally(c, received)
			}
			if err := c.Write(ctx, ws.MessageText, []byte(msg)); err != nil {
				return err
			}
		case err := <-received:
			// The server closed first: that is an error unless it said 1000.
			if ws.CloseStatus(err) == ws.StatusNormalClosure {
				return nil
			}
			return err
		case <-ctx.Done():
			return closeNormally(c, received)
		}
	}
}

// closeNormally closes c with 1000 and waits for the reading goroutine to end. The
// server's close frame comes after its replies to what was sent, and the reading
// goroutine receives them all before it.
func closeNormally(c *ws.Conn, received <-chan error) error {
	err := c.Close(ws.StatusNormalClosure, "")
	<-received
	return err
}

// printMessages prints every message received, until reading fails.
func printMessages(c *ws.Conn, stdout io.Writer) error {
	for {
		typ, msg, err := c.Read(context.Background())
		if err != nil {
			return err
		}
		if typ == ws.MessageBinary {
			fmt.Fprintf(stdout, "[%d bytes] % x\n", len(msg), msg)
			continue
		}
		fmt.Fprintf(stdout, "%s\n", msg)
	}
}

// readInput sends args, or the lines of stdin when there are none, to input, and closes
// it at the end. A read of stdin cannot be interrupted: if ctx ends during one, readInput
// returns once it does.
func readInput(ctx context.Context, args []string, stdin io.Reader, input chan<- string) {
	defer close(input)
	send := func(s string) bool {
		select {
		case input <- s:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if len(args) > 0 {
		for _, a := range args {
			if !send(a) {
				return
			}
		}
		return
	}
	lines := bufio.NewScanner(stdin)
	for lines.Scan() {
		if !send(lines.Text()) {
			return
		}
	}
}
