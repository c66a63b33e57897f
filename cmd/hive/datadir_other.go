//go:build !unix && !windows

package main

import "os"

// openLocked opens (creating) the lock file at path. This platform has no
// file lock hive uses, so the data dir is not protected against a second
// `hive dev`; the file still records the pid.
func openLocked(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
