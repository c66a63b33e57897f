package gate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
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
	"github.com/qeetap/hive/proto/rescode"
	"github.com/qeetap/hive/token"
)

// Login states of a session.
const (
	stateNew       uint8 = iota // connected, not logged in
	stateLoggingIn              // token verified, Login.Req at the game
	stateLoggedIn               // Login.Res OK relayed; user.<uid> subscribed
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
	flushing    bool    // a flush loop runs
	closing     bool    // kicked or closing: no more frames or requests
	kicking     bool    // a kick frame is queued: shut the write side after it
	kickSent    bool    // the kick frame is written and the write side shut
	closed      bool    // conn closed
	closeReason string
	state       uint8
	uid         int64
	user        string // uid in decimal: the Hive-User header while logged in
	loginAt     int64  // unix nanos of the login, for kick ordering
	userSub     *nats.Subscription
	noLogout    bool // kicked by a newer login: publish no disconnect logout
	drainKick   bool // kick for the drain once the in-flight requests are answered
	inflight    *request
	waiting     []*request
	seq         uint64 // last request id
	timer       *time.Timer
}

// request is one forwarded request.
type request struct {
	api      *apiInfo
	id       uint64
	uid      int64  // Hive-User; for a login the verified account id
	user     string // uid in decimal ("" when 0): the Hive-User value
	payload  []byte // a copy, while it waits behind the in-flight one
	sent     time.Time
	deadline time.Time
	login    bool
	// confirming: the game accepted this login and confirmLogin is
	// completing it; only confirmLogin may complete it now.
	confirming bool
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
			errors.Is(err, frame.ErrEmptyAPI), errors.Is(err, frame.ErrAPISize), errors.Is(err, io.ErrUnexpectedEOF):
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
	closing, kickSent, state := s.closing, s.kickSent, s.state
	s.mu.Unlock()
	if closing {
		if kickSent {
			return false // lingered long enough
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(lingerAfterKick))
		return true
	}
	if state == stateLoggedIn {
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
	closing, state, uid, user := s.closing, s.state, s.uid, s.user
	s.mu.Unlock()
	if closing {
		return // a kick is on its way: the client's input no longer matters
	}
	if state == stateLoggedIn {
		if now := s.srv.mono(); now-s.extendedAt > int64(s.srv.slack) {
			s.extendedAt = now
			_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
		}
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
	case state != stateLoggedIn && a.name == envelope.EchoReq:
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
	case state != stateLoggedIn:
		s.sendInline(a.res, a.answer(def.ResCode_RC_LOGIN_REQUIRED))
	default:
		s.forward(a, payload, uid, user, false)
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

// login verifies the token, subscribes user.<uid> and checks the token is
// not older than the account's token version; if all holds it forwards the
// Login.Req to the game with the verified account id.
func (s *session) login(a *apiInfo, tok string, payload []byte) {
	claims, err := s.srv.keys.verify(context.Background(), tok)
	if err != nil {
		code, reason := def.ResCode_RC_LOGIN_TOKEN_INVALID, "token_invalid"
		if errors.Is(err, token.ErrExpired) {
			code, reason = def.ResCode_RC_LOGIN_TOKEN_EXPIRED, "token_expired"
		}
		s.srv.m.loginFails.WithLabelValues(reason).Inc()
		s.srv.log.Debug("login refused", "session", s.id, "err", err)
		s.sendInline(a.res, a.answer(code))
		return
	}
	s.mu.Lock()
	s.state = stateLoggingIn
	s.mu.Unlock()
	if code, reason := s.checkRevoked(claims); code != def.ResCode_RC_OK {
		s.mu.Lock()
		s.state = stateNew
		s.dropUserLocked()
		s.mu.Unlock()
		s.srv.m.loginFails.WithLabelValues(reason).Inc()
		s.sendInline(a.res, a.answer(code))
		return
	}
	s.forward(a, payload, claims.AccountID, envelope.UserHeader(claims.AccountID), true)
}

// checkRevoked refuses a token older than its account's token version
// (bus.TokenVersionsBucket). uc raises the version and then kicks the
// account on user.<uid>; so that a login racing that cannot survive, the
// session subscribes user.<uid> first and reads the version once the
// subscription is live: a raise before the read is seen by the read, a
// raise after it is followed by a kick this session receives. It returns
// RC_OK, or the code to answer and the login failure reason.
func (s *session) checkRevoked(c token.Claims) (def.ResCode, string) {
	sub, err := s.srv.nc.ChanSubscribe(bus.UserSubject(c.AccountID), s.srv.userCh)
	if err == nil {
		s.srv.userSubs.Store(sub, s)
		s.mu.Lock()
		s.userSub = sub
		s.mu.Unlock()
	}
	if err != nil {
		s.srv.log.Warn("subscribe user subject failed", "user", c.AccountID, "err", err)
		return def.ResCode_RC_COMMON_SERVER_NOT_READY, "subscribe"
	}
	// No flush: the version is read with a request on the same connection,
	// sent after the SUB, and NATS handles a connection's messages in order;
	// its answer proves the subscription is live.
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.RequestTimeout)
	defer cancel()
	cur, err := s.srv.tokenVersion(ctx, c.AccountID)
	if err != nil {
		// Fail closed: a gate that cannot tell whether the token was
		// revoked does not let it in.
		s.srv.log.Warn("token version read failed", "user", c.AccountID, "err", err)
		return def.ResCode_RC_COMMON_SERVER_NOT_READY, "token_version"
	}
	if c.Version < cur {
		s.srv.log.Debug("login refused: token revoked", "session", s.id, "user", c.AccountID, "ver", c.Version, "current", cur)
		return def.ResCode_RC_LOGIN_TOKEN_REVOKED, "token_revoked"
	}
	return def.ResCode_RC_OK, ""
}

// forward sends a request to the game, or queues it behind the one in
// flight; a full queue is answered RC_RATE_LIMITED.
func (s *session) forward(a *apiInfo, payload []byte, uid int64, user string, login bool) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.seq++
	r := &request{api: a, id: s.seq, uid: uid, user: user, login: login}
	if s.inflight != nil {
		if len(s.waiting) >= s.srv.cfg.MaxPending {
			s.seq--
			if login {
				s.state = stateNew
				s.dropUserLocked()
			}
			s.mu.Unlock()
			s.srv.m.rateLimited.Inc()
			s.sendInline(a.res, a.answer(def.ResCode_RC_RATE_LIMITED))
			return
		}
		r.payload = bytes.Clone(payload)
		s.waiting = append(s.waiting, r)
		s.mu.Unlock()
		return
	}
	s.startLocked(r)
	s.mu.Unlock()
	s.publish(r, payload)
}

// startLocked makes r the in-flight request and arms its timeout.
func (s *session) startLocked(r *request) {
	s.inflight = r
	r.sent = time.Now()
	r.deadline = r.sent.Add(s.srv.cfg.RequestTimeout)
	if s.timer == nil {
		s.timer = time.AfterFunc(s.srv.cfg.RequestTimeout, s.onTimer)
	} else {
		s.timer.Reset(s.srv.cfg.RequestTimeout)
	}
}

// publish sends r to the game with the session subject as reply. The
// payload may be the reader's buffer: PublishMsg copies it before returning.
func (s *session) publish(r *request, payload []byte) {
	if err := s.publishRequest(r.api.name, s.subj, r.id, r.user, payload); err != nil {
		s.srv.log.Warn("publish request failed", "api", r.api.name, "err", err)
		s.finish(r.id, r.api.res, r.api.answer(def.ResCode_RC_COMMON_SERVER_NOT_READY), true, "publish_error")
	}
}

// publishRequest publishes a request of api to the game with the request
// headers of DESIGN §3 (Hive-User only when user is not empty).
func (s *session) publishRequest(api, reply string, reqID uint64, user string, payload []byte) error {
	r := envelope.Request{API: api, Reply: reply, Gate: s.srv.cfg.ID,
		Session: s.subj[strings.LastIndexByte(s.subj, '.')+1:],
		User:    user, ID: strconv.FormatUint(reqID, 10), Data: payload}
	return r.Publish(s.srv.nc)
}

// onTimer fires at the in-flight request's deadline (or late, for one
// already answered: then it finds nothing to do).
func (s *session) onTimer() {
	s.mu.Lock()
	r := s.inflight
	s.mu.Unlock()
	if r == nil || time.Now().Before(r.deadline) {
		return
	}
	s.finish(r.id, r.api.res, r.api.answer(def.ResCode_RC_TIMEOUT), true, "timeout")
}

// noResponders answers the in-flight request RC_COMMON_SERVER_NOT_READY:
// NATS reported that no game worker subscribes to its api.
func (s *session) noResponders() {
	s.mu.Lock()
	r := s.inflight
	s.mu.Unlock()
	if r != nil {
		s.finish(r.id, r.api.res, r.api.answer(def.ResCode_RC_COMMON_SERVER_NOT_READY), true, "no_responders")
	}
}

// onAnswer takes a Res from gate.<id>.<session>: the answer of the
// in-flight request if its api matches (and its Hive-Req, when the worker
// echoes it), else a late answer (Hive-Req set: dropped) or a push.
func (s *session) onAnswer(api, reqHdr string, payload []byte) {
	s.mu.Lock()
	r := s.inflight
	s.mu.Unlock()
	if r != nil && api == r.api.res && (reqHdr == "" || sameID(reqHdr, r.id)) {
		if s.finish(r.id, api, payload, false, "ok") {
			return
		}
	}
	if reqHdr != "" {
		s.srv.m.unroutable.Inc() // the answer of a request already answered (timeout)
		return
	}
	s.push(api, payload)
}

// sameID reports whether the Hive-Req value h names request id.
func sameID(h string, id uint64) bool {
	v, err := strconv.ParseUint(h, 10, 64)
	return err == nil && v == id
}

// finish ends the in-flight request id with a frame: data is a complete
// encoded frame when encoded is true, else the Res payload named api. It
// returns false if id is no longer in flight. A successful login is first
// confirmed (confirmLogin); otherwise the frame is queued and the next
// waiting request sent.
func (s *session) finish(id uint64, api string, data []byte, encoded bool, result string) bool {
	s.mu.Lock()
	r := s.inflight
	if r == nil || r.id != id || r.confirming {
		s.mu.Unlock()
		return false
	}
	if r.login && result == "ok" && !s.closing && rescode.IsOK(api, data) {
		r.confirming = true // the timeout no longer applies: confirmLogin answers
		s.mu.Unlock()
		go s.confirmLogin(r, api, data)
		return true
	}
	if r.login {
		s.state = stateNew
		s.dropUserLocked()
		reason := result
		if result == "ok" {
			reason = "game_refused"
		}
		s.srv.m.loginFails.WithLabelValues(reason).Inc()
	} else if r.api.name == envelope.LogoutReq && result == "ok" && rescode.IsOK(api, data) {
		s.logoutDoneLocked()
	}
	s.completeLocked(r, api, data, encoded, result)
	return true
}

// completeLocked ends the in-flight request r: it queues the answer, sends
// the next waiting request (or, draining, kicks the idle session). Called
// with s.mu held; returns with it released.
func (s *session) completeLocked(r *request, api string, data []byte, encoded bool, result string) {
	s.inflight = nil
	s.srv.m.result(result).Inc()
	s.srv.m.reqSeconds.Observe(time.Since(r.sent).Seconds())
	act := s.queueLocked(api, data, encoded)
	var next *request
	if len(s.waiting) > 0 && !s.closing {
		next = s.waiting[0]
		s.waiting[0] = nil
		s.waiting = s.waiting[1:]
		if len(s.waiting) == 0 {
			s.waiting = nil
		}
		s.startLocked(next)
	} else if s.timer != nil {
		s.timer.Stop()
	}
	drain := next == nil && s.drainKick && !s.closing
	s.mu.Unlock()
	s.act(act, false)
	if next != nil {
		s.publish(next, next.payload)
	}
	if drain {
		s.kick(s.srv.kickDrainPay, closeDrain, kickDrain, false)
	}
}

// confirmLogin completes a login the game accepted: user.<uid> is live
// already (login subscribed it before forwarding, so a push sent once the
// client holds its Login.Res reaches it); it announces the login so older
// sessions of the account are kicked, starts the idle timeout and relays
// the game's Login.Res.
func (s *session) confirmLogin(r *request, api string, data []byte) {
	s.mu.Lock()
	if s.inflight != r || s.closing {
		s.mu.Unlock()
		return // teardown drops user.<uid>
	}
	s.uid, s.user = r.uid, r.user
	s.loginAt = time.Now().UnixNano()
	s.state = stateLoggedIn
	if err := s.srv.publishLoginKick(s, s.uid, s.loginAt); err != nil {
		s.srv.log.Warn("publish login kick failed", "user", s.uid, "err", err)
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
	s.completeLocked(r, api, data, false, "ok")
}

// loggedIn reports whether the session is logged in.
func (s *session) loggedIn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateLoggedIn
}

// logoutDoneLocked returns the session to the logged-out state after the
// game confirmed a Logout: the user subject is dropped and a new login
// deadline starts.
func (s *session) logoutDoneLocked() {
	if s.state != stateLoggedIn {
		return
	}
	s.dropUserLocked()
	s.state, s.uid, s.user, s.loginAt = stateNew, 0, "", 0
	_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.LoginTimeout))
}

// dropUserLocked unsubscribes user.<uid>.
func (s *session) dropUserLocked() {
	if s.userSub == nil {
		return
	}
	s.srv.userSubs.Delete(s.userSub)
	_ = s.userSub.Unsubscribe()
	s.userSub = nil
}

// onLoginKick handles a login announcement on user.<uid>: the session keep
// logged in at t. This session goes if keep is newer (later login time;
// ties broken by subject). If this session is the newer one it announces
// itself again, so the other one goes even if it missed the first
// announcement's ordering.
func (s *session) onLoginKick(keep, t string, payload []byte) {
	if keep == s.subj {
		return
	}
	at, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		s.srv.m.unroutable.Inc()
		return
	}
	s.mu.Lock()
	mine, state, uid := s.loginAt, s.state, s.uid
	older := at > mine || (at == mine && keep > s.subj)
	if older && state == stateLoggedIn {
		s.noLogout = true
	}
	s.mu.Unlock()
	if state != stateLoggedIn {
		return
	}
	if older {
		s.kick(payload, closeKicked, kickLoginElsewhere, false)
		return
	}
	if err := s.srv.publishLoginKick(s, uid, mine); err != nil {
		s.srv.log.Warn("republish login kick failed", "user", uid, "err", err)
	}
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
	if s.closing {
		s.mu.Unlock()
		return
	}
	act := s.queueLocked(envelope.KickRes, payload, false)
	if act != actSlow {
		s.closing, s.kicking = true, true
		s.closeReason = closeReason
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
		s.drainKick = true
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
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed, s.closing = true, true
	if s.closeReason == "" || reason == closeSlowReader || reason == closeWriteError {
		s.closeReason = reason
	}
	s.mu.Unlock()
	s.conn.Close()
}

// teardown runs once on the reader goroutine when the session ends.
func (s *session) teardown() {
	s.mu.Lock()
	s.closing, s.closed = true, true
	reason := s.closeReason
	if reason == "" {
		reason = closeEOF
	}
	uid, user, state, noLogout := s.uid, s.user, s.state, s.noLogout
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
	s.conn.Close()
	s.rd.Release()
	s.srv.sessions.Delete(s.id)
	if state == stateLoggedIn && !noLogout {
		s.srv.publishLogout(s, uid, user, reqID)
	}
	if s.perIP {
		s.srv.ips.close(s.ipKey)
	}
	s.srv.nconns.Add(-1)
	s.srv.m.conns.Dec()
	s.srv.m.disconnects.WithLabelValues(reason).Inc()
}
