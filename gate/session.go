package gate

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

const (
	// lingerAfterKick is how long a kicked session waits for the client to
	// close after the kick frame was sent and the write side shut, so the
	// frame is not lost to a reset caused by unread input.
	lingerAfterKick = 2 * time.Second
	// maxDeadlineSlack: a logged-in session's read deadline is pushed
	// forward at most once per this (or a quarter of the idle timeout, if
	// shorter), not on every frame.
	maxDeadlineSlack = time.Second
)

// session is one client connection. Its reader goroutine (run) reads and
// handles frames and owns the teardown. Writes are done by whoever produces
// a frame: it appends to the pending buffer under mu and, if no flush is
// running, flushes on its own goroutine as long as the socket takes the
// bytes without blocking; a write that must wait runs on the reader
// goroutine or a short-lived one (see act), so an idle session holds no
// write buffer and no writer goroutine.
type session struct {
	srv  *Server
	id   uint64
	subj string // gate.<gateID>.<id>: reply subject of its requests
	conn net.Conn
	raw  syscall.RawConn // conn's socket for non-blocking writes; nil if it has none
	rd   *frame.Reader
	// ipKey is the client address the session counts against (perIP false:
	// not an IP peer, not counted).
	ipKey netip.Prefix
	perIP bool

	// Reader goroutine only.
	tokens     float64 // token bucket
	refilledAt int64   // srv.mono() of the last refill
	extendedAt int64   // srv.mono() of the last read deadline push

	mu          sync.Mutex
	outp        *[]byte // pending frames (pooled); nil when none
	queued      int     // bytes pending plus being written
	flushing    bool    // a flush loop runs: it owns the writing (see outq.go)
	phase       phase   // the connection's lifecycle (lifecycle.go)
	closeReason string
	state       loginState
	uid         int64
	user        string // uid in decimal: the Hive-User header while logged in
	loginAt     int64  // unix nanos of the login, for kick ordering
	userSub     *nats.Subscription
	inflight    *request
	waiting     []*request
	seq         uint64 // last request id
	timer       *time.Timer
}

func newSession(s *Server, c net.Conn) *session {
	id := s.nextID.Add(1)
	sess := &session{
		srv: s, id: id, subj: bus.SessionSubject(s.cfg.ID, id), conn: c,
		rd:     frame.NewReader(c, s.cfg.MaxFrame),
		tokens: float64(s.cfg.Burst), refilledAt: s.mono(),
	}
	if sc, ok := c.(syscall.Conn); ok {
		sess.raw, _ = sc.SyscallConn()
	}
	return sess
}

// run reads frames until the connection ends, then tears the session down.
func (s *session) run() {
	defer s.srv.sessWG.Done()
	defer s.teardown()
	_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.LoginTimeout))
	for {
		api, payload, err := s.rd.Next()
		if err == nil {
			s.handle(api, payload)
			continue
		}
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			if !s.onReadTimeout() {
				return
			}
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			s.setReason(closeEOF)
			return
		case errors.Is(err, frame.ErrFrameTooShort), errors.Is(err, frame.ErrFrameTooLarge),
			errors.Is(err, frame.ErrEmptyAPI), errors.Is(err, frame.ErrAPISize), errors.Is(err, io.ErrUnexpectedEOF),
			errors.Is(err, errWSFraming):
			s.setReason(closeMalformed)
			s.srv.log.Debug("protocol violation", "session", s.id, "err", err)
			return
		default:
			s.setReason(closeEOF)
			return
		}
	}
}

// onReadTimeout handles a passed read deadline: the login deadline or the
// idle timeout kick the session; while a kick is being delivered it keeps
// lingering. It returns false when the reader should stop.
func (s *session) onReadTimeout() bool {
	s.mu.Lock()
	ph, state := s.phase, s.state
	s.mu.Unlock()
	switch ph {
	case phaseKickSent, phaseClosed:
		return false // lingered long enough
	case phaseKicking, phaseShedding:
		_ = s.conn.SetReadDeadline(time.Now().Add(lingerAfterKick))
		return true
	}
	if state.speaksForUser() {
		s.kick(envelope.KickPayload(def.ResCode_RC_TIMEOUT, "idle timeout"), closeIdle, "", true)
	} else {
		s.srv.m.loginFails.WithLabelValues("deadline").Inc()
		s.kick(envelope.KickPayload(def.ResCode_RC_LOGIN_REQUIRED, "login timeout"), closeLoginTimeout, "", true)
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(lingerAfterKick))
	return true
}

// handle acts on one frame from the client. api and payload are only valid
// during the call.
func (s *session) handle(api, payload []byte) {
	am := s.srv.m.api(api)
	am.framesIn.Inc()
	am.bytesIn.Add(float64(frame.HeaderSize + len(api) + len(payload)))

	s.mu.Lock()
	stopping, state, uid, user := s.stoppingLocked(), s.state, s.uid, s.user
	s.mu.Unlock()
	if stopping {
		return // a kick is on its way: the client's input no longer matters
	}
	loggedIn := state.speaksForUser()
	if loggedIn {
		s.extendIdle()
	}

	a := staticAPIs[string(api)]
	if a == nil || !a.req {
		s.sendInline(envelope.ErrorRes, errorFrame(def.ResCode_RC_API_UNKNOWN, string(api), "not a client request"))
		return
	}
	// Validate gives Decode's verdict without building the message: the
	// payload is forwarded as it came.
	err := frame.Validate(api, payload)
	switch {
	case errors.Is(err, frame.ErrMissingRequired):
		s.sendInline(a.res, a.answer(def.ResCode_RC_BAD_REQUEST))
		return
	case err != nil: // ErrBadPayload: a protocol violation
		s.srv.log.Debug("protocol violation", "session", s.id, "err", err)
		s.close(closeMalformed)
		return
	}
	if !s.allow() {
		s.srv.m.rateLimited.Inc()
		s.sendInline(a.res, a.answer(def.ResCode_RC_RATE_LIMITED))
		return
	}
	if s.srv.draining.Load() {
		s.sendInline(a.res, a.answer(def.ResCode_RC_GATE_DRAINING))
		return
	}
	switch {
	case !loggedIn && a.name == envelope.EchoReq:
		// Before login the gate itself is the heartbeat's peer.
		var e msg.Echo_Req
		_ = proto.Unmarshal(payload, &e) // validated above
		f, _ := frame.AppendMessage(nil, &msg.Echo_Res{Val: e.Val, Ct: e.Ct})
		s.sendInline(a.res, f)
	case a.name == envelope.LoginReq:
		if state != stateNew {
			s.sendInline(a.res, a.answer(def.ResCode_RC_BAD_REQUEST)) // one login per session
			return
		}
		if s.perIP && !s.srv.ips.login(s.ipKey) {
			// Before the token is looked at: the limit bounds the work an
			// address can make the gate do, valid token or not.
			s.srv.m.ipLoginsLimited.Inc()
			s.sendInline(a.res, a.answer(def.ResCode_RC_RATE_LIMITED))
			return
		}
		var l msg.Login_Req
		_ = proto.Unmarshal(payload, &l) // validated above
		s.login(a, l.GetToken(), payload)
	case !loggedIn:
		s.sendInline(a.res, a.answer(def.ResCode_RC_LOGIN_REQUIRED))
	default:
		s.forward(a, payload, uid, user, false)
	}
}

// extendIdle pushes the idle deadline of a logged-in session forward: the
// client is alive. Reader goroutine only.
func (s *session) extendIdle() {
	if now := s.srv.mono(); now-s.extendedAt > int64(s.srv.slack) {
		s.extendedAt = now
		_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
	}
}

// peerAlive is a WebSocket ping or pong from the client, which counts as
// activity like a frame. Called on the reader goroutine, inside a read.
func (s *session) peerAlive() {
	s.mu.Lock()
	live := s.state.speaksForUser() && !s.stoppingLocked()
	s.mu.Unlock()
	if live {
		s.extendIdle()
	}
}

// allow takes a token from the session's bucket.
func (s *session) allow() bool {
	rate := s.srv.cfg.Rate
	if rate <= 0 {
		return true
	}
	now := s.srv.mono()
	s.tokens = min(float64(s.srv.cfg.Burst), s.tokens+float64(now-s.refilledAt)*rate/1e9)
	s.refilledAt = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// push queues a Res that nobody asked for (from user.<uid> or the session
// subject).
func (s *session) push(api string, payload []byte) {
	s.mu.Lock()
	act := s.queueLocked(api, payload, false)
	s.mu.Unlock()
	s.act(act, false)
}

// sendInline queues a complete frame from the reader goroutine and flushes
// it there if no flush runs.
func (s *session) sendInline(api string, f []byte) {
	s.mu.Lock()
	act := s.queueLocked(api, f, true)
	s.mu.Unlock()
	s.act(act, true)
}

// kick sends msg.Kick.Res (payload) as the session's last frame, shuts the
// write side once it is out and lets the reader linger for the client to
// close. kickReason labels hive_gate_kicks_total ("" for timeouts, which are
// counted as disconnects only).
func (s *session) kick(payload []byte, closeReason, kickReason string, inline bool) {
	s.mu.Lock()
	if s.stoppingLocked() {
		s.mu.Unlock()
		return
	}
	act := s.queueLocked(envelope.KickRes, payload, false)
	if act != actSlow && s.toLocked(phaseKicking) {
		s.closeReason = closeReason
		endWith(s.conn, closeReason)
	}
	if act == actNone && !s.flushing {
		act = actFlush // nothing queued (cannot happen) still ends in finishKick
		s.flushing = true
	}
	s.mu.Unlock()
	if kickReason != "" {
		s.srv.m.kicks.WithLabelValues(kickReason).Inc()
	}
	s.act(act, inline)
}

// drain asks the session to leave: at once if nothing is in flight, else
// after the in-flight and waiting requests are answered.
func (s *session) drain() {
	s.mu.Lock()
	busy := s.inflight != nil || len(s.waiting) > 0
	if busy {
		s.toLocked(phaseDraining)
	}
	s.mu.Unlock()
	if !busy {
		s.kick(s.srv.kickDrainPay, closeDrain, kickDrain, false)
	}
}

// setReason records why the session ends unless a reason is set already.
func (s *session) setReason(r string) {
	s.mu.Lock()
	if s.closeReason == "" {
		s.closeReason = r
	}
	s.mu.Unlock()
}

// close closes the connection now; the reader then tears the session down.
func (s *session) close(reason string) {
	s.mu.Lock()
	if !s.toLocked(phaseClosed) {
		s.mu.Unlock()
		return
	}
	if s.closeReason == "" || reason == closeSlowReader || reason == closeWriteError {
		s.closeReason = reason
	}
	s.mu.Unlock()
	endWith(s.conn, reason)
	s.conn.Close()
}

// teardown runs once on the reader goroutine when the session ends.
func (s *session) teardown() {
	s.mu.Lock()
	s.toLocked(phaseClosed) // or closed already
	reason := s.closeReason
	if reason == "" {
		reason = closeEOF
	}
	uid, user, state := s.uid, s.user, s.state
	s.dropUserLocked()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.inflight, s.waiting = nil, nil
	if !s.flushing && s.outp != nil {
		putBuf(s.outp)
		s.outp = nil
	}
	s.seq++
	reqID := s.seq
	s.mu.Unlock()
	endWith(s.conn, reason)
	s.conn.Close()
	s.rd.Release()
	s.srv.sessions.Delete(s.id)
	if state == stateLoggedIn { // not stateReplaced: the account lives on elsewhere
		s.srv.publishLogout(s, uid, user, reqID)
	}
	if s.perIP {
		s.srv.ips.close(s.ipKey)
	}
	// Counted before the session leaves the count of connections, so that
	// whoever sees it gone sees why.
	s.srv.m.disconnects.WithLabelValues(reason).Inc()
	s.srv.nconns.Add(-1)
	s.srv.m.conns.Dec()
}
