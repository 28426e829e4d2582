//go:build !linux

package bench

import (
	"errors"
	"time"
)

var errNoProc = errors.New("bench: a server's CPU time and memory are read from /proc, on Linux only")

func checkProcess(int) error { return errNoProc }

func processCPU(int) (time.Duration, error) { return 0, errNoProc }

func processRSS(int) (int64, error) { return 0, errNoProc }
