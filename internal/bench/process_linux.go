package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// The server's usage, read from /proc (proc(5)).

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on every
// architecture Linux and Go share.
const clockTicks = 100

// checkProcess reports an error if process pid cannot be read.
func checkProcess(pid int) error {
	if _, err := processCPU(pid); err != nil {
		return fmt.Errorf("bench: server process: %w", err)
	}
	return nil
}

// processCPU returns the CPU time, user and system, that process pid has used, its
// threads that ended included: fields 14 and 15 of /proc/PID/stat, in clock ticks.
func processCPU(pid int) (procCPU, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procCPU{}, err
	}
	// The command's name, field 2, is in parentheses and may hold anything: the fields
	// from the state, field 3, on follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procCPU{}, fmt.Errorf("bench: /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return procCPU{}, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks [2]int64
	for j, s := range f[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return procCPU{}, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
		}
		ticks[j] = n
	}
	const tick = time.Second / clockTicks
	return procCPU{user: time.Duration(ticks[0]) * tick, sys: time.Duration(ticks[1]) * tick}, nil
}

// processRSS returns the resident memory of process pid in bytes: VmRSS in
// /proc/PID/status.
func processRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		rest = bytes.TrimSpace(rest)
		num, unit, _ := bytes.Cut(rest, []byte(" "))
		n, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || string(unit) != "kB" {
			return 0, fmt.Errorf("bench: /proc/%d/status: VmRSS %q", pid, rest)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("bench: /proc/%d/status: no VmRSS", pid)
}
