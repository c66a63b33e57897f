//go:build unix

package gate

import (
	"sync"
	"syscall"
)

// writeNow writes as much of b as the socket takes without waiting and
// returns how much that was. Any error (would block, deadline passed,
// closed, reset) gives a short count: the ordinary Write that follows
// meets the error again, or waits, as it always did.
func (s *session) writeNow(b []byte) int {
	if s.raw == nil {
		return 0
	}
	w := nowWriterPool.Get().(*nowWriter)
	w.b, w.n = b, 0
	_ = s.raw.Write(w.fn)
	n := w.n
	w.b = nil
	nowWriterPool.Put(w)
	return n
}

// nowWriter is the callback of a non-blocking write: RawConn.Write takes a
// func, and a closure made per write would be two allocations.
type nowWriter struct {
	b  []byte
	n  int
	fn func(fd uintptr) bool
}

var nowWriterPool = sync.Pool{New: func() any {
	w := &nowWriter{}
	w.fn = w.write
	return w
}}

// write is called by RawConn.Write with the socket; it never asks to wait.
func (w *nowWriter) write(fd uintptr) bool {
	for w.n < len(w.b) {
		m, err := syscall.Write(int(fd), w.b[w.n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			break
		}
		w.n += m
	}
	return true
}
