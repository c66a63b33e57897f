package uc

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

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
