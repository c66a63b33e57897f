//go:build !unix

package gate

// writeNow writes nothing where sockets are not file descriptors one can
// write(2) to: flushLoop then makes its ordinary blocking Write, as before.
func (s *session) writeNow(b []byte) int { return 0 }
