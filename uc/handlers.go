package uc

import (
	"context"
	"errors"
	"net/http"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
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
	res := &msg.Auth_Res{
		Code:      proto.Int32(int32(def.ResCode_RC_OK)),
		Token:     proto.String(tok),
		Addr:      proto.String(gate.Addr),
		AccountId: proto.Int64(a.ID),
		ExpiresAt: proto.Int64(exp.Unix()),
	}
	if gate.WSURL != "" { // absent, not empty, for a gate without WebSocket
		res.WsUrl = proto.String(gate.WSURL)
	}
	return result{status: http.StatusOK, res: res}
}

// pickGate is the least-loaded live gate; ok false when none is live.
func (s *Server) pickGate() (registry.Gate, bool) {
	return registry.Pick(s.deps.Registry.Gates())
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
