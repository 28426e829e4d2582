//go:build !linux

package bench

import "errors"

var errNoProc = errors.New("bench: a server's CPU time and memory are read from /proc, on Linux only")

func checkProcess(int) error { return errNoProc }

func processCPU(int) (procCPU, error) { return procCPU{}, errNoProc }

func processRSS(int) (int64, error) { return 0, errNoProc }
