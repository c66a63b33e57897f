package uc

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/qeetap/hive/proto/def"
)

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
