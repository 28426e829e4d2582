package bench

import (
	"net"
	"sync"
)

// wireMax bounds the bytes a wire holds before writing them, a 64 KiB message and its
// header: a write of more goes out at once, behind what was held.
const wireMax = 64<<10 + 64

// wire is the network connection under a run's connection, WebSocket or rawtcp, through
// which every byte it sends goes. It saves the generator system calls, each of which
// costs about what a message costs the server (on loopback, a write carries the message
// through the receiver's TCP stack too):
//
//   - Held writes: between hold and flush, the bytes written wait in the wire's buffer,
//     so that the messages a pipelined writer has ready go out in one write, as a server
//     would read them, rather than in one write each. The frames are the library's own,
//     each masked with its own key.
//   - flushAwait writes the held bytes and then waits until the socket has bytes to read,
//     which a closed loop, which reads the reply next, would otherwise learn by a read that
//     finds nothing (EAGAIN) before waiting: a third system call per message. See
//     wire_unix.go.
//
// Writes are serialised by a mutex, so that a write of the library (a pong, a close) from
// another goroutine goes out whole, before or within the held bytes.
//
// An event loop (loop_linux.go) reads and writes the socket itself, and hands the
// connection back with the bytes it read but did not take, which reads then return first.
type wire struct {
	net.Conn
	raw rawConn // where waiting for the reply is possible: a TCP connection on Unix

	mu      sync.Mutex
	holding bool
	out     []byte // the bytes held

	unread []byte // bytes an event loop read, for the reads that follow; the reader's
}

func newWire(c net.Conn) *wire {
	w := &wire{Conn: c}
	w.raw.init(c)
	return w
}

// Read reads what an event loop left unread first, then the connection.
func (w *wire) Read(p []byte) (int, error) {
	if len(w.unread) > 0 {
		n := copy(p, w.unread)
		w.unread = w.unread[n:]
		return n, nil
	}
	return w.Conn.Read(p)
}

// Write writes p, or holds it until flush while the wire holds writes and p fits.
func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.holding && len(w.out)+len(p) <= wireMax {
		w.out = append(w.out, p...)
		return len(p), nil
	}
	if err := w.writeOut(); err != nil {
		return 0, err
	}
	return w.Conn.Write(p)
}

// hold makes the writes that follow wait in the wire until flush.
func (w *wire) hold() {
	w.mu.Lock()
	w.holding = true
	w.mu.Unlock()
}

// flush writes the bytes held, in one write, and stops holding.
func (w *wire) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.holding = false
	return w.writeOut()
}

// flushAwait is flush, and then waits until the connection has bytes to read, or is
// closed, without reading them; with bytes left unread, a read can go ahead, and it does
// not wait. Only the goroutine that reads the connection may call it.
func (w *wire) flushAwait() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.holding = false
	if len(w.out) == 0 {
		return nil
	}
	if len(w.unread) > 0 {
		return w.writeOut()
	}
	n, err := w.raw.writeAwait(w.out)
	if n == len(w.out) || err != nil {
		w.out = w.out[:0]
		return err
	}
	// Not all of it went out at once (the socket's buffer is full), or this platform cannot
	// wait: the rest is written the ordinary way, and the read that follows waits.
	w.out = w.out[:copy(w.out, w.out[n:])]
	return w.writeOut()
}

// writeOut writes the bytes held; w.mu is held.
func (w *wire) writeOut() error {
	if len(w.out) == 0 {
		return nil
	}
	_, err := w.Conn.Write(w.out)
	w.out = w.out[:0]
	return err
}
