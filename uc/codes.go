package uc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/qeetap/hive/cache"
)

// codeDigits is the length of a verification code.
const codeDigits = 6

// Verification code outcomes.
var (
	errTooFrequent  = errors.New("uc: code requested too often")
	errCodeExpired  = errors.New("uc: no live code for this phone")
	errCodeMismatch = errors.New("uc: wrong code")
)

// codes issues and checks verification codes in the cache. A code is kept
// only as salt:SHA-256(salt|phone|code), under uc:code:<phone> with the
// code's TTL; its checks are counted under uc:code-tries:<phone>; sends are
// rate-limited by uc:sms-last:<phone> (one per min interval) and
// uc:sms-day:<phone> (a 24 h window from the first send).
//
// Six digits are a small space, so the hash only keeps the code from being
// read off the cache; the try limit is what protects it.
type codes struct {
	c           cache.Cache
	ttl         time.Duration
	tries       int
	minInterval time.Duration
	daily       int
}

// issue makes a new code for phone, replacing any earlier one, unless the
// phone had one too recently or too often today (errTooFrequent).
func (v *codes) issue(ctx context.Context, phone string) (string, error) {
	if v.minInterval > 0 {
		n, err := v.c.Incr(ctx, "uc:sms-last:"+phone, v.minInterval)
		if err != nil {
			return "", err
		}
		if n > 1 {
			return "", errTooFrequent
		}
	}
	n, err := v.c.Incr(ctx, "uc:sms-day:"+phone, 24*time.Hour)
	if err != nil {
		return "", err
	}
	if n > int64(v.daily) {
		return "", errTooFrequent
	}
	max := big.NewInt(1_000_000)
	r, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", fmt.Errorf("uc: code: %w", err)
	}
	code := fmt.Sprintf("%06d", r.Int64())
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("uc: code salt: %w", err)
	}
	if err := v.c.Delete(ctx, "uc:code-tries:"+phone); err != nil {
		return "", err
	}
	if err := v.c.Set(ctx, "uc:code:"+phone, []byte(hex.EncodeToString(salt)+":"+codeHash(salt, phone, code)), v.ttl); err != nil {
		return "", err
	}
	return code, nil
}

func codeHash(salt []byte, phone, code string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(phone))
	h.Write([]byte{0})
	h.Write([]byte(code))
	return hex.EncodeToString(h.Sum(nil))
}

// check consumes code for phone: nil when it matches (the code is then
// deleted: single use), errCodeMismatch when it does not, errCodeExpired
// when there is no live code (never sent, expired, used, or its tries spent).
func (v *codes) check(ctx context.Context, phone, code string) error {
	b, err := v.c.Get(ctx, "uc:code:"+phone)
	if errors.Is(err, cache.ErrMiss) {
		return errCodeExpired
	}
	if err != nil {
		return err
	}
	n, err := v.c.Incr(ctx, "uc:code-tries:"+phone, v.ttl)
	if err != nil {
		return err
	}
	if n > int64(v.tries) {
		v.c.Delete(ctx, "uc:code:"+phone)
		return errCodeExpired
	}
	saltHex, want, ok := strings.Cut(string(b), ":")
	salt, herr := hex.DecodeString(saltHex)
	if !ok || herr != nil {
		v.c.Delete(ctx, "uc:code:"+phone)
		return errCodeExpired
	}
	if subtle.ConstantTimeCompare([]byte(codeHash(salt, phone, code)), []byte(want)) != 1 {
		if n >= int64(v.tries) {
			v.c.Delete(ctx, "uc:code:"+phone) // last try spent
		}
		return errCodeMismatch
	}
	return v.c.Delete(ctx, "uc:code:"+phone, "uc:code-tries:"+phone)
}
