// Command client is the Autobahn|Testsuite testee for Duplex as a client. It asks the
// suite's fuzzing server how many cases there are, runs each by echoing every message of
// ws://…/runCase?case=N&agent=AGENT, and finally asks for the reports to be written.
//
//	go run ./internal/autobahn/client -url ws://127.0.0.1:9001 -agent duplex
//
// -compress chooses the permessage-deflate (RFC 7692) offered in each case's dial, which
// the suite's cases 12.* and 13.* need: "takeover" (the default), "no-takeover" or "none".
// When compression is agreed every message is compressed, however small.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/duplex-ws/duplex/internal/autobahn"
	"github.com/duplex-ws/duplex/ws"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "ws://127.0.0.1:9001", "the fuzzing server's URL")
	agent := fs.String("agent", "duplex", "the agent name the reports use")
	cases := fs.String("cases", "", "run only these case numbers (comma-separated; default all)")
	caseTimeout := fs.Duration("case-timeout", 5*time.Minute, "longest a single case may run")
	compress := fs.String("compress", "takeover", "permessage-deflate offered in the cases: none, no-takeover or takeover")
	if err := fs.Parse(args); err != nil {
		return err
	}
	deflate, err := autobahn.Compression(*compress)
	if err != nil {
		return err
	}
	opts := &ws.DialOptions{ConnOptions: ws.ConnOptions{ReadLimit: autobahn.ReadLimit}}
	// The cases offer compression; the control connections (case count, reports) do not.
	caseOpts := *opts
	caseOpts.Compression = deflate

	var numbers []int
	if *cases != "" {
		for _, s := range strings.Split(*cases, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("bad case number %q", s)
			}
			numbers = append(numbers, n)
		}
	} else {
		count, err := caseCount(ctx, *base, opts)
		if err != nil {
			return err
		}
		for n := 1; n <= count; n++ {
			numbers = append(numbers, n)
		}
	}

	for _, n := range numbers {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		u := *base + "/runCase?case=" + strconv.Itoa(n) + "&agent=" + url.QueryEscape(*agent)
		caseCtx, cancel := context.WithTimeout(ctx, *caseTimeout)
		err := runCase(caseCtx, u, &caseOpts)
		cancel()
		fmt.Fprintf(stdout, "case %d/%d: %v\n", n, len(numbers), describe(err))
	}

	u := *base + "/updateReports?agent=" + url.QueryEscape(*agent)
	c, _, err := ws.Dial(ctx, u, opts)
	if err != nil {
		return fmt.Errorf("updating reports: %w", err)
	}
	// The server closes once the reports are written.
	for {
		if _, _, err := c.Read(ctx); err != nil {
			break
		}
	}
	c.CloseNow()
	fmt.Fprintln(stdout, "reports updated")
	return nil
}

// caseCount asks the fuzzing server how many cases it has.
func caseCount(ctx context.Context, base string, opts *ws.DialOptions) (int, error) {
	c, _, err := ws.Dial(ctx, base+"/getCaseCount", opts)
	if err != nil {
		return 0, fmt.Errorf("getting the case count: %w", err)
	}
	defer c.CloseNow()
	_, msg, err := c.Read(ctx)
	if err != nil {
		return 0, fmt.Errorf("getting the case count: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(msg)))
	if err != nil {
		return 0, fmt.Errorf("case count %q is not a number", msg)
	}
	c.Close(ws.StatusNormalClosure, "")
	return n, nil
}

// runCase echoes the messages of one case until the server closes.
func runCase(ctx context.Context, u string, opts *ws.DialOptions) error {
	c, _, err := ws.Dial(ctx, u, opts)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	return autobahn.Echo(ctx, c)
}

func describe(err error) string {
	if code := ws.CloseStatus(err); code != -1 {
		return "closed " + strconv.Itoa(int(code))
	}
	return err.Error()
}
