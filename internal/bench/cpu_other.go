//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package bench

import "time"

// cpuTime reports that the CPU time is not known on this platform.
func cpuTime() (time.Duration, bool) { return 0, false }
