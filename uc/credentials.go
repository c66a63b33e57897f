package uc

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

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
