package gate

import (
	"errors"
	"net"
	"time"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
)

// acceptLoop accepts connections until the listener closes.
func (s *Server) acceptLoop() {
	defer close(s.acceptDone)
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of fds or similar: wait a moment instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.admit(c)
	}
}

// admit serves a new connection (TCP, or WebSocket once upgraded) as a
// session, or refuses it: the gate is full or draining, or its address
// holds too many connections. admitMu orders it with the start of a drain:
// a session admitted before is drained, a connection after is refused.
func (s *Server) admit(c net.Conn) {
	s.admitMu.RLock()
	sess, code := s.admitLocked(c)
	s.admitMu.RUnlock()
	switch {
	case sess != nil:
		go sess.run()
	case code == def.ResCode_RC_RATE_LIMITED:
		s.m.ipConnsRefused.Inc()
		s.kickAndClose(c, code, "too many connections from your address")
	default:
		s.refuse(c)
	}
}

// admitLocked makes the session of c, or returns the refusal's code.
// Called with admitMu read-locked.
func (s *Server) admitLocked(c net.Conn) (*session, def.ResCode) {
	if s.draining.Load() {
		return nil, def.ResCode_RC_GATE_DRAINING
	}
	if s.nconns.Add(1) > int64(s.cfg.MaxConns) {
		s.nconns.Add(-1)
		return nil, def.ResCode_RC_COMMON_SERVER_NOT_READY
	}
	ipKey, perIP := s.ips.key(c.RemoteAddr())
	if perIP && !s.ips.open(ipKey) {
		s.nconns.Add(-1)
		return nil, def.ResCode_RC_RATE_LIMITED
	}
	s.m.conns.Inc()
	s.m.accepted.Inc()
	sess := newSession(s, c)
	sess.ipKey, sess.perIP = ipKey, perIP
	if w, ok := c.(*wsConn); ok {
		w.alive = sess.peerAlive
	}
	s.sessions.Store(sess.id, sess)
	s.sessWG.Add(1)
	return sess, def.ResCode_RC_OK
}

// refuse tells a connection the gate cannot take it and closes it. The
// write goes to a fresh socket's empty buffer, so it does not block.
func (s *Server) refuse(c net.Conn) {
	s.m.refused.Inc()
	code, reason := def.ResCode_RC_COMMON_SERVER_NOT_READY, "gate is full"
	if s.draining.Load() {
		code, reason = def.ResCode_RC_GATE_DRAINING, "gate is shutting down"
	}
	s.kickAndClose(c, code, reason)
}

// kickAndClose writes msg.Kick.Res{code, reason} to a connection that was
// never served and closes it.
func (s *Server) kickAndClose(c net.Conn, code def.ResCode, reason string) {
	f := envelope.KickFrame(code, reason)
	if w, ok := c.(*wsConn); ok {
		cc := wsTryLater // full, or too many from the address
		if code == def.ResCode_RC_GATE_DRAINING {
			cc = wsGoingAway
		}
		w.setCode(cc)
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(f)
	c.Close()
}
