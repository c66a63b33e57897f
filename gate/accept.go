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
		if s.draining.Load() || s.nconns.Load() >= int64(s.cfg.MaxConns) {
			s.refuse(c)
			continue
		}
		ipKey, perIP := s.ips.key(c.RemoteAddr())
		if perIP && !s.ips.open(ipKey) {
			s.m.ipConnsRefused.Inc()
			s.kickAndClose(c, def.ResCode_RC_RATE_LIMITED, "too many connections from your address")
			continue
		}
		s.nconns.Add(1)
		s.m.conns.Inc()
		s.m.accepted.Inc()
		sess := newSession(s, c)
		sess.ipKey, sess.perIP = ipKey, perIP
		s.sessions.Store(sess.id, sess)
		s.sessWG.Add(1)
		go sess.run()
	}
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
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(f)
	c.Close()
}
