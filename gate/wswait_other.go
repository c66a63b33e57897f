//go:build !unix

package gate

// waitInput does not wait where a socket cannot be peeked at: the
// library's read waits instead.
func (w *wsConn) waitInput() error { return nil }

func (w *wsConn) peek(uintptr) bool { return true }
