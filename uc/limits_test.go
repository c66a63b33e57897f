package uc

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
)

func TestAccountLockout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AccountFailLimit = 3; c.IPFailLimit = 100 })
	a := e.register("victim", "password1")
	for i := range 3 {
		want(t, "wrong "+strconv.Itoa(i), e.post(client.PathAuth, form("username", "victim", "password", "guess-"+strconv.Itoa(i))), 200, def.ResCode_RC_AUTH_INVALID_USER)
	}
	// Now even the right password is refused, here and on other password checks.
	l := e.post(client.PathAuth, form("username", "victim", "password", "password1"))
	want(t, "locked", l, 200, def.ResCode_RC_ACCOUNT_LOCKED)
	if l.header.Get("Retry-After") == "" {
		t.Fatal("locked answer has no Retry-After")
	}
	sid := strconv.FormatInt(a.int("account_id"), 10)
	want(t, "locked change", e.post(client.PathChangePassword, form("account_id", sid, "password", "password1", "new_password", "password2")), 200, def.ResCode_RC_ACCOUNT_LOCKED)
	// The lockout grows: the next failure past the limit doubles it.
	ttl := func() time.Duration {
		d, _ := e.cache.TTL(context.Background(), "uc:lock:a:"+sid+":127.0.0.1")
		return d
	}
	if d := ttl(); d <= 0 || d > time.Minute {
		t.Fatalf("first lockout %v, want (0, 1m]", d)
	}
	e.cache.Delete(context.Background(), "uc:lock:a:"+sid+":127.0.0.1") // as if it ran out
	want(t, "wrong after lockout", e.post(client.PathAuth, form("username", "victim", "password", "guess-x")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	if d := ttl(); d <= time.Minute || d > 2*time.Minute {
		t.Fatalf("second lockout %v, want (1m, 2m]", d)
	}
	// Other accounts are untouched.
	e.register("bystander", "password1")
	want(t, "bystander", e.post(client.PathAuth, form("username", "bystander", "password", "password1")), 200, def.ResCode_RC_OK)
}

func TestIPLockoutAndRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IPFailLimit = 2; c.AccountFailLimit = 100 })
	e.register("target", "password1")
	for range 2 {
		want(t, "wrong", e.post(client.PathAuth, form("username", "target", "password", "nope-nope")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	}
	l := e.post(client.PathAuth, form("username", "target", "password", "password1"))
	want(t, "ip locked", l, http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
	if l.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Guest login does not check passwords: not affected.
	e.guest("dev-x")

	r := newEnv(t, func(c *Config) { c.IPRate = 5; c.IPRateWindow = time.Minute })
	for i := range 5 {
		want(t, "within rate "+strconv.Itoa(i), r.post(client.PathAuth, form("device_id", testDevice("d"))), 200, def.ResCode_RC_OK)
	}
	a := r.post(client.PathRegister, form("username", "late", "password", "password1"))
	want(t, "over rate", a, http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
	if s, _ := strconv.Atoi(a.header.Get("Retry-After")); s < 1 || s > 60 {
		t.Fatalf("Retry-After %q, want 1..60", a.header.Get("Retry-After"))
	}
}

// TestLimitsOnRedis runs the lockout and code paths against a real redis,
// the cache of a cluster deployment.
func TestLimitsOnRedis(t *testing.T) {
	rd := testenv.StartRedis(t)
	c, err := cache.NewRedis(rd.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := newEnvCache(t, c, func(c *Config) { c.AccountFailLimit = 2; c.IPRate = 1000 })
	a := e.register("redisuser", "password1")
	for range 2 {
		e.post(client.PathAuth, form("username", "redisuser", "password", "wrong-one"))
	}
	want(t, "locked on redis", e.post(client.PathAuth, form("username", "redisuser", "password", "password1")), 200, def.ResCode_RC_ACCOUNT_LOCKED)
	const phone = "+8613511112222"
	code := e.requestCode(phone)
	want(t, "too frequent on redis", e.post(client.PathVerification, form("phone", phone)), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_TOO_FREQUENT)
	e.cache.Delete(context.Background(), "uc:lock:a:"+strconv.FormatInt(a.int("account_id"), 10)+":127.0.0.1", "uc:fail:a:"+strconv.FormatInt(a.int("account_id"), 10)+":127.0.0.1")
	want(t, "bind on redis", e.post(client.PathBindPhone, form("account_id", strconv.FormatInt(a.int("account_id"), 10), "password", "password1", "phone", phone, "code", code)), 200, def.ResCode_RC_OK)
	// The code is stored hashed: the raw digits are nowhere in redis.
	e.requestCode("+8613511113333")
	keys, _ := rd.Client.Keys(context.Background(), "uc:code:*").Result()
	for _, k := range keys {
		v, _ := rd.Client.Get(context.Background(), k).Result()
		if strings.Count(v, ":") != 1 || len(v) < 64 {
			t.Fatalf("code stored as %q, want salt:sha256", v)
		}
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		peer, xff string
		proxies   []netip.Prefix
		want      string
	}{
		{"203.0.113.9", "1.2.3.4", nil, "203.0.113.9"},                  // no trusted proxies: XFF ignored
		{"203.0.113.9", "1.2.3.4", proxies, "203.0.113.9"},              // peer is not a proxy: XFF ignored
		{"10.1.1.1", "198.51.100.7", proxies, "198.51.100.7"},           // one trusted hop
		{"10.1.1.1", "6.6.6.6, 198.51.100.7", proxies, "198.51.100.7"},  // spoofed left entry ignored
		{"10.1.1.1", "198.51.100.7, 10.2.2.2", proxies, "198.51.100.7"}, // two proxies
		{"10.1.1.1", "junk", proxies, "10.1.1.1"},
		{"10.1.1.1", "", proxies, "10.1.1.1"},
		{"::ffff:127.0.0.1", "2001:db8::1", proxies, "2001:db8::1"},
	} {
		got := clientIP(netip.MustParseAddr(c.peer), []byte(c.xff), c.proxies)
		if got.String() != c.want {
			t.Errorf("clientIP(%s, %q) = %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	cfg := DefaultConfig()
	cfg.TrustedProxies = "10.0.0.0/8, 127.0.0.1"
	if p, err := cfg.validate(); err != nil || len(p) != 2 {
		t.Fatalf("validate trusted proxies: %v %v", p, err)
	}
	cfg.TrustedProxies = "nonsense"
	if _, err := cfg.validate(); err == nil {
		t.Fatal("bad --uc-trusted-proxies accepted")
	}
}

// TestTrustedProxyEndToEnd: behind a trusted proxy, lockouts follow the
// forwarded client, not the proxy.
func TestTrustedProxyEndToEnd(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TrustedProxies = "127.0.0.1"; c.IPFailLimit = 1; c.AccountFailLimit = 100 })
	e.register("proxied", "password1")
	e.post(client.PathAuth, form("username", "proxied", "password", "wrongwrong"), "X-Forwarded-For", "198.51.100.1")
	want(t, "bad client locked", e.post(client.PathAuth, form("username", "proxied", "password", "password1"), "X-Forwarded-For", "198.51.100.1"), 429, def.ResCode_RC_RATE_LIMITED)
	want(t, "other client fine", e.post(client.PathAuth, form("username", "proxied", "password", "password1"), "X-Forwarded-For", "198.51.100.2"), 200, def.ResCode_RC_OK)
}
