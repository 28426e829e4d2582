package srv

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Subscribers is the set of connections subscribed to a broadcast. Publishers read it
// without locking, as a snapshot: Add and Remove replace the list with a changed copy,
// which costs O(subscribers) per join or leave and nothing per message.
type Subscribers[T comparable] struct {
	mu   sync.Mutex // serialises Add and Remove
	list atomic.Pointer[[]T]
}

// Add subscribes t.
func (s *Subscribers[T]) Add(t T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []T
	if p := s.list.Load(); p != nil {
		old = *p
	}
	list := append(slices.Clip(old), t) // a copy: old's capacity is exhausted
	s.list.Store(&list)
}

// Remove unsubscribes t, if it is subscribed.
func (s *Subscribers[T]) Remove(t T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.list.Load()
	if p == nil {
		return
	}
	i := slices.Index(*p, t)
	if i < 0 {
		return
	}
	list := slices.Delete(slices.Clone(*p), i, i+1)
	s.list.Store(&list)
}

// Snapshot returns the subscribers at the time of the call. It must not be modified.
func (s *Subscribers[T]) Snapshot() []T {
	if p := s.list.Load(); p != nil {
		return *p
	}
	return nil
}

// QueueLen is how many messages a subscriber's Queue holds before Send waits.
const QueueLen = 256

// Queue is one subscriber's outgoing messages, written by a goroutine of its own: a
// publisher hands a message to every subscriber's queue and goes back to reading, while the
// subscribers' writers send it in parallel. Send waits while the queue is full, so a slow
// subscriber slows its publishers down (backpressure) rather than losing messages or
// holding an unbounded backlog.
type Queue[M any] struct {
	ch      chan M
	done    chan struct{} // closed by Stop, or by the writer when a write fails
	once    sync.Once
	stopped chan struct{} // closed when the writer has returned
}

// NewQueue starts a subscriber's writer, which calls write for each message sent, in
// order, until Stop is called or write fails; fail is then called, to end the connection.
func NewQueue[M any](write func(M) error, fail func()) *Queue[M] {
	return NewBatchQueue(func(m M, _ bool) error { return write(m) }, fail)
}

// NewBatchQueue is NewQueue for a library that can send several messages in one write:
// write is told, with each message, whether more are already waiting behind it, so that
// it may hold this one back and send them all with the last.
func NewBatchQueue[M any](write func(m M, more bool) error, fail func()) *Queue[M] {
	q := &Queue[M]{ch: make(chan M, QueueLen), done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(q.stopped)
		for {
			select {
			case m := <-q.ch:
				if write(m, len(q.ch) > 0) != nil {
					q.stop()
					fail()
					return
				}
			case <-q.done:
				return
			}
		}
	}()
	return q
}

// Send queues m, waiting while the queue is full. It drops m if the writer has stopped.
func (q *Queue[M]) Send(m M) {
	select {
	case q.ch <- m:
	case <-q.done:
	}
}

// Stop stops the writer, discarding the messages still queued, and waits for it to return.
func (q *Queue[M]) Stop() {
	q.stop()
	<-q.stopped
}

func (q *Queue[M]) stop() { q.once.Do(func() { close(q.done) }) }

// Broadcast delivers every message published to every subscriber, each through its own
// Queue. It is the fan-out of the servers whose library leaves it to the application.
type Broadcast[M any] struct {
	subs Subscribers[*Queue[M]]
}

// Join subscribes a connection, which write sends a message to; fail ends the connection
// when a write fails. The subscriber leaves when leave is called, which waits for its
// writer to return.
func (b *Broadcast[M]) Join(write func(M) error, fail func()) (leave func()) {
	return b.join(NewQueue(write, fail))
}

// JoinBatch is Join with a writer that is told whether more messages wait (NewBatchQueue).
func (b *Broadcast[M]) JoinBatch(write func(m M, more bool) error, fail func()) (leave func()) {
	return b.join(NewBatchQueue(write, fail))
}

func (b *Broadcast[M]) join(q *Queue[M]) (leave func()) {
	b.subs.Add(q)
	return func() {
		b.subs.Remove(q)
		q.Stop()
	}
}

// Publish queues m for every subscriber, the publisher included if it has joined.
func (b *Broadcast[M]) Publish(m M) {
	for _, q := range b.subs.Snapshot() {
		q.Send(m)
	}
}
