package uc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// req is what a handler gets: the parsed parameters and the caller.
type req struct {
	p      params
	ip     string // client IP (see clientIP)
	bearer string // Authorization: Bearer token, if any
	answer resOf  // the route's Res, carrying a code
}

func ok(kind resOf, code def.ResCode) result {
	return result{status: http.StatusOK, res: kind(code)}
}

// bad is HTTP 400 RC_BAD_REQUEST saying why.
func bad(kind resOf, why string) result {
	return result{status: http.StatusBadRequest, res: kind(def.ResCode_RC_BAD_REQUEST), msg: why}
}

// internal maps a storage or hashing failure to its answer: busy hash
// workers are RC_COMMON_SERVER_NOT_READY, anything else an internal error.
func (s *Server) internal(kind resOf, code def.ResCode, what string, err error) result {
	if errors.Is(err, errBusy) {
		return result{status: http.StatusInternalServerError, res: kind(def.ResCode_RC_COMMON_SERVER_NOT_READY)}
	}
	s.log.Error("uc: "+what, "err", err)
	return result{status: http.StatusInternalServerError, res: kind(code)}
}

// limited is the answer to a source over a limit: HTTP 429 with Retry-After.
func limited(kind resOf, retry time.Duration) result {
	return result{status: http.StatusTooManyRequests, res: kind(def.ResCode_RC_RATE_LIMITED)}.withRetry(retry)
}

// sourceLocked is the answer to a source locked out of password and code
// checks (--uc-ip-fail-limit).
func (s *Server) sourceLocked(kind resOf, retry time.Duration) result {
	s.m.refused.WithLabelValues(limitSourceLockout).Inc()
	return limited(kind, retry).withMessage("too many failed password or code checks from your address; wait the seconds in Retry-After")
}

// accountLocked is the answer to a source locked out of one account
// (--uc-account-fail-limit).
func (s *Server) accountLocked(kind resOf, retry time.Duration) result {
	s.m.refused.WithLabelValues(limitAccountLockout).Inc()
	return ok(kind, def.ResCode_RC_ACCOUNT_LOCKED).withRetry(retry)
}

// statusCode is the answer for an account that is not open, or RC_OK.
func statusCode(a *account) def.ResCode {
	switch def.AccountStatus(a.Status) {
	case def.AccountStatus_ACCOUNT_LOCKED:
		return def.ResCode_RC_ACCOUNT_LOCKED
	case def.AccountStatus_ACCOUNT_DELETED:
		return def.ResCode_RC_ACCOUNT_NO_FOUND
	}
	return def.ResCode_RC_OK
}

// login answers a successful auth or registration: token, gate, id.
func (s *Server) login(a *account, gate registry.Gate) result {
	tok, exp, err := s.signer.Sign(a.ID, a.TokenVersion)
	if err != nil {
		return s.internal(answerOf[msg.Auth_Res], def.ResCode_RC_SERVER_INTERNAL_ERROR, "sign token", err)
	}
	return result{status: http.StatusOK, res: &msg.Auth_Res{
		Code:      proto.Int32(int32(def.ResCode_RC_OK)),
		Token:     proto.String(tok),
		Addr:      proto.String(gate.Addr),
		AccountId: proto.Int64(a.ID),
		ExpiresAt: proto.Int64(exp.Unix()),
	}}
}

// pickGate is the least-loaded live gate; ok false when none is live.
func (s *Server) pickGate() (registry.Gate, bool) {
	return registry.Pick(s.deps.Registry.Gates())
}

// auth: POST /v1/account/auth, username+password or device_id alone.
func (s *Server) auth(ctx context.Context, r *req) result {
	p := &r.p
	switch {
	case p.Username != "" || p.Password != "":
		if p.Username == "" || p.Password == "" {
			return bad(r.answer, "send username and password together, or device_id alone")
		}
	case p.DeviceID != "":
		return s.guest(ctx, r)
	default:
		return bad(r.answer, "send username and password, or device_id alone")
	}
	gate, live := s.pickGate()
	if !live {
		return ok(r.answer, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	}
	if !validUsername(p.Username) {
		return ok(r.answer, def.ResCode_RC_AUTH_INVALID_USER)
	}
	if l, retry := s.limits.ipLocked(ctx, r.ip); l {
		return s.sourceLocked(r.answer, retry)
	}
	a, _, err := s.store.lookup(ctx, userKey(p.Username))
	if errors.Is(err, errNotFound) || errors.Is(err, errPending) {
		// Spend the same time as a real check, so timing does not tell
		// which usernames exist.
		if _, _, err := s.hash.verify(ctx, "", p.Password); err != nil {
			return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "dummy hash", err)
		}
		s.limits.fail(ctx, 0, r.ip)
		return ok(r.answer, def.ResCode_RC_AUTH_INVALID_USER)
	}
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "auth lookup", err)
	}
	if l, retry := s.limits.accountLocked(ctx, a.ID, r.ip); l {
		return s.accountLocked(r.answer, retry)
	}
	good, stale, err := s.hash.verify(ctx, a.Hash, p.Password)
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "verify password", err)
	}
	if !good {
		s.limits.fail(ctx, a.ID, r.ip)
		return ok(r.answer, def.ResCode_RC_AUTH_INVALID_USER)
	}
	s.limits.succeed(ctx, a.ID, r.ip)
	if c := statusCode(a); c != def.ResCode_RC_OK {
		return ok(r.answer, c)
	}
	if stale {
		s.rehash(ctx, a, p.Password)
	}
	return s.login(a, gate)
}

// rehash upgrades a hash made with older parameters, now that the
// password is known to be right. Failure only means it stays old.
func (s *Server) rehash(ctx context.Context, a *account, password string) {
	h, err := s.hash.hash(ctx, password)
	if err != nil {
		return
	}
	old := a.Hash
	if _, _, err := s.store.update(ctx, a.ID, func(cur *account) error {
		if cur.Hash != old {
			return errContention // changed meanwhile: leave it
		}
		cur.Hash = h
		return nil
	}); err == nil {
		s.log.Info("uc: password hash upgraded to current parameters", "account", a.ID)
	}
}

// guest: POST /v1/account/auth with device_id alone. The device is looked
// up by the SHA-256 of its id (no argon2 here: a device id is a random
// secret of 128 bits or more that the client made, not one a person chose,
// so a fast hash is enough and the path stays cheap). The first login
// creates the account.
func (s *Server) guest(ctx context.Context, r *req) result {
	if !validDeviceID(r.p.DeviceID) {
		return bad(r.answer, fmt.Sprintf("device_id must be %d to %d characters of A-Z a-z 0-9 _ - (at least 128 random bits)", minDeviceID, maxDeviceID))
	}
	gate, live := s.pickGate()
	if !live {
		return ok(r.answer, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	}
	h := deviceHash(r.p.DeviceID)
	key := deviceKey(h)
	var a *account
	var err error
	counted := false
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		a, _, err = s.store.lookup(ctx, key)
		if errors.Is(err, errNotFound) {
			if !counted {
				counted = true
				if allowed, retry := s.limits.allowCreate(ctx, r.ip); !allowed {
					return s.createLimited(r.answer, retry)
				}
			}
			a = &account{Device: h}
			_, err = s.store.create(ctx, a, func(a *account) error {
				return a.stage("guest", &evt.GuestCreated{AccountId: proto.Int64(a.ID)})
			}, key)
			if err == nil {
				s.outbox.committed(ctx, a.ID)
				break
			}
			if errors.Is(err, errTaken) {
				continue // a racing first login of the same device won: use its account
			}
		}
		if !errors.Is(err, errPending) {
			break
		}
		// Another request is creating this device's account right now.
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return s.internal(r.answer, def.ResCode_RC_LOGIN_USER_CREATE_FAILED, "guest wait", ctx.Err())
		}
	}
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_LOGIN_USER_CREATE_FAILED, "guest", err)
	}
	if c := statusCode(a); c != def.ResCode_RC_OK {
		return ok(r.answer, c)
	}
	if a.Username != "" && !s.cfg.DeviceLoginAfterBind {
		// The guest chose a password: the device id (which a lost or
		// shared device still holds) no longer opens the account.
		return ok(r.answer, def.ResCode_RC_ACCOUNT_ALREADY_BOUND).withMessage("this guest account has a username now: log in with username and password")
	}
	return s.login(a, gate)
}

// createLimited is the answer to a source over --uc-create-limit.
func (s *Server) createLimited(kind resOf, retry time.Duration) result {
	s.m.refused.WithLabelValues(limitCreate).Inc()
	return limited(kind, retry).withMessage("too many accounts created from your address; wait the seconds in Retry-After")
}

// register: POST /v1/account/registry.
func (s *Server) register(ctx context.Context, r *req) result {
	p := &r.p
	if p.Username == "" || p.Password == "" {
		return bad(r.answer, "username and password are required")
	}
	if !validUsername(p.Username) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_USERNAME_INVALID)
	}
	if weakPassword(p.Password, p.Username) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK)
	}
	gate, live := s.pickGate()
	if !live {
		return ok(r.answer, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	}
	key := userKey(p.Username)
	// Cheap early answer for a taken name, before spending a hash on it;
	// the atomic create below is what decides.
	if _, _, err := s.store.lookup(ctx, key); err == nil || errors.Is(err, errPending) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE)
	}
	// Counted before the hash: argon2 is what a flood of registrations
	// would spend.
	if allowed, retry := s.limits.allowCreate(ctx, r.ip); !allowed {
		return s.createLimited(r.answer, retry)
	}
	h, err := s.hash.hash(ctx, p.Password)
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_ACCOUNT_CREATE_FAILED, "hash", err)
	}
	a := &account{Username: p.Username, Hash: h}
	_, err = s.store.create(ctx, a, func(a *account) error {
		return a.stage("register", &evt.AccountRegistered{AccountId: proto.Int64(a.ID), Username: proto.String(a.Username)})
	}, key)
	if errors.Is(err, errTaken) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE)
	}
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_ACCOUNT_CREATE_FAILED, "register", err)
	}
	s.outbox.committed(ctx, a.ID)
	return s.login(a, gate)
}

var errAlreadyBound = errors.New("uc: account already has a username")

// bindAccount: POST /v1/account/bind/account, a guest takes a username and
// password; the caller proves it is that guest with its token.
func (s *Server) bindAccount(ctx context.Context, r *req) result {
	p := &r.p
	if p.AccountID == 0 || p.Username == "" || p.Password == "" {
		return bad(r.answer, "account_id, username and password are required")
	}
	claims, err := s.verifyToken(ctx, r.bearer)
	if err != nil || claims.AccountID != p.AccountID {
		return ok(r.answer, def.ResCode_RC_FORBIDDEN)
	}
	if !validUsername(p.Username) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_USERNAME_INVALID)
	}
	if weakPassword(p.Password, p.Username) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK)
	}
	a, _, err := s.store.get(ctx, p.AccountID)
	if errors.Is(err, errNotFound) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_NO_FOUND)
	}
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "bind lookup", err)
	}
	if c := statusCode(a); c != def.ResCode_RC_OK {
		return ok(r.answer, c)
	}
	if a.Username != "" {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_ALREADY_BOUND)
	}
	key := userKey(p.Username)
	if _, _, err := s.store.lookup(ctx, key); err == nil || errors.Is(err, errPending) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE)
	}
	h, err := s.hash.hash(ctx, p.Password)
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "hash", err)
	}
	irev, err := s.store.reserve(ctx, key, a.ID)
	if errors.Is(err, errTaken) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE)
	}
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "bind reserve", err)
	}
	name := p.Username
	cur, _, err := s.store.update(ctx, a.ID, func(cur *account) error {
		if cur.Username != "" {
			return errAlreadyBound
		}
		cur.Username, cur.Hash = name, h
		cur.TokenVersion++ // device tokens end with device login
		return cur.stage("bind", &evt.AccountBound{AccountId: proto.Int64(cur.ID), Username: proto.String(name)})
	})
	if err != nil {
		s.store.release(key, irev)
		if errors.Is(err, errAlreadyBound) {
			return ok(r.answer, def.ResCode_RC_ACCOUNT_ALREADY_BOUND)
		}
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "bind update", err)
	}
	s.outbox.committed(ctx, a.ID)
	s.revoke(ctx, cur, "username bound; log in with username and password")
	return ok(r.answer, def.ResCode_RC_OK)
}

// verifyToken checks a bearer token with uc's own key, and with any other
// key published in the registry under the token's kid (another uc replica,
// or the key before a rotation).
func (s *Server) verifyToken(ctx context.Context, tok string) (token.Claims, error) {
	if tok == "" {
		return token.Claims{}, token.ErrInvalid
	}
	c, err := s.verifier.Verify(tok)
	if err == nil || !errors.Is(err, token.ErrInvalid) {
		return c, err
	}
	kid := token.PeekKeyID(tok)
	if kid == "" || kid == s.signer.KeyID() {
		return c, err
	}
	pemb, found, kerr := s.deps.Registry.Key(ctx, kid)
	if kerr != nil || !found {
		return c, err
	}
	pub, exp, derr := token.DecodePublishedKey(pemb)
	if derr != nil || token.KeyID(pub) != kid {
		return c, err
	}
	s.verifier.AddKeyUntil(pub, exp)
	return s.verifier.Verify(tok)
}

// verification: POST /v1/verification, send a code to phone.
func (s *Server) verification(ctx context.Context, r *req) result {
	phone := r.p.Phone
	if phone == "" {
		return bad(r.answer, "phone is required")
	}
	if !validPhone(phone) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PHONE_INVALID)
	}
	// Every code is an SMS someone pays for: a quota per source (one client
	// asking codes for many phones), then one for everyone together.
	if allowed, retry := s.limits.allowCode(ctx, r.ip); !allowed {
		s.m.refused.WithLabelValues(limitSMSSource).Inc()
		return limited(r.answer, retry).withMessage("too many verification codes asked for from your address; wait the seconds in Retry-After")
	}
	if allowed, retry := s.limits.allowCodeGlobal(ctx); !allowed {
		s.m.refused.WithLabelValues(limitSMSGlobal).Inc()
		s.log.Warn("uc: --sms-global-per-minute reached; refusing verification codes until the minute ends", "limit", s.cfg.SMSGlobalPerMinute)
		return limited(r.answer, retry).withMessage("verification codes are being sent too fast overall; wait the seconds in Retry-After")
	}
	select {
	case s.smsSlots <- struct{}{}:
	default:
		s.log.Warn("uc: too many SMS sends in flight; refusing a code request")
		return result{status: http.StatusInternalServerError, res: r.answer(def.ResCode_RC_COMMON_SERVER_NOT_READY)}
	}
	code, err := s.codes.issue(ctx, phone)
	if err != nil {
		<-s.smsSlots
		if errors.Is(err, errTooFrequent) {
			s.m.refused.WithLabelValues(limitSMSPhone).Inc()
			return ok(r.answer, def.ResCode_RC_ACCOUNT_VERIFICATION_TOO_FREQUENT)
		}
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "issue code", err)
	}
	s.wg.Add(1)
	go s.sendCode(phone, code)
	return ok(r.answer, def.ResCode_RC_OK)
}

// sendCode delivers a code off the request path; the sender does its own
// retries, and a final failure is logged and counted.
func (s *Server) sendCode(phone, code string) {
	defer s.wg.Done()
	defer func() { <-s.smsSlots }()
	ctx, cancel := context.WithTimeout(s.bg, time.Duration(s.cfg.SMSRetries+1)*s.cfg.SMSTimeout+time.Minute)
	defer cancel()
	if err := s.sms.Send(ctx, phone, code, smsText(code, s.cfg.CodeTTL)); err != nil {
		s.log.Error("uc: verification code not delivered", "phone", maskPhone(phone), "err", err)
		s.m.sms.WithLabelValues("failed").Inc()
		return
	}
	s.m.sms.WithLabelValues("sent").Inc()
}

// codeResult maps a failed code check; wrong codes, and checks where no
// code was live, count as failures of the client source (a probe without a
// code is a probe all the same).
func (s *Server) codeResult(ctx context.Context, kind resOf, ip string, err error) result {
	switch {
	case errors.Is(err, errCodeExpired):
		s.limits.fail(ctx, 0, ip)
		return ok(kind, def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED)
	case errors.Is(err, errCodeMismatch):
		s.limits.fail(ctx, 0, ip)
		return ok(kind, def.ResCode_RC_ACCOUNT_VERIFICATION_INVALID)
	}
	return s.internal(kind, def.ResCode_RC_SERVER_INTERNAL_ERROR, "check code", err)
}

// checkPassword loads account id and checks its password, with the
// lockouts: the shared first half of bind/phone and password/change.
// It returns the account, or the answer to give.
func (s *Server) checkPassword(ctx context.Context, kind resOf, r *req) (*account, *result) {
	if l, retry := s.limits.ipLocked(ctx, r.ip); l {
		res := s.sourceLocked(kind, retry)
		return nil, &res
	}
	if l, retry := s.limits.accountLocked(ctx, r.p.AccountID, r.ip); l {
		res := s.accountLocked(kind, retry)
		return nil, &res
	}
	a, _, err := s.store.get(ctx, r.p.AccountID)
	if errors.Is(err, errNotFound) {
		s.hash.verify(ctx, "", r.p.Password)
		s.limits.fail(ctx, 0, r.ip)
		res := ok(kind, def.ResCode_RC_ACCOUNT_NO_FOUND)
		return nil, &res
	}
	if err != nil {
		res := s.internal(kind, def.ResCode_RC_SERVER_INTERNAL_ERROR, "load account", err)
		return nil, &res
	}
	good, _, err := s.hash.verify(ctx, a.Hash, r.p.Password)
	if err != nil {
		res := s.internal(kind, def.ResCode_RC_SERVER_INTERNAL_ERROR, "verify password", err)
		return nil, &res
	}
	if !good {
		s.limits.fail(ctx, a.ID, r.ip)
		res := ok(kind, def.ResCode_RC_AUTH_INVALID_USER)
		return nil, &res
	}
	s.limits.succeed(ctx, a.ID, r.ip)
	if c := statusCode(a); c != def.ResCode_RC_OK {
		res := ok(kind, c)
		return nil, &res
	}
	return a, nil
}

// bindPhone: POST /v1/account/bind/phone, with password and a code sent
// to the phone.
func (s *Server) bindPhone(ctx context.Context, r *req) result {
	p := &r.p
	if p.AccountID == 0 || p.Password == "" || p.Phone == "" || p.Code == "" {
		return bad(r.answer, "account_id, password, phone and code are required")
	}
	if !validPhone(p.Phone) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PHONE_INVALID)
	}
	if !validCode(p.Code) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_VERIFICATION_INVALID)
	}
	a, res := s.checkPassword(ctx, r.answer, r)
	if res != nil {
		return *res
	}
	// The code first: only whoever received it may learn whether the phone
	// is bound elsewhere. Without it, a taken phone and a free one get the
	// same answer, and the probe counts as a failure.
	if err := s.codes.check(ctx, p.Phone, p.Code); err != nil {
		return s.codeResult(ctx, r.answer, r.ip, err)
	}
	key := phoneKey(p.Phone)
	other, _, err := s.store.lookup(ctx, key)
	switch {
	case err == nil && other.ID != a.ID, errors.Is(err, errPending):
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PHONE_DUPLICATE)
	case err != nil && !errors.Is(err, errNotFound):
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "phone lookup", err)
	}
	irev, err := s.store.reserve(ctx, key, a.ID)
	if errors.Is(err, errTaken) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PHONE_DUPLICATE)
	}
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "phone reserve", err)
	}
	var old string
	phone := p.Phone
	_, _, err = s.store.update(ctx, a.ID, func(cur *account) error {
		old, cur.Phone = cur.Phone, phone
		return cur.stage("phone", &evt.PhoneBound{AccountId: proto.Int64(cur.ID)})
	})
	if err != nil {
		s.store.release(key, irev)
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "phone update", err)
	}
	if old != "" && old != phone {
		s.store.releaseIfOwned(ctx, phoneKey(old), a.ID)
	}
	s.outbox.committed(ctx, a.ID)
	return ok(r.answer, def.ResCode_RC_OK)
}

// changePassword: POST /v1/account/password/change.
func (s *Server) changePassword(ctx context.Context, r *req) result {
	p := &r.p
	if p.AccountID == 0 || p.Password == "" || p.NewPassword == "" {
		return bad(r.answer, "account_id, password and new_password are required")
	}
	a, res := s.checkPassword(ctx, r.answer, r)
	if res != nil {
		return *res
	}
	if weakPassword(p.NewPassword, a.Username) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK)
	}
	h, err := s.hash.hash(ctx, p.NewPassword)
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "hash", err)
	}
	old := a.Hash
	cur, _, err := s.store.update(ctx, a.ID, func(cur *account) error {
		if cur.Hash != old {
			return errCodeMismatch // changed by someone else since we checked: the old password is no longer proof
		}
		cur.Hash = h
		cur.TokenVersion++
		return cur.stage("pwchange", &evt.PasswordChanged{AccountId: proto.Int64(cur.ID)})
	})
	if errors.Is(err, errCodeMismatch) {
		return ok(r.answer, def.ResCode_RC_AUTH_INVALID_USER)
	}
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "password update", err)
	}
	s.outbox.committed(ctx, a.ID)
	s.revoke(ctx, cur, "password changed")
	return ok(r.answer, def.ResCode_RC_OK)
}

// resetPassword: POST /v1/account/password/reset, with a code sent to the
// account's bound phone. An id that does not exist, is deleted or has no
// phone answers as an account whose code was never sent
// (RC_ACCOUNT_VERIFICATION_EXPIRED, counted as a failure): the answer does
// not tell which ids exist or have a phone.
func (s *Server) resetPassword(ctx context.Context, r *req) result {
	p := &r.p
	if p.AccountID == 0 || p.Code == "" || p.NewPassword == "" {
		return bad(r.answer, "account_id, code and new_password are required")
	}
	if l, retry := s.limits.ipLocked(ctx, r.ip); l {
		return s.sourceLocked(r.answer, retry)
	}
	// Checks that do not depend on the account come first, for the same reason.
	if !validCode(p.Code) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_VERIFICATION_INVALID)
	}
	if weakPassword(p.NewPassword, "") {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK)
	}
	a, _, err := s.store.get(ctx, p.AccountID)
	if err != nil && !errors.Is(err, errNotFound) {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "load account", err)
	}
	if err != nil || def.AccountStatus(a.Status) == def.AccountStatus_ACCOUNT_DELETED || a.Phone == "" {
		return s.codeResult(ctx, r.answer, r.ip, errCodeExpired)
	}
	if err := s.codes.check(ctx, a.Phone, p.Code); err != nil {
		return s.codeResult(ctx, r.answer, r.ip, err)
	}
	// Only now, after the code proved the caller holds the phone, may the
	// answer depend on the account's username (the code is spent: a new
	// one is needed).
	if weakPassword(p.NewPassword, a.Username) {
		return ok(r.answer, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK)
	}
	h, err := s.hash.hash(ctx, p.NewPassword)
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "hash", err)
	}
	cur, _, err := s.store.update(ctx, a.ID, func(cur *account) error {
		cur.Hash = h
		cur.TokenVersion++
		return cur.stage("pwreset", &evt.PasswordReset{AccountId: proto.Int64(cur.ID)})
	})
	if err != nil {
		return s.internal(r.answer, def.ResCode_RC_SERVER_INTERNAL_ERROR, "password reset", err)
	}
	s.limits.clear(ctx, a.ID, r.ip)
	s.outbox.committed(ctx, a.ID)
	s.revoke(ctx, cur, "password reset")
	return ok(r.answer, def.ResCode_RC_OK)
}

// revoke makes a's current TokenVersion (just bumped and stored with the
// account) effective: it writes it to the token-versions bucket, where
// gates refuse tokens of older versions at login, and kicks the account's
// live sessions (msg.Kick.Res RC_LOGIN_KICKED on user.<id>, the gate's
// kick contract). The account record is the truth: a failure here is
// logged and counted, not answered, as the change itself happened.
func (s *Server) revoke(ctx context.Context, a *account, reason string) {
	s.m.revocations.Inc()
	if err := s.writeVersion(ctx, a.ID, a.TokenVersion); err != nil {
		s.m.revokeFails.Inc()
		s.log.Error("uc: token version not stored; earlier tokens stay valid until they expire", "account", a.ID, "version", a.TokenVersion, "err", err)
	}
	if err := s.kick(a.ID, reason); err != nil {
		s.log.Error("uc: live sessions not kicked", "account", a.ID, "err", err)
	}
}

// writeVersion stores version for id unless the bucket already holds a
// newer one (two bumps racing must not go backwards).
func (s *Server) writeVersion(ctx context.Context, id, version int64) error {
	key := strconv.FormatInt(id, 10)
	val := []byte(strconv.FormatInt(version, 10))
	var err error
	for range 10 {
		var e jetstream.KeyValueEntry
		e, err = s.versions.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = s.versions.Create(ctx, key, val)
		case err != nil:
			return err
		default:
			if cur, perr := strconv.ParseInt(string(e.Value()), 10, 64); perr == nil && cur >= version {
				return nil
			}
			_, err = s.versions.Update(ctx, key, val, e.Revision())
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !bus.IsConflict(err) {
			return err
		}
	}
	return err
}

// kick publishes msg.Kick.Res{RC_LOGIN_KICKED, reason} on user.<id>, as
// `hive admin kick` does; every gate holding a session of id ends it.
func (s *Server) kick(id int64, reason string) error {
	m := envelope.Kick{User: id, Code: def.ResCode_RC_LOGIN_KICKED, Reason: reason}.Msg()
	nc := s.deps.NC
	if nc == nil {
		nc = s.deps.JS.Conn()
	}
	return nc.PublishMsg(m)
}
