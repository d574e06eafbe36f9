//go:build linux || darwin

package main

import (
	"fmt"
	"syscall"
	"time"
)

// ensureFDs raises the soft limit on open files to at least n when the hard
// limit allows (Go already raises it to the hard limit at start on most
// systems); it returns the soft limit in force.
func ensureFDs(n uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur >= n {
		return l.Cur, nil
	}
	want := min(n, l.Max)
	if want > l.Cur {
		l.Cur = want
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return l.Cur, err
		}
	}
	if l.Cur < n {
		return l.Cur, fmt.Errorf("hard limit %d", l.Max)
	}
	return l.Cur, nil
}

// selfCPU is the CPU time this process has used (user + system).
func selfCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
