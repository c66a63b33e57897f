//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

// openLocked opens (creating) the lock file at path and takes an exclusive,
// non-blocking flock(2) on it; errLocked when another open file holds it.
func openLocked(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, err
	}
	return f, nil
}
