package uc

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/qeetap/hive/cache"
)

// limiter keeps the brute-force counters in the cache, shared by every uc.
// A source is a client IPv4 address or IPv6 prefix (see sourceOf):
//
//	uc:rl:<src>:<window#>     requests from src in the current rate window
//	uc:fail:a:<id>:<src>      failed password checks on account id from src (FailWindow)
//	uc:fail:ip:<src>          failed password or code checks from src (FailWindow)
//	uc:lock:a:<id>:<src>      present while src is locked out of account id
//	uc:lock:ip:<src>          present while src is locked out of password checks
//	uc:create:<src>           accounts created by src in its CreateWindow
//	uc:sms-src:<src>          codes sent for src in its SMSSourceWindow
//	uc:sms-all:<minute#>      codes sent by everyone in the current minute
//
// Account lockouts are keyed on the account AND the source: account ids are
// sequential, so anyone can send wrong passwords for any id, and a lockout
// of the account alone would let a stranger lock the owner out. A stranger
// only locks itself out of that account; the owner, from its own source,
// still logs in. Guessing from many sources is bounded by the per-source
// failure limit of each and the cost of argon2.
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

func accountKey(kind string, id int64, src string) string {
	return "uc:" + kind + ":a:" + strconv.FormatInt(id, 10) + ":" + src
}

// accountLocked: too many failed password checks on id from src lately.
func (l *limiter) accountLocked(ctx context.Context, id int64, src string) (bool, time.Duration) {
	return l.locked(ctx, accountKey("lock", id, src))
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
		l.count(ctx, accountKey("fail", id, ip), accountKey("lock", id, ip), l.cfg.AccountFailLimit)
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

// succeed forgets the failures on account id from ip after a correct password.
func (l *limiter) succeed(ctx context.Context, id int64, ip string) {
	if err := l.c.Delete(ctx, accountKey("fail", id, ip)); err != nil {
		l.log.Warn("uc: failure counter not reset", "account", id, "err", err)
	}
}

// clear lifts the lockout and failures of ip on account id (after a
// password reset proven by a code). Other sources' lockouts on the account
// are theirs: they run out on their own.
func (l *limiter) clear(ctx context.Context, id int64, ip string) {
	if err := l.c.Delete(ctx, accountKey("fail", id, ip), accountKey("lock", id, ip)); err != nil {
		l.log.Warn("uc: lockout not cleared", "account", id, "err", err)
	}
}

// quota counts one use of key, whose count lives window from its first use;
// false (with the time until the window ends) when the count is past limit.
// limit 0 disables it.
func (l *limiter) quota(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration) {
	if limit <= 0 {
		return true, 0
	}
	n, err := l.c.Incr(ctx, key, window)
	if err != nil {
		l.log.Warn("uc: quota unavailable; allowing", "key", key, "err", err)
		return true, 0
	}
	if n <= int64(limit) {
		return true, 0
	}
	d, err := l.c.TTL(ctx, key)
	if err != nil || d <= 0 {
		d = window
	}
	return false, d
}

// allowCreate counts one account creation by ip (Config.CreateLimit).
func (l *limiter) allowCreate(ctx context.Context, ip string) (bool, time.Duration) {
	return l.quota(ctx, "uc:create:"+ip, l.cfg.CreateLimit, l.cfg.CreateWindow)
}

// allowCode counts one verification code asked for by ip
// (Config.SMSSourceLimit).
func (l *limiter) allowCode(ctx context.Context, ip string) (bool, time.Duration) {
	return l.quota(ctx, "uc:sms-src:"+ip, l.cfg.SMSSourceLimit, l.cfg.SMSSourceWindow)
}

// allowCodeGlobal counts one code against the cap of all clients together
// in the current minute (Config.SMSGlobalPerMinute).
func (l *limiter) allowCodeGlobal(ctx context.Context) (bool, time.Duration) {
	if l.cfg.SMSGlobalPerMinute <= 0 {
		return true, 0
	}
	now := l.now()
	slot := now.Unix() / 60
	n, err := l.c.Incr(ctx, "uc:sms-all:"+strconv.FormatInt(slot, 10), 2*time.Minute)
	if err != nil {
		l.log.Warn("uc: global code cap unavailable; allowing", "err", err)
		return true, 0
	}
	if n > int64(l.cfg.SMSGlobalPerMinute) {
		return false, time.Unix((slot+1)*60, 0).Sub(now)
	}
	return true, 0
}

// sourceOf is what per-client limits count against: an IPv4 address as
// is, an IPv6 address by its prefix of v6bits (one subscriber usually holds
// a whole /64 and could otherwise pick a fresh address per request).
func sourceOf(a netip.Addr, v6bits int) string {
	a = a.Unmap()
	if !a.Is6() {
		return a.String()
	}
	p, err := a.Prefix(v6bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}
