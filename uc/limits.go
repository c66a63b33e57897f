package uc

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/qeetap/hive/cache"
)

// limiter keeps the brute-force counters in the cache, shared by every uc:
//
//	uc:rl:<ip>:<window#>  requests from ip in the current rate window
//	uc:fail:a:<id>        failed password checks on account id (FailWindow)
//	uc:fail:ip:<ip>       failed password or code checks from ip (FailWindow)
//	uc:lock:a:<id>        present while account id is locked out
//	uc:lock:ip:<ip>       present while ip is locked out of password checks
//
// The cache is allowed to be lost (DESIGN §1), so when it fails the limits
// fail open (logged): an outage of redis must not stop every login.
type limiter struct {
	c   cache.Cache
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// allowRequest counts one request from ip; false (with how long until the
// window ends) when it is over Config.IPRate.
func (l *limiter) allowRequest(ctx context.Context, ip string) (bool, time.Duration) {
	if l.cfg.IPRate <= 0 {
		return true, 0
	}
	w := l.cfg.IPRateWindow
	now := l.now().UnixNano()
	slot := now / int64(w)
	key := make([]byte, 0, 64)
	key = append(key, "uc:rl:"...)
	key = append(key, ip...)
	key = append(key, ':')
	key = strconv.AppendInt(key, slot, 10)
	n, err := l.c.Incr(ctx, string(key), w+time.Second)
	if err != nil {
		l.log.Warn("uc: rate limit unavailable; allowing", "err", err)
		return true, 0
	}
	if n > int64(l.cfg.IPRate) {
		return false, time.Duration((slot+1)*int64(w) - now)
	}
	return true, 0
}

// locked reports whether the lock key is live and for how much longer.
func (l *limiter) locked(ctx context.Context, key string) (bool, time.Duration) {
	d, err := l.c.TTL(ctx, key)
	if err != nil {
		l.log.Warn("uc: lockout check unavailable; allowing", "key", key, "err", err)
		return false, 0
	}
	return d > 0, d
}

// accountLocked: too many failed password checks on id lately.
func (l *limiter) accountLocked(ctx context.Context, id int64) (bool, time.Duration) {
	return l.locked(ctx, "uc:lock:a:"+strconv.FormatInt(id, 10))
}

// ipLocked: too many failed checks from ip lately.
func (l *limiter) ipLocked(ctx context.Context, ip string) (bool, time.Duration) {
	return l.locked(ctx, "uc:lock:ip:"+ip)
}

// fail records a failed check by ip on account id (0: no account, e.g. a
// wrong verification code) and starts or extends lockouts: the Nth failure
// at or past the limit locks for LockoutBase << (N-limit), at most LockoutMax.
func (l *limiter) fail(ctx context.Context, id int64, ip string) {
	if id > 0 {
		l.count(ctx, "uc:fail:a:"+strconv.FormatInt(id, 10), "uc:lock:a:"+strconv.FormatInt(id, 10), l.cfg.AccountFailLimit)
	}
	l.count(ctx, "uc:fail:ip:"+ip, "uc:lock:ip:"+ip, l.cfg.IPFailLimit)
}

func (l *limiter) count(ctx context.Context, failKey, lockKey string, limit int) {
	n, err := l.c.Incr(ctx, failKey, l.cfg.FailWindow)
	if err != nil {
		l.log.Warn("uc: failure counter unavailable", "key", failKey, "err", err)
		return
	}
	if n < int64(limit) {
		return
	}
	if err := l.c.Set(ctx, lockKey, []byte("1"), lockFor(l.cfg, n-int64(limit))); err != nil {
		l.log.Warn("uc: lockout not stored", "key", lockKey, "err", err)
	}
}

// lockFor is the lockout after k failures beyond the limit.
func lockFor(c Config, k int64) time.Duration {
	if k > 30 {
		return c.LockoutMax
	}
	d := c.LockoutBase << k
	if d <= 0 || d > c.LockoutMax {
		return c.LockoutMax
	}
	return d
}

// succeed forgets the failures on account id after a correct password.
func (l *limiter) succeed(ctx context.Context, id int64) {
	if err := l.c.Delete(ctx, "uc:fail:a:"+strconv.FormatInt(id, 10)); err != nil {
		l.log.Warn("uc: failure counter not reset", "account", id, "err", err)
	}
}

// clear lifts account id's lockout and failures (after a password reset
// proven by a code).
func (l *limiter) clear(ctx context.Context, id int64) {
	s := strconv.FormatInt(id, 10)
	if err := l.c.Delete(ctx, "uc:fail:a:"+s, "uc:lock:a:"+s); err != nil {
		l.log.Warn("uc: lockout not cleared", "account", id, "err", err)
	}
}
