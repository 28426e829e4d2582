package ws_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// A Writer whose context ends between two frames of its message leaves the message
// unfinished on the wire, which nothing may follow: the connection must be closed, and
// later writes fail, rather than send a new message the peer would reject with 1002
// (RFC 6455 §5.4).
func TestRegressionWriterCancelledMidMessage(t *testing.T) {
	a, b := net.Pipe()
	srv := ws.NewConnForTest(a, false, &ws.ConnOptions{CloseTimeout: 300 * time.Millisecond})
	cli := ws.NewConnForTest(b, true, &ws.ConnOptions{CloseTimeout: 300 * time.Millisecond})
	defer srv.CloseNow()
	defer cli.CloseNow()

	first := bytes.Repeat([]byte("a"), 5000) // > WriteBufferSize: sent as a frame at once
	gotFirst := make(chan io.Reader)
	readErr := make(chan error, 1)
	resume := make(chan struct{})
	go func() {
		_, r, err := cli.Reader(context.Background())
		if err != nil {
			readErr <- err
			return
		}
		buf := make([]byte, len(first))
		if _, err := io.ReadFull(r, buf); err != nil {
			readErr <- err
			return
		}
		gotFirst <- r
		<-resume // the client stops reading for a while
		_, err = io.ReadAll(r)
		readErr <- err
	}()

	ctx, cancel := context.WithCancel(context.Background())
	w, err := srv.Writer(ctx, ws.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	<-gotFirst
	cancel()
	if err := w.Close(); err == nil {
		t.Fatal("Close of the writer succeeded with a cancelled context")
	} else {
		t.Logf("Writer.Close: %v", err)
	}
	close(resume)
	// The connection was not closed: the next message is written...
	werr := srv.Write(context.Background(), ws.MessageText, []byte("hello"))
	t.Logf("next Write: %v", werr)
	// ...and the peer fails the connection because of it.
	rerr := <-readErr
	var pe *ws.ProtocolError
	if werr == nil && errors.As(rerr, &pe) {
		t.Fatalf("stream corrupted: next Write returned nil, peer failed with %v", rerr)
	}
}

// Two pings share a payload and the first gives up: the second must still be woken by
// the pong, as PingPayload's doc promises.
func TestRegressionPingPayloadSharedForget(t *testing.T) {
	a, b := net.Pipe()
	srv := ws.NewConnForTest(a, false, nil)
	defer srv.CloseNow()
	defer b.Close()
	go srv.Read(context.Background()) // receives the pongs

	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { done1 <- srv.PingPayload(ctx1, []byte("x")) }()
	// read the first ping frame (server frames are unmasked: 0x89 0x01 'x')
	var f [3]byte
	if _, err := io.ReadFull(b, f[:]); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	done2 := make(chan error, 1)
	go func() { done2 <- srv.PingPayload(ctx2, []byte("x")) }()
	if _, err := io.ReadFull(b, f[:]); err != nil {
		t.Fatal(err)
	}
	cancel1()
	<-done1
	// The pong for "x", masked with a zero key.
	if _, err := b.Write([]byte{0x8A, 0x81, 0, 0, 0, 0, 'x'}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := <-done2
	if err != nil {
		t.Fatalf("second PingPayload: %v after %v, though its pong arrived", err, time.Since(start))
	}
}

// A compressed Write spans several frames; a context ending between them must close the
// connection, never leave the message open and start another.
func TestRegressionCompressedWriteCancelledMidMessage(t *testing.T) {
	a, b := net.Pipe()
	srv := ws.NewCompressedConnForTest(a, false, nil, ws.CompressionNoContextTakeover, 15, 15)
	defer srv.CloseNow()
	defer b.Close()

	type frame struct {
		b0  byte
		len int
	}
	frames := make(chan frame, 16)
	pause := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			var h [4]byte
			if _, err := io.ReadFull(b, h[:2]); err != nil {
				close(frames)
				return
			}
			n := int(h[1] & 0x7f)
			if n == 126 {
				io.ReadFull(b, h[2:4])
				n = int(h[2])<<8 | int(h[3])
			}
			io.CopyN(io.Discard, b, int64(n))
			frames <- frame{h[0], n}
			if i == 0 {
				<-pause // stop reading after the first frame
			}
		}
	}()
	p := make([]byte, 8000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range p {
		p[i] = byte(rng.Uint32()) // incompressible
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := srv.WriteCompressed(ctx, ws.MessageBinary, p, true)
	t.Logf("WriteCompressed(8000 bytes): %v", err)
	close(pause)
	werr := srv.Write(context.Background(), ws.MessageText, []byte("next"))
	t.Logf("next Write: %v", werr)
	srv.CloseNow()
	var got []frame
	for f := range frames {
		got = append(got, f)
	}
	for _, f := range got {
		t.Logf("frame: fin=%v rsv1=%v op=%d len=%d", f.b0&0x80 != 0, f.b0&0x40 != 0, f.b0&0x0f, f.len)
	}
	if err != nil && werr == nil && len(got) >= 2 && got[0].b0&0x80 == 0 && got[len(got)-1].b0&0x0f != 0 {
		t.Fatalf("a new message was sent while the previous one was still open (FIN=0 first frame)")
	}
}

// Read's context bounds the pong it writes for a ping: a peer that pings and then stops
// reading must not keep Read blocked past its context.
func TestRegressionReadCtxBoundsPong(t *testing.T) {
	a, b := net.Pipe()
	srv := ws.NewConnForTest(a, false, &ws.ConnOptions{CloseTimeout: 100 * time.Millisecond})
	defer b.Close()
	// A masked ping (zero key) from the client, which then reads nothing.
	go b.Write([]byte{0x89, 0x81, 0, 0, 0, 0, 'p'})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := srv.Read(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("Read returned: %v", err)
	case <-time.After(2 * time.Second):
		srv.CloseNow()
		err := <-done
		t.Fatalf("Read(ctx) still blocked 2s after a 100ms context ended (pong write); after CloseNow: %v", err)
	}
	srv.CloseNow()
}

// Keepalive counts bytes, not frames: a peer streaming one large frame steadily, which
// cannot answer a ping until the frame ends, is alive and must not be dropped.
func TestRegressionKeepaliveCountsBytes(t *testing.T) {
	a, b := net.Pipe()
	srv := ws.NewConnForTest(a, false, &ws.ConnOptions{PingInterval: 100 * time.Millisecond, PongTimeout: 100 * time.Millisecond, CloseTimeout: 50 * time.Millisecond})
	defer srv.CloseNow()
	defer b.Close()
	go io.Copy(io.Discard, b) // the peer reads everything we send (pings included)
	const size = 60 << 10
	go func() {
		// One masked binary frame of 64 KiB (zero key), sent at ~64 KiB/s: 1 s in all.
		b.Write([]byte{0x82, 0x80 | 126, size >> 8, size & 0xff, 0, 0, 0, 0})
		chunk := make([]byte, 1024)
		for i := 0; i < size/len(chunk); i++ {
			if _, err := b.Write(chunk); err != nil {
				return
			}
			time.Sleep(15 * time.Millisecond)
		}
	}()
	_, msg, err := srv.Read(context.Background())
	if err != nil {
		t.Fatalf("Read of a frame arriving steadily: %v (after %d bytes)", err, len(msg))
	}
}

// A Writer abandoned after its connection failed holds the message lock: a later Write
// with a Background context on the closed connection must still return.
func TestRegressionAbandonedWriterDoesNotHangWrite(t *testing.T) {
	a, b := net.Pipe()
	srv := ws.NewConnForTest(a, false, nil)
	b.Close() // the peer is gone
	w, err := srv.Writer(context.Background(), ws.MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 10000)); err == nil {
		t.Fatal("write to a gone peer succeeded")
	} // the caller returns on the error, without w.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Write(context.Background(), ws.MessageText, []byte("x")) }()
	select {
	case err := <-done:
		t.Logf("Write on the closed connection: %v", err)
	case <-time.After(time.Second):
		w.Close() // release the goroutine
		<-done
		t.Fatal("Write(Background) on a closed connection blocked: the abandoned Writer holds msgLock")
	}
}

// A reader goroutine that is between two Reads when Close starts gets the messages Close read and kept, even though Close closes
// the connection right after handing the read lock back (a waiter handed the lock must
// take it, whichever of its wake-ups it sees first).
func TestRegressionCloseHandsKeptMessagesToReader(t *testing.T) {
	for round := range 100 {
		srv, cli := tcpPair(t)
		s := ws.NewConnForTest(srv, false, nil)
		c := ws.NewConnForTest(cli, true, nil)
		go func() { // an echo server
			defer s.CloseNow()
			for {
				typ, msg, err := s.Read(context.Background())
				if err != nil {
					return
				}
				if s.Write(context.Background(), typ, msg) != nil {
					return
				}
			}
		}()
		got := make(chan int, 1)
		go func() {
			n := 0
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					got <- n
					return
				}
				n++
			}
		}()
		for i := range 3 {
			if err := c.Write(context.Background(), ws.MessageText, []byte{byte('a' + i)}); err != nil {
				t.Fatal(err)
			}
		}
		c.Close(ws.StatusNormalClosure, "")
		if n := <-got; n != 3 {
			t.Fatalf("round %d: the reader got %d of the 3 echoes", round, n)
		}
		c.CloseNow()
	}
}
