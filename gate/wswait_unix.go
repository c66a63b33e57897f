//go:build unix

package gate

import "syscall"

// emptyPongSize is the length of a client's answer to the gate's (empty)
// ping: FIN and opcode 0xA, the mask bit and payload length 0, then the
// 4-byte mask key.
const emptyPongSize = 6

// waitInput parks the reader, between messages with nothing buffered, on
// the socket becoming readable. An idle session then waits on a stack as
// shallow as a TCP session's instead of deep in the library's frame parser,
// which lets the runtime shrink its stack to 4 KiB (8 KiB otherwise:
// BENCHMARKS.md). The answers to the gate's pings are taken here too (see
// peek), or every pong would leave the reader parked deep in the library
// until the next message. A deadline that passes here leaves the library's
// state intact, so the session's lingering read after a kick still sees
// the client's close.
func (w *wsConn) waitInput() error {
	if w.raw == nil || w.br == nil || w.br.Buffered() > 0 {
		return nil
	}
	return w.raw.Read(w.peekFn)
}

// peek is the callback of waitInput: false (wait) while the socket has
// nothing; true when it has input, or an end or error, for the library. An
// empty pong at the head of the input is read and dropped here, as activity
// (the stream is at a frame boundary: the library has nothing buffered).
func (w *wsConn) peek(fd uintptr) bool {
	for {
		n, _, err := syscall.Recvfrom(int(fd), w.peekBuf[:], syscall.MSG_PEEK)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case err != nil || n < emptyPongSize || w.peekBuf[0] != 0x8a || w.peekBuf[1] != 0x80:
			return true // not an empty pong (or not whole yet): the library's
		}
		if m, err := syscall.Read(int(fd), w.peekBuf[:emptyPongSize]); m != emptyPongSize || err != nil {
			return true // cannot happen with the bytes queued; the library meets what follows
		}
		w.peerAlive()
	}
}
