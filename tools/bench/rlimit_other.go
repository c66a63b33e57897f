//go:build !unix

package bench

// raiseOpenFiles does nothing where there is no RLIMIT_NOFILE.
func raiseOpenFiles(int) error { return nil }
