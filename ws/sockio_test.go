//go:build linux && !386 && !s390x

package ws_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

// Tests of a plain TCP connection's own reads and writes on Linux (sockio_sys.go,
// rawread_unix.go, rawwrite_unix.go): recvfrom, sendto and sendmsg with MSG_DONTWAIT,
// most of them made without the scheduler's bookkeeping for a system call. They must
// behave as net.Conn's Read and Write do: wait for bytes or room in the runtime's poller,
// never in the kernel, end at a deadline, write whole frames in order however the socket
// takes them, and fail as net.Conn's Write fails.

// setBlocking puts nc's socket in blocking mode, as (*os.File).Fd does to a duplicate of
// it (from net.TCPConn's File), which shares its file flags.
func setBlocking(t testing.TB, nc net.Conn) {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
}

// TestSocketCallsNeverWaitInTheKernel: with the socket's file in blocking mode, a read
// with nothing to read, a TryFlush to a full socket and a Write to a full socket still
// wait only where a deadline or context can end them. (A read(2) or write(2) there would
// wait in the kernel, holding its thread, past any deadline; and, made without the
// scheduler's bookkeeping, holding its P too.)
func TestSocketCallsNeverWaitInTheKernel(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		a, b := tcpPair(t)
		setBlocking(t, a)
		c := ws.NewConnForTest(a, false, &ws.ConnOptions{})
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, _, err := c.Read(ctx)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Read with nothing to read = %v; want the context's deadline", err)
			}
		case <-time.After(10 * time.Second):
			b.Close() // let the read go, if it waits in the kernel
			t.Fatal("Read with nothing to read did not end at its context's deadline")
		}
	})
	t.Run("serve", func(t *testing.T) {
		a, b := tcpPair(t)
		setBlocking(t, a)
		c := ws.NewConnForTest(a, false, &ws.ConnOptions{})
		defer c.CloseNow()
		done := make(chan error, 1)
		go func() {
			done <- c.Serve(context.Background(), 100*time.Millisecond, func(ws.MessageType, []byte) error { return nil })
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve with nothing to read, idle 100ms = %v; want nil, idle", err)
			}
		case <-time.After(10 * time.Second):
			b.Close()
			t.Fatal("Serve with nothing to read did not return once idle")
		}
	})
	for _, r := range roles {
		t.Run("write/"+r.String(), func(t *testing.T) {
			c, p := newDeflatePair(t, r, readWhole, nil, ws.CompressionDisabled, 15, 15, func(nc net.Conn) net.Conn {
				if err := nc.(*net.TCPConn).SetWriteBuffer(128 << 10); err != nil {
					t.Fatal(err)
				}
				setBlocking(t, nc)
				return nc
			})
			// TryFlush, with a peer that does not read, returns false once the socket
			// is full: it did not wait for room.
			tried := make(chan error, 1)
			go func() {
				for i := 0; ; i++ {
					if err := c.Queue(context.Background(), ws.MessageBinary, numbered(i, 3000)); err != nil {
						tried <- err
						return
					}
					if sent, err := c.TryFlush(); !sent || err != nil {
						tried <- err
						return
					}
				}
			}()
			select {
			case err := <-tried:
				if err != nil {
					t.Fatalf("TryFlush to a socket filling up: %v", err)
				}
			case <-time.After(10 * time.Second):
				p.nc.Close()
				t.Fatal("TryFlush to a full socket did not return")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Write(ctx, ws.MessageBinary, make([]byte, 1<<20)) }()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Write to a full socket = %v; want the context's deadline", err)
				}
			case <-time.After(10 * time.Second):
				p.nc.Close()
				t.Fatal("Write to a full socket did not end at its context's deadline")
			}
		})
	}
}

// TestSocketWritesWholeInOrder: frames of every size a write takes a path for (a queue
// of small ones, sendto; a server's large frame as header and payload, sendmsg; a
// client's, masked in chunks of up to 256 KiB, sendto) reach a peer that reads slowly, a
// few KiB at a time, byte for byte and in order (RFC 6455 §5.2, §5.4), though the socket
// takes each in many pieces.
func TestSocketWritesWholeInOrder(t *testing.T) {
	sizes := []int{100, 5000, 64 << 10, 200 << 10, 300 << 10, 1 << 20}
	for _, r := range roles {
		t.Run(r.String(), func(t *testing.T) {
			c, p := newSmallBufferPair(t, r)
			var msgs [][]byte
			for i, size := range sizes {
				msgs = append(msgs, numbered(i, size))
			}
			written := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				for i, m := range msgs {
					var err error
					if i%2 == 0 {
						err = c.Write(ctx, ws.MessageBinary, m)
					} else if err = c.Queue(ctx, ws.MessageBinary, m); err == nil {
						err = c.Flush(ctx)
					}
					if err != nil {
						written <- err
						return
					}
				}
				written <- nil
			}()
			// Read slowly: a few KiB at a time, pausing, so that the writer's socket fills.
			var got bytes.Buffer
			want := p.wireLen(msgs)
			buf := make([]byte, 7<<10)
			deadline := time.Now().Add(20 * time.Second)
			for got.Len() < want && time.Now().Before(deadline) {
				p.nc.SetReadDeadline(deadline)
				n, err := p.nc.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					t.Fatalf("peer read after %d of %d bytes: %v", got.Len(), want, err)
				}
				if got.Len() < 256<<10 {
					time.Sleep(100 * time.Microsecond)
				}
			}
			if err := <-written; err != nil {
				t.Fatalf("writing: %v", err)
			}
			p.br.Reset(io.MultiReader(bytes.NewReader(got.Bytes()), p.nc))
			frames := p.collect(time.Now(), false)
			expectNumbered(t, frames, msgs)
			expectEnd(t, c, frames)
		})
	}
}

// TestSocketWriteFailsAsNetConn: a write to a connection the peer has reset fails as
// net.Conn's Write would: a *net.OpError whose Op is "write", wrapping the system call's
// error, ECONNRESET or EPIPE; the connection is then closed for later writes.
func TestSocketWriteFailsAsNetConn(t *testing.T) {
	c, p := newPair(t, asServer, readWhole, nil)
	p.nc.(*net.TCPConn).SetLinger(0)
	p.nc.Close() // a reset
	time.Sleep(20 * time.Millisecond)
	var err error
	for range 100 { // the first writes may go out before the reset is seen
		if err = c.Write(context.Background(), ws.MessageBinary, make([]byte, 100)); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("Write after a reset = %v; want a *net.OpError with Op \"write\"", err)
	}
	var se *os.SyscallError
	if !errors.As(err, &se) || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		t.Fatalf("Write after a reset = %v; want ECONNRESET or EPIPE from write", err)
	}
	if strings.Contains(err.Error(), "raw-write") {
		t.Fatalf("Write after a reset = %q; want net.Conn's wording, not RawConn's", err)
	}
	if err := c.Write(context.Background(), ws.MessageBinary, []byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after a failed write = %v; want net.ErrClosed", err)
	}
}
