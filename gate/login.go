package gate

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/token"
)

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
	s.loginToLocked(stateLoggingIn)
	s.mu.Unlock()
	if code, reason := s.checkRevoked(claims); code != def.ResCode_RC_OK {
		s.mu.Lock()
		s.loginToLocked(stateNew)
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

// confirmLogin completes a login the game accepted: user.<uid> is live
// already (login subscribed it before forwarding, so a push sent once the
// client holds its Login.Res reaches it); it announces the login so older
// sessions of the account are kicked, starts the idle timeout and relays
// the game's Login.Res.
func (s *session) confirmLogin(r *request, api string, data []byte) {
	s.mu.Lock()
	if s.inflight != r || s.stoppingLocked() {
		s.mu.Unlock()
		return // teardown drops user.<uid>
	}
	s.uid, s.user = r.uid, r.user
	s.loginAt = time.Now().UnixNano()
	s.loginToLocked(stateLoggedIn)
	if err := s.srv.publishLoginKick(s, s.uid, s.loginAt); err != nil {
		s.srv.log.Warn("publish login kick failed", "user", s.uid, "err", err)
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
	s.completeLocked(r, api, data, false, outcomeAnswered)
}

// loggedIn reports whether the session is logged in.
func (s *session) loggedIn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.speaksForUser()
}

// logoutDoneLocked returns the session to the logged-out state after the
// game confirmed a Logout: the user subject is dropped and a new login
// deadline starts.
func (s *session) logoutDoneLocked() {
	if !s.state.speaksForUser() {
		return // a login may be at the game already: it is not undone
	}
	s.loginToLocked(stateNew)
	s.dropUserLocked()
	s.uid, s.user, s.loginAt = 0, "", 0
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
		s.loginToLocked(stateReplaced)
	}
	s.mu.Unlock()
	if !state.speaksForUser() {
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
