package ws

import (
	"os"
	"sync"
	"syscall"
)

// poller is the epoll instance that [Conn.WhenReadable] registers sockets with. Its own
// descriptor is non-blocking and watched by the runtime's poller, so the one goroutine
// that drains it parks like any network read, without holding a thread in epoll_wait.
// Each registration is one-shot (EPOLLONESHOT) and keyed by a token, a slot of a table,
// not by descriptor: a closing connection frees its slot before its socket is closed, so
// an event never reaches a connection through a descriptor number reused since.
type poller struct {
	once sync.Once
	epfd int
	file *os.File        // epfd, kept reachable: its finalizer would close it
	rc   syscall.RawConn // of epfd; nil if the poller could not start

	mu    sync.Mutex
	waits []*Conn  // by token-1; nil in a free slot
	free  []uint32 // the free slots
}

var readiness poller

func (p *poller) start() {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return
	}
	f := os.NewFile(uintptr(epfd), "ws-epoll") // non-blocking: the runtime polls it
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return
	}
	p.epfd, p.file, p.rc = epfd, f, rc
	go p.run()
}

// arm registers f to be called when c's socket is readable. It reports false, having
// done nothing, if it cannot: not plain TCP, the poller unavailable, c closing, or a wait
// already pending. readLock is held.
func (p *poller) arm(c *Conn, f func()) bool {
	if !c.raw.ready() {
		return false
	}
	p.once.Do(p.start)
	if p.rc == nil {
		return false
	}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	w := &c.ready
	if w.f != nil || c.closeCause != nil {
		return false
	}
	token := p.add(c)
	var errno error
	err := c.raw.rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{
			Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
			Fd:     int32(token),
		}
		if w.registered {
			errno = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
			if errno != syscall.ENOENT {
				return
			}
		}
		errno = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || errno != nil {
		p.forget(token)
		return false
	}
	w.registered = true
	w.f, w.token = f, token
	return true
}

// add gives c a token: a free slot of the table, numbered from 1.
func (p *poller) add(c *Conn) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var i uint32
	if n := len(p.free); n > 0 {
		i = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		p.waits = append(p.waits, nil)
		i = uint32(len(p.waits) - 1)
	}
	p.waits[i] = c
	return i + 1
}

// forget frees token's slot.
func (p *poller) forget(token uint32) { p.take(token) }

// take frees token's slot and returns the connection it held, if any. A slot reused
// since an event was queued gives that event to its new connection: a wake-up for
// nothing, which WhenReadable allows.
func (p *poller) take(token uint32) *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := int(token) - 1
	if i < 0 || i >= len(p.waits) || p.waits[i] == nil {
		return nil
	}
	c := p.waits[i]
	p.waits[i] = nil
	p.free = append(p.free, uint32(i))
	return c
}

// run drains the epoll instance for good, firing the waits whose sockets are ready.
func (p *poller) run() {
	events := make([]syscall.EpollEvent, 256)
	var n int
	drain := func(fd uintptr) bool {
		for {
			var err error
			n, err = syscall.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				continue
			}
			n = max(n, 0)
			return n > 0 // nothing ready (or an error, which only a bug can cause): wait
		}
	}
	for {
		if err := p.rc.Read(drain); err != nil {
			return // the descriptor was closed: never, as it lives as long as the process
		}
		for _, ev := range events[:n] {
			token := uint32(ev.Fd)
			if c := p.take(token); c != nil {
				c.fireReady(token)
			}
		}
	}
}
