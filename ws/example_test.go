package ws_test

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/duplex-ws/duplex/ws"
)

// An echo server, and a client that sends it a message and reads the reply.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered with an HTTP error
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return // the peer closed, or the connection failed
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, ws.MessageText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s\n", typ, msg)
	if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
		log.Fatal(err)
	}
	// Output: text: hello
}

// The server lists the subprotocols it speaks, in its order of preference; the client
// offers its own. The handshake succeeds even when they have none in common.
func ExampleAccept() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{Subprotocols: []string{"chat.v2", "chat.v1"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		greeting := "speaking " + cmp.Or(c.Subprotocol(), "no subprotocol")
		if err := c.Write(r.Context(), ws.MessageText, []byte(greeting)); err != nil {
			return
		}
		c.Close(ws.StatusNormalClosure, "")
	}))
	defer srv.Close()

	ctx := context.Background()
	for _, offer := range [][]string{{"chat.v1", "chat.v2"}, {"chat.v1"}, {"chat.v3"}} {
		c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &ws.DialOptions{Subprotocols: offer})
		if err != nil {
			log.Fatal(err)
		}
		_, msg, err := c.Read(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("offered %v, agreed %q: %s\n", offer, c.Subprotocol(), msg)
		c.Close(ws.StatusNormalClosure, "")
	}
	// Output:
	// offered [chat.v1 chat.v2], agreed "chat.v2": speaking chat.v2
	// offered [chat.v1], agreed "chat.v1": speaking chat.v1
	// offered [chat.v3], agreed "": speaking no subprotocol
}

// Dial sends extra headers with its opening handshake. When the server answers with
// something other than 101, the error wraps ErrBadHandshake and the response says why.
func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer let-me-in" {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if err := c.Write(r.Context(), ws.MessageText, []byte("welcome")); err != nil {
			return
		}
		c.Close(ws.StatusNormalClosure, "")
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ctx := context.Background()

	_, resp, err := ws.Dial(ctx, url, nil)
	if errors.Is(err, ws.ErrBadHandshake) && resp != nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("refused: %s: %s", resp.Status, body)
	}

	c, resp, err := ws.Dial(ctx, url, &ws.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer let-me-in"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	fmt.Println("accepted:", resp.Status)
	_, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", msg)
	_, _, err = c.Read(ctx)
	fmt.Println("then:", ws.CloseStatus(err))
	// Output:
	// refused: 401 Unauthorized: who are you?
	// accepted: 101 Switching Protocols
	// welcome
	// then: normal closure
}

// A message too large to hold in memory is read as a stream: here line by line.
func ExampleConn_Reader() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		mw, err := c.Writer(r.Context(), ws.MessageText)
		if err != nil {
			return
		}
		for i := 1; i <= 10_000; i++ {
			fmt.Fprintf(mw, "line %d\n", i)
		}
		if err := mw.Close(); err != nil {
			return
		}
		c.Close(ws.StatusNormalClosure, "")
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	typ, r, err := c.Reader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	lines, last := 0, ""
	for sc := bufio.NewScanner(r); sc.Scan(); {
		lines++
		last = sc.Text()
	}
	fmt.Printf("a %s message of %d lines, the last %q\n", typ, lines, last)
	c.Close(ws.StatusNormalClosure, "")
	// Output: a text message of 10000 lines, the last "line 10000"
}

// A message is written as a stream, by anything that writes to an io.Writer: it goes out
// in frames as its bytes are written, and ends when the writer is closed.
func ExampleConn_Writer() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			reply := fmt.Sprintf("received a %s message of %d bytes", typ, len(msg))
			if err := c.Write(r.Context(), ws.MessageText, []byte(reply)); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	w, err := c.Writer(ctx, ws.MessageBinary)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(w, strings.NewReader(strings.Repeat("0123456789", 20_000))); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	_, reply, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply)
	c.Close(ws.StatusNormalClosure, "")
	// Output: received a binary message of 200000 bytes
}

// Close performs the closing handshake: the peer's reads end with the code and reason.
func ExampleConn_Close() {
	serverRead := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, err = c.Read(r.Context())
		serverRead <- err
	}))
	defer srv.Close()

	c, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Close:", c.Close(ws.StatusNormalClosure, "bye"))
	fmt.Println("the server's Read:", <-serverRead)
	// Output:
	// Close: <nil>
	// the server's Read: ws: closed by peer: 1000 (normal closure): bye
}

// CloseStatus tells a normal closure from an error, and an application's own close codes
// (4000–4999 are private) from each other.
func ExampleCloseStatus() {
	const sessionExpired ws.StatusCode = 4001
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Close(sessionExpired, "session expired")
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(ctx)
	switch ws.CloseStatus(err) {
	case ws.StatusNormalClosure, ws.StatusGoingAway:
		fmt.Println("done")
	case sessionExpired:
		fmt.Println("the session expired: log in again")
	case -1:
		fmt.Println("the connection failed:", err)
	default:
		fmt.Println("closed:", err)
	}
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		fmt.Printf("code %d (%v), reason %q\n", ce.Code, ce.Code, ce.Reason)
	}
	// Output:
	// the session expired: log in again
	// code 4001 (status 4001), reason "session expired"
}

// NetConn runs code written for a net.Conn over a WebSocket: here a line-based protocol,
// whose lines need not match the messages that carry them.
func ExampleNetConn() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		nc := ws.NetConn(r.Context(), c, ws.MessageBinary)
		defer nc.Close()
		lines := bufio.NewScanner(nc)
		for lines.Scan() {
			fmt.Fprintln(nc, strings.ToUpper(lines.Text()))
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	nc := ws.NetConn(ctx, c, ws.MessageBinary)
	defer nc.Close()
	fmt.Fprint(nc, "hello\nwor") // one message, a line and a half
	fmt.Fprint(nc, "ld\n")
	replies := bufio.NewReader(nc)
	for range 2 {
		line, err := replies.ReadString('\n')
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(line)
	}
	// Output:
	// HELLO
	// WORLD
}

// ReadJSON and WriteJSON carry one JSON value per text message.
func ExampleConn_ReadJSON() {
	type request struct {
		Op   string `json:"op"`
		Args []int  `json:"args"`
	}
	type response struct {
		Result int    `json:"result"`
		Error  string `json:"error,omitempty"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			var req request
			if err := c.ReadJSON(r.Context(), &req); err != nil {
				return
			}
			var resp response
			switch req.Op {
			case "sum":
				for _, a := range req.Args {
					resp.Result += a
				}
			default:
				resp.Error = "unknown op " + req.Op
			}
			if err := c.WriteJSON(r.Context(), resp); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	for _, req := range []request{{"sum", []int{1, 2, 3}}, {"div", []int{1, 0}}} {
		if err := c.WriteJSON(ctx, req); err != nil {
			log.Fatal(err)
		}
		var resp response
		if err := c.ReadJSON(ctx, &resp); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%+v\n", resp)
	}
	c.Close(ws.StatusNormalClosure, "")
	// Output:
	// {Result:6 Error:}
	// {Result:0 Error:unknown op div}
}

// A server for many mostly idle connections: the handler returns once Accept has
// succeeded, and each connection is read only when WhenReadable says a read is due, so that
// between messages it holds no goroutine. Its answers are queued and go out together, in
// one write, once a burst of messages has been read.
func ExampleConn_WhenReadable() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx := context.Background() // r.Context() ends when the handler returns
		var serve func()
		serve = func() {
			for {
				typ, msg, err := c.Read(ctx)
				if err != nil {
					c.CloseNow()
					return
				}
				if err := c.Queue(ctx, typ, append([]byte("echo: "), msg...)); err != nil {
					c.CloseNow()
					return
				}
				if c.Buffered() == 0 {
					break // the burst is over
				}
			}
			if err := c.Flush(ctx); err != nil {
				c.CloseNow()
				return
			}
			c.WhenReadable(serve)
		}
		c.WhenReadable(serve)
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	for _, m := range []string{"one", "two", "three"} {
		if err := c.Queue(ctx, ws.MessageText, []byte(m)); err != nil {
			log.Fatal(err)
		}
	}
	if err := c.Flush(ctx); err != nil { // the three messages in one write
		log.Fatal(err)
	}
	for range 3 {
		_, msg, err := c.Read(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", msg)
	}
	c.Close(ws.StatusNormalClosure, "")
	// Output:
	// echo: one
	// echo: two
	// echo: three
}

// A server that answers each message from Serve's handler: the answers to messages that
// arrive together go out in one write, and each message costs fewer system calls than in a
// loop of reads (two for an echo on plain TCP on Unix, against three).
func ExampleConn_Serve() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		err = c.Serve(ctx, 0, func(typ ws.MessageType, p []byte) error {
			// p is valid until the handler returns: Queue copies it.
			return c.Queue(ctx, typ, append([]byte("echo: "), p...))
		})
		if ws.CloseStatus(err) != ws.StatusNormalClosure {
			log.Print(err)
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	for _, m := range []string{"one", "two"} {
		if err := c.Write(ctx, ws.MessageText, []byte(m)); err != nil {
			log.Fatal(err)
		}
		_, msg, err := c.Read(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", msg)
	}
	c.Close(ws.StatusNormalClosure, "")
	// Output:
	// echo: one
	// echo: two
}
