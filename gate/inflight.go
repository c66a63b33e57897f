package gate

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/rescode"
)

// request is one forwarded request.
type request struct {
	api      *apiInfo
	id       uint64
	uid      int64  // Hive-User; for a login the verified account id
	user     string // uid in decimal ("" when 0): the Hive-User value
	payload  []byte // a copy, never modified: kept to re-send it and while it waits behind the in-flight one
	sent     time.Time
	deadline time.Time
	resendAt time.Time // next re-send when unanswered; zero: none left
	resends  int       // re-sends so far
	login    bool
	state    reqState
}

// wake is when the session timer must next look at r: its next re-send or
// its deadline.
func (r *request) wake() time.Time {
	if !r.resendAt.IsZero() && r.resendAt.Before(r.deadline) {
		return r.resendAt
	}
	return r.deadline
}

// forward sends a request to the game, or queues it behind the one in
// flight; a full queue is answered RC_RATE_LIMITED.
func (s *session) forward(a *apiInfo, payload []byte, uid int64, user string, login bool) {
	s.mu.Lock()
	if s.stoppingLocked() {
		s.mu.Unlock()
		return
	}
	s.seq++
	// The deadline counts from arrival: time spent waiting behind the
	// in-flight request is part of what the client waits.
	r := &request{api: a, id: s.seq, uid: uid, user: user, login: login, deadline: time.Now().Add(s.srv.cfg.RequestTimeout)}
	if s.inflight != nil {
		if len(s.waiting) >= s.srv.cfg.MaxPending {
			s.seq--
			if login {
				s.loginToLocked(stateNew)
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
	if s.srv.cfg.Retries > 0 {
		r.payload = bytes.Clone(payload)
	}
	s.startLocked(r)
	s.mu.Unlock()
	s.publish(r, payload)
}

// startLocked makes r the in-flight request and arms its first re-send
// and its timeout (at its deadline, set on arrival).
func (s *session) startLocked(r *request) {
	s.inflight = r
	r.state = reqInFlight
	r.sent = time.Now()
	if s.srv.cfg.Retries > 0 && s.srv.cfg.RetryAfter > 0 {
		r.resendAt = r.sent.Add(s.srv.cfg.RetryAfter)
	}
	d := r.wake().Sub(r.sent)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.onTimer)
	} else {
		s.timer.Reset(d)
	}
}

// resendLocked counts a re-send of the in-flight request r, schedules the
// next one (each waits twice as long as the one before, so a slow game is
// not flooded) and returns the payload to send (never modified: safe to
// publish after the lock is released).
func (s *session) resendLocked(r *request, now time.Time) []byte {
	r.resends++
	r.resendAt = time.Time{}
	if r.resends < s.srv.cfg.Retries {
		r.resendAt = now.Add(s.srv.cfg.RetryAfter << r.resends)
	}
	s.timer.Reset(r.wake().Sub(now))
	s.srv.m.resends.Inc()
	return r.payload
}

// canResendLocked reports whether the in-flight request r may be sent again
// now: re-sends left and its deadline not passed.
func (s *session) canResendLocked(r *request, now time.Time) bool {
	return r != nil && r.state == reqInFlight && r.resends < s.srv.cfg.Retries && now.Before(r.deadline)
}

// publish sends r to the game with the session subject as reply. The
// payload may be the reader's buffer: PublishMsg copies it before returning.
func (s *session) publish(r *request, payload []byte) {
	if err := s.publishRequest(r.api.name, s.subj, r.id, r.user, payload); err != nil {
		s.srv.log.Warn("publish request failed", "api", r.api.name, "err", err)
		s.finish(r.id, r.api.res, r.api.answer(def.ResCode_RC_COMMON_SERVER_NOT_READY), true, outcomePublishError)
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

// onTimer fires at the in-flight request's next re-send or its deadline
// (or early or late, for another request: then it re-arms or finds nothing
// to do). An unanswered request is sent again, with the same Hive-Req so the
// game applies its command once (the worker it went to may have died with
// it); at the deadline it is answered RC_TIMEOUT.
func (s *session) onTimer() {
	now := time.Now()
	s.mu.Lock()
	r := s.inflight
	switch {
	case r == nil || r.state != reqInFlight:
		s.mu.Unlock()
	case !now.Before(r.deadline):
		s.mu.Unlock()
		s.finish(r.id, r.api.res, r.api.answer(def.ResCode_RC_TIMEOUT), true, outcomeTimeout)
	case !r.resendAt.IsZero() && !now.Before(r.resendAt) && s.canResendLocked(r, now):
		data := s.resendLocked(r, now)
		s.mu.Unlock()
		s.publish(r, data)
	default:
		s.timer.Reset(r.wake().Sub(now))
		s.mu.Unlock()
	}
}

// noResponders handles NATS's report that no game worker subscribed to the
// in-flight request's api when it was sent. The first time the request is
// sent again at once (the workers may just have moved); after that it waits
// for its next scheduled re-send (workers reconnecting after a NATS restart
// are back within those), and with none left it is answered
// RC_COMMON_SERVER_NOT_READY.
func (s *session) noResponders() {
	now := time.Now()
	s.mu.Lock()
	r := s.inflight
	if s.canResendLocked(r, now) && (r.resends == 0 || !r.resendAt.IsZero()) {
		if r.resends == 0 {
			data := s.resendLocked(r, now)
			s.mu.Unlock()
			s.publish(r, data)
			return
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if r != nil {
		s.finish(r.id, r.api.res, r.api.answer(def.ResCode_RC_COMMON_SERVER_NOT_READY), true, outcomeNoResponders)
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
		if s.finish(r.id, api, payload, false, outcomeAnswered) {
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
func (s *session) finish(id uint64, api string, data []byte, encoded bool, o outcome) bool {
	s.mu.Lock()
	r := s.inflight
	if r == nil || r.id != id || r.state == reqConfirming {
		s.mu.Unlock()
		return false
	}
	answered := o == outcomeAnswered
	if r.login && answered && !s.stoppingLocked() && rescode.IsOK(api, data) {
		r.state = reqConfirming // the timeout no longer applies: confirmLogin answers
		s.mu.Unlock()
		go s.confirmLogin(r, api, data)
		return true
	}
	if r.login {
		s.loginToLocked(stateNew)
		s.dropUserLocked()
		reason := o.String()
		if answered {
			reason = "game_refused"
		}
		s.srv.m.loginFails.WithLabelValues(reason).Inc()
	} else if r.api.name == envelope.LogoutReq && answered && rescode.IsOK(api, data) {
		s.logoutDoneLocked()
	}
	s.completeLocked(r, api, data, encoded, o)
	return true
}

// completeLocked ends the in-flight request r: it queues the answer, sends
// the next waiting request (or, draining, kicks the idle session). Called
// with s.mu held; returns with it released.
func (s *session) completeLocked(r *request, api string, data []byte, encoded bool, o outcome) {
	s.inflight = nil
	s.srv.m.results[o].Inc()
	s.srv.m.reqSeconds.Observe(time.Since(r.sent).Seconds())
	act := s.queueLocked(api, data, encoded)
	var next *request
	now := time.Now()
	for len(s.waiting) > 0 && !s.stoppingLocked() {
		next = s.waiting[0]
		s.waiting[0] = nil
		s.waiting = s.waiting[1:]
		// Sent with less than half its deadline left, a request would
		// mostly time out with its outcome unknown; refused, it is known
		// not applied.
		if now.Before(next.deadline.Add(-s.srv.cfg.RequestTimeout / 2)) {
			break
		}
		act = max(act, s.expireLocked(next))
		next = nil
	}
	if len(s.waiting) == 0 {
		s.waiting = nil
	}
	if next != nil {
		s.startLocked(next)
	} else if s.timer != nil {
		s.timer.Stop()
	}
	drain := next == nil && s.phase == phaseDraining
	s.mu.Unlock()
	s.act(act, false)
	if next != nil {
		s.publish(next, next.payload)
	}
	if drain {
		s.kick(s.srv.kickDrainPay, closeDrain, kickDrain, false)
	}
}

// expireLocked answers r, which waited past half its deadline and was
// never sent, RC_COMMON_SERVER_NOT_READY: not applied, so safe to send again.
// Called with s.mu held.
func (s *session) expireLocked(r *request) outAction {
	if r.login {
		s.loginToLocked(stateNew)
		s.dropUserLocked()
	}
	s.srv.m.results[outcomeExpired].Inc()
	return s.queueLocked(r.api.res, r.api.answer(def.ResCode_RC_COMMON_SERVER_NOT_READY), true)
}
