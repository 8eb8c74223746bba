//go:build unix

package bench

import "syscall"

// fileLimit is this process's soft RLIMIT_NOFILE (Go raises it to the hard
// limit at start), 0 if unknown.
func fileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
