//go:build !linux

package bench

import "sync"

// eventLoops are none outside Linux (loop_linux.go): every closed-loop connection has a
// goroutine of its own.
type eventLoops struct{}

func (eventLoops) wake() {}

func (e *echoRun) startLoops(wg *sync.WaitGroup) []*echoConn { return e.conns }
