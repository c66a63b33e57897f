package gate

import (
	"sync"
	"time"

	"github.com/qeetap/hive/proto/frame"
)

// outAction is what a producer must do after queueing a frame, once it has
// released the session's lock.
type outAction uint8

const (
	actNone  outAction = iota // a flush is already running (or nothing queued)
	actFlush                  // start a flush
	actSlow                   // the queue overflowed: disconnect the slow reader
)

// Pending write buffers are pooled: an idle session holds none.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// maxPooledBuf: larger buffers (after a burst) go to the garbage collector.
const maxPooledBuf = 64 << 10

func putBuf(bp *[]byte) {
	if cap(*bp) > maxPooledBuf {
		return
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}

// queueLocked appends one frame to the pending buffer: data is a complete
// encoded frame if encoded, else the payload of a frame named api. Nothing
// is queued once the session is stopping. When the bytes pending or being
// written would pass --gate-queue, the session moves to phaseShedding and
// actSlow is returned. Called with s.mu held.
func (s *session) queueLocked(api string, data []byte, encoded bool) outAction {
	if s.stoppingLocked() {
		return actNone
	}
	n := len(data)
	if !encoded {
		n += frame.HeaderSize + len(api)
	}
	if s.queued+n > s.srv.cfg.QueueBytes {
		s.toLocked(phaseShedding)
		s.closeReason = closeSlowReader
		return actSlow
	}
	if s.outp == nil {
		s.outp = bufPool.Get().(*[]byte)
	}
	if encoded {
		*s.outp = append(*s.outp, data...)
	} else {
		b, err := frame.AppendFrame(*s.outp, api, data)
		if err != nil { // a Res too large for a frame: the game's bug, not the client's
			s.srv.log.Warn("dropping unframeable message", "api", api, "bytes", len(data), "err", err)
			s.srv.m.unroutable.Inc()
			return actNone
		}
		*s.outp = b
	}
	s.queued += n
	am := s.srv.m.apiNamed(api)
	am.framesOut.Inc()
	am.bytesOut.Add(float64(n))
	if s.flushing {
		return actNone
	}
	s.flushing = true
	return actFlush
}

// act carries out a queueing outcome without s.mu held. A flush runs on
// the calling goroutine as long as the socket takes the frames without
// blocking (see flushLoop); a write that would block continues on the
// calling goroutine if it is the session's reader (inline), else on a new
// short-lived goroutine, so a slow client never blocks a NATS callback.
// When more messages from NATS wait behind the one being handled, the
// whole flush goes to a new goroutine at once, so the writes of many
// sessions run in parallel instead of one after another in the callback.
func (s *session) act(a outAction, inline bool) {
	switch a {
	case actFlush:
		if !inline && s.srv.backlogged() {
			go s.flushLoop(true)
			return
		}
		s.flushLoop(inline)
	case actSlow:
		s.srv.m.queueDrops.Inc()
		s.srv.log.Info("disconnecting slow reader", "session", s.id, "queue_bytes", s.srv.cfg.QueueBytes)
		s.close(closeSlowReader)
	}
}

// flushLoop writes the pending frames, one write per batch, until none are
// left; frames queued meanwhile go out in the next batch. When a kick is
// under way and everything is written it shuts the write side.
//
// Each batch is first offered to the socket without blocking (one write
// syscall, no deadline to arm, no goroutine to start: the common case of a
// client that reads its answers). What the socket does not take at once is
// written by an ordinary Write with the write deadline: here if mayBlock,
// else on a new goroutine, which then carries on with the loop.
func (s *session) flushLoop(mayBlock bool) {
	for {
		s.mu.Lock()
		bp := s.outp
		s.outp = nil
		if bp == nil || s.phase == phaseClosed {
			s.flushing = false
			kick := s.toLocked(phaseKickSent) // only from phaseKicking
			s.mu.Unlock()
			if bp != nil {
				putBuf(bp)
			}
			if kick {
				s.finishKick()
			}
			return
		}
		s.mu.Unlock()
		n := s.writeNow(*bp)
		if n < len(*bp) {
			if !mayBlock {
				go s.writeRest(bp, n)
				return
			}
			if !s.writeBlocking(bp, n) {
				return
			}
			continue
		}
		s.wrote(bp, nil)
	}
}

// writeRest finishes a batch that writeNow could not write at once, then
// goes on flushing (on its own goroutine, so it may block).
func (s *session) writeRest(bp *[]byte, off int) {
	if s.writeBlocking(bp, off) {
		s.flushLoop(true)
	}
}

// writeBlocking writes (*bp)[off:] with the write deadline and ends the
// batch; false if the write failed (the session is then closed).
func (s *session) writeBlocking(bp *[]byte, off int) bool {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	_, err := s.conn.Write((*bp)[off:])
	return s.wrote(bp, err)
}

// wrote ends a batch: the bytes no longer count as queued and the buffer
// goes back to the pool. On a write error the flush stops and the session
// is closed; wrote then returns false.
func (s *session) wrote(bp *[]byte, err error) bool {
	n := len(*bp)
	putBuf(bp)
	s.mu.Lock()
	s.queued -= n
	if err != nil {
		s.flushing = false
	}
	s.mu.Unlock()
	if err != nil {
		s.close(closeWriteError)
		return false
	}
	return true
}

// finishKick shuts the write side after the kick frame went out: the
// client reads the kick, then EOF (TCP) or a close frame (WebSocket). The
// reader lingers for the client's close.
func (s *session) finishKick() {
	if wc, ok := s.conn.(interface{ CloseWrite() error }); ok {
		_ = wc.CloseWrite()
	} else {
		s.close("")
		return
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(lingerAfterKick))
}
