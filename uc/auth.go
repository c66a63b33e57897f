package uc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

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
