//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// raiseOpenFiles raises this process's open-file limit to its hard limit
// and fails if that still cannot hold need descriptors.
func raiseOpenFiles(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: let the dials say
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < uint64(need) {
		return fmt.Errorf("bench: %d connections need about %d open files, the limit is %d (hard %d): raise it (ulimit -n) or use fewer --conns", need-fileMargin, need, lim.Cur, lim.Max)
	}
	return nil
}
