package gate

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

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
	state    reqState
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
	r := &request{api: a, id: s.seq, uid: uid, user: user, login: login}
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
	s.startLocked(r)
	s.mu.Unlock()
	s.publish(r, payload)
}

// startLocked makes r the in-flight request and arms its timeout.
func (s *session) startLocked(r *request) {
	s.inflight = r
	r.state = reqInFlight
	r.sent = time.Now()
	r.deadline = r.sent.Add(s.srv.cfg.RequestTimeout)
	if s.timer == nil {
		s.timer = time.AfterFunc(s.srv.cfg.RequestTimeout, s.onTimer)
	} else {
		s.timer.Reset(s.srv.cfg.RequestTimeout)
	}
}

// userHeader is the Hive-User value of uid: "" (no header) for 0.
func userHeader(uid int64) string {
	if uid == 0 {
		return ""
	}
	return strconv.FormatInt(uid, 10)
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
	h := reqHeaderPool.Get().(*reqHeader)
	h.gate[0] = s.srv.cfg.ID
	h.session[0] = s.subj[strings.LastIndexByte(s.subj, '.')+1:]
	h.req[0] = strconv.FormatUint(reqID, 10)
	if user != "" {
		h.user[0] = user
		h.h[bus.HdrUser] = h.user[:]
	} else {
		delete(h.h, bus.HdrUser)
	}
	err := s.srv.nc.PublishMsg(&nats.Msg{
		Subject: bus.RequestSubject(api),
		Reply:   reply,
		Header:  h.h,
		Data:    payload,
	})
	h.clear()
	reqHeaderPool.Put(h)
	return err
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
	s.finish(r.id, r.api.res, r.api.answer(def.ResCode_RC_TIMEOUT), true, outcomeTimeout)
}

// noResponders answers the in-flight request RC_COMMON_SERVER_NOT_READY:
// NATS reported that no game worker subscribes to its api.
func (s *session) noResponders() {
	s.mu.Lock()
	r := s.inflight
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
	if r.login && answered && !s.stoppingLocked() && resCode(data) == 0 {
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
	} else if r.api.name == apiLogout && answered && resCode(data) == 0 {
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
	if len(s.waiting) > 0 && !s.stoppingLocked() {
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

// resCode reads field 1 (code) of a Res payload; -1 if absent or unreadable.
// Only used for Login.Res and Logout.Res, whose code is field 1.
func resCode(payload []byte) int32 {
	var r msg.Logout_Res // any message with code = 1 decodes the same
	if err := (proto.UnmarshalOptions{AllowPartial: true, DiscardUnknown: true}).Unmarshal(payload, &r); err != nil || r.Code == nil {
		return -1
	}
	return r.GetCode()
}
