package uc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/token"
)

// Each test here is an attack on the account server; it passes when the
// attack fails.

// proxied configures uc behind a trusted proxy on loopback, so a test can
// speak as many client addresses through X-Forwarded-For.
func proxied(c *Config) { c.TrustedProxies = "127.0.0.1" }

// from sends the request as client ip behind the proxy.
func from(ip string) []string { return []string{"X-Forwarded-For", ip} }

// postXFF sends form with one X-Forwarded-For header line per entry of
// lines: a client writes the first, a proxy that appends (HAProxy) the last.
func (e *env) postXFF(path string, f map[string][]string, lines ...string) answer {
	e.t.Helper()
	v := form()
	for k, vs := range f {
		v[k] = vs
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, l := range lines {
		req.Header.Add("X-Forwarded-For", l)
	}
	return e.do(req)
}

// TestXFFSecondLineSpoof: a client sends its own X-Forwarded-For line and
// the proxy appends a second line with the real address. Reading the first
// line only would let the client pick a fresh address per request and never
// be locked out.
func TestXFFSecondLineSpoof(t *testing.T) {
	e := newEnv(t, func(c *Config) { proxied(c); c.IPFailLimit = 1; c.AccountFailLimit = 100 })
	e.register("xffuser", "password1")
	e.postXFF(client.PathAuth, form("username", "xffuser", "password", "wrong-pass"), "6.6.6.1", "198.51.100.9")
	a := e.postXFF(client.PathAuth, form("username", "xffuser", "password", "password1"), "6.6.6.2", "198.51.100.9")
	want(t, "real client after its failure, behind a spoofed first line", a, http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
	want(t, "another real client", e.postXFF(client.PathAuth, form("username", "xffuser", "password", "password1"), "6.6.6.1", "198.51.100.10"), 200, def.ResCode_RC_OK)
}

// TestIPv6PrefixLockout: one IPv6 client holds a whole /64; limiting per
// address would give it 2^64 fresh budgets.
func TestIPv6PrefixLockout(t *testing.T) {
	e := newEnv(t, func(c *Config) { proxied(c); c.IPFailLimit = 1; c.AccountFailLimit = 100 })
	e.register("v6user", "password1")
	e.post(client.PathAuth, form("username", "v6user", "password", "wrong-pass"), from("2001:db8:1:2::1")...)
	want(t, "same /64, another address", e.post(client.PathAuth, form("username", "v6user", "password", "password1"), from("2001:db8:1:2:ffff::9")...), http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
	want(t, "another /64", e.post(client.PathAuth, form("username", "v6user", "password", "password1"), from("2001:db8:1:3::1")...), 200, def.ResCode_RC_OK)
}

// TestStrangerCannotLockOwner: account ids are sequential, so anyone can
// send wrong passwords for any id. That must not lock the owner out.
func TestStrangerCannotLockOwner(t *testing.T) {
	e := newEnv(t, func(c *Config) { proxied(c); c.IPFailLimit = 100 })
	const owner, stranger = "198.51.100.1", "203.0.113.66"
	a := e.post(client.PathRegister, form("username", "victim", "password", "password1"), from(owner)...)
	want(t, "register", a, 200, def.ResCode_RC_OK)
	sid := strconv.FormatInt(a.int("account_id"), 10)
	for i := range 8 {
		e.post(client.PathChangePassword, form("account_id", sid, "password", "guess-"+strconv.Itoa(i), "new_password", "mine-now-1"), from(stranger)...)
	}
	want(t, "stranger with the right password is locked", e.post(client.PathAuth, form("username", "victim", "password", "password1"), from(stranger)...), 200, def.ResCode_RC_ACCOUNT_LOCKED)
	want(t, "owner logs in", e.post(client.PathAuth, form("username", "victim", "password", "password1"), from(owner)...), 200, def.ResCode_RC_OK)
	want(t, "owner changes the password", e.post(client.PathChangePassword, form("account_id", sid, "password", "password1", "new_password", "password2"), from(owner)...), 200, def.ResCode_RC_OK)
}

// TestRegistrationFlood: one source creating accounts without end (each
// named one costs an argon2 hash) runs into the creation quota; logins of
// existing accounts and other sources are not affected.
func TestRegistrationFlood(t *testing.T) {
	e := newEnv(t, proxied)
	const flooder = "198.51.100.7"
	limit := DefaultConfig().IPRate // placeholder bound: far above any sane quota
	refused := 0
	var first answer
	for i := range limit {
		var a answer
		if i%2 == 0 {
			a = e.post(client.PathRegister, form("username", fmt.Sprintf("flood%03d", i), "password", "password1"), from(flooder)...)
		} else {
			a = e.post(client.PathAuth, form("device_id", testDevice(fmt.Sprintf("flood-%d", i))), from(flooder)...)
		}
		if a.status == http.StatusTooManyRequests {
			if refused == 0 {
				first = a
			}
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("one source created %d accounts, none refused", limit)
	}
	want(t, "flood refused", first, http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
	if first.header.Get("Retry-After") == "" {
		t.Fatal("creation quota answer has no Retry-After")
	}
	want(t, "existing account logs in from the flooding source", e.post(client.PathAuth, form("username", "flood000", "password", "password1"), from(flooder)...), 200, def.ResCode_RC_OK)
	want(t, "existing guest logs in from the flooding source", e.post(client.PathAuth, form("device_id", testDevice("flood-1")), from(flooder)...), 200, def.ResCode_RC_OK)
	want(t, "another source registers", e.post(client.PathRegister, form("username", "bystander", "password", "password1"), from("198.51.100.8")...), 200, def.ResCode_RC_OK)
	if n := counterValue(e.srv.m.refused.WithLabelValues(limitCreate)); int(n) != refused {
		t.Fatalf("create refusals counted %v, want %d", n, refused)
	}
}

// TestCreateLimitOff: --uc-create-limit 0 lets one source create freely.
func TestCreateLimitOff(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CreateLimit = 0 })
	for i := range DefaultConfig().CreateLimit + 5 {
		e.guest(fmt.Sprintf("unlimited-%d", i))
	}
}

// TestSMSGlobalCap: many sources together cannot pass the cap on codes per
// minute.
func TestSMSGlobalCap(t *testing.T) {
	e := newEnv(t, func(c *Config) { proxied(c); c.SMSGlobalPerMinute = 3 })
	refused := 0
	for i := range 8 {
		a := e.post(client.PathVerification, form("phone", fmt.Sprintf("+86139%08d", i)), from(fmt.Sprintf("198.51.100.%d", 100+i))...)
		if a.status == http.StatusTooManyRequests {
			want(t, "global cap", a, http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
			if s, _ := strconv.Atoi(a.header.Get("Retry-After")); s < 1 || s > 60 {
				t.Fatalf("Retry-After %q, want 1..60", a.header.Get("Retry-After"))
			}
			refused++
		}
	}
	// The minute may turn during the loop, giving a fresh budget once.
	if refused < 2 {
		t.Fatalf("%d of 8 codes refused under a cap of 3 per minute", refused)
	}
	if n := counterValue(e.srv.m.refused.WithLabelValues(limitSMSGlobal)); int(n) != refused {
		t.Fatalf("global cap refusals counted %v, want %d", n, refused)
	}
}

func TestSourceOf(t *testing.T) {
	for _, c := range []struct {
		addr string
		bits int
		want string
	}{
		{"198.51.100.7", 64, "198.51.100.7"},
		{"::ffff:198.51.100.7", 64, "198.51.100.7"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::/56"},
		{"2001:db8::1", 128, "2001:db8::1/128"},
	} {
		if got := sourceOf(netip.MustParseAddr(c.addr), c.bits); got != c.want {
			t.Errorf("sourceOf(%s, %d) = %s, want %s", c.addr, c.bits, got, c.want)
		}
	}
}

// TestSMSFloodFromOneSource: one source asking codes for many phones (each
// an SMS someone pays for) runs into the per-source quota.
func TestSMSFloodFromOneSource(t *testing.T) {
	e := newEnv(t, proxied)
	refused := 0
	for i := range 50 {
		a := e.post(client.PathVerification, form("phone", fmt.Sprintf("+86138%08d", i)), from("198.51.100.20")...)
		if a.status == http.StatusTooManyRequests {
			want(t, "sms flood", a, http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("one source had codes sent to 50 phones")
	}
	want(t, "another source", e.post(client.PathVerification, form("phone", "+8613999999999"), from("198.51.100.21")...), 200, def.ResCode_RC_OK)
	if n := counterValue(e.srv.m.refused.WithLabelValues(limitSMSSource)); int(n) != refused {
		t.Fatalf("per-source code refusals counted %v, want %d", n, refused)
	}
}

// TestBindPhoneEnumeration: an attacker with an account of its own must not
// learn whether a phone is bound elsewhere by trying to bind it without the
// code, and each probe is a failure of its source.
func TestBindPhoneEnumeration(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IPFailLimit = 3; c.AccountFailLimit = 100 })
	owner := e.register("phoneowner", "password1")
	const taken, free = "+8613800138000", "+8613800138001"
	code := e.requestCode(taken)
	want(t, "owner binds", e.post(client.PathBindPhone, form("account_id", strconv.FormatInt(owner.int("account_id"), 10), "password", "password1", "phone", taken, "code", code)), 200, def.ResCode_RC_OK)
	e.cache.Delete(context.Background(), "uc:fail:ip:127.0.0.1")

	prober := e.register("prober", "password1")
	probe := func(phone string) answer {
		return e.post(client.PathBindPhone, form("account_id", strconv.FormatInt(prober.int("account_id"), 10), "password", "password1", "phone", phone, "code", "123456"))
	}
	t1, f1 := probe(taken), probe(free)
	if t1.status != f1.status || t1.code() != f1.code() {
		t.Fatalf("taken phone answers HTTP %d %s, free phone HTTP %d %s: the answer tells them apart", t1.status, t1.code(), f1.status, f1.code())
	}
	if t1.code() == def.ResCode_RC_ACCOUNT_PHONE_DUPLICATE {
		t.Fatal("a probe without a valid code learnt the phone is taken")
	}
	probe(free)
	want(t, "probes count as failures", probe(taken), http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
}

// TestResetPasswordEnumeration: password/reset must not tell whether an id
// exists or has a phone, and each probe is a failure of its source.
func TestResetPasswordEnumeration(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IPFailLimit = 3; c.AccountFailLimit = 100 })
	nophone := e.register("nophone", "password1")
	withphone := e.register("withphone", "password1")
	code := e.requestCode("+8613700137000")
	want(t, "bind", e.post(client.PathBindPhone, form("account_id", strconv.FormatInt(withphone.int("account_id"), 10), "password", "password1", "phone", "+8613700137000", "code", code)), 200, def.ResCode_RC_OK)
	e.cache.Delete(context.Background(), "uc:fail:ip:127.0.0.1")

	reset := func(id int64) answer {
		return e.post(client.PathResetPassword, form("account_id", strconv.FormatInt(id, 10), "code", "123456", "new_password", "password9"))
	}
	ghost, bare, real := reset(999999), reset(nophone.int("account_id")), reset(withphone.int("account_id"))
	if ghost.status != real.status || ghost.code() != real.code() || bare.status != real.status || bare.code() != real.code() {
		t.Fatalf("no such id: HTTP %d %s; no phone: HTTP %d %s; with phone: HTTP %d %s: the answers tell them apart",
			ghost.status, ghost.code(), bare.status, bare.code(), real.status, real.code())
	}
	want(t, "probes count as failures", reset(999998), http.StatusTooManyRequests, def.ResCode_RC_RATE_LIMITED)
}

// TestTokenVersionAfterPasswordChange: a password change revokes what the
// old password gave: the account's token version is bumped in the
// token-versions bucket (gates refuse older tokens), live sessions are
// kicked on user.<id>, and new tokens carry the new version.
func TestTokenVersionAfterPasswordChange(t *testing.T) {
	e := newEnv(t, nil)
	a := e.register("revoker", "password1")
	id := a.int("account_id")
	if v := e.tokenVersion(a.str("token")); v != 0 {
		t.Fatalf("first token has version %d, want 0", v)
	}
	kicks := e.subscribeUser(id)
	want(t, "change", e.post(client.PathChangePassword, form("account_id", strconv.FormatInt(id, 10), "password", "password1", "new_password", "password2")), 200, def.ResCode_RC_OK)
	if got := e.bucketVersion(id); got != "1" {
		t.Fatalf("token-versions[%d] = %q after a password change, want \"1\"", id, got)
	}
	e.wantKick(kicks)
	l := e.post(client.PathAuth, form("username", "revoker", "password", "password2"))
	want(t, "login with the new password", l, 200, def.ResCode_RC_OK)
	if v := e.tokenVersion(l.str("token")); v != 1 {
		t.Fatalf("token after the change has version %d, want 1", v)
	}

	// A reset by code bumps it again.
	const phone = "+8613600136000"
	sid := strconv.FormatInt(id, 10)
	want(t, "bind phone", e.post(client.PathBindPhone, form("account_id", sid, "password", "password2", "phone", phone, "code", e.requestCode(phone))), 200, def.ResCode_RC_OK)
	e.cache.Delete(context.Background(), "uc:sms-last:"+phone)
	want(t, "reset", e.post(client.PathResetPassword, form("account_id", sid, "code", e.requestCode(phone), "new_password", "password3")), 200, def.ResCode_RC_OK)
	if got := e.bucketVersion(id); got != "2" {
		t.Fatalf("token-versions[%d] = %q after a reset, want \"2\"", id, got)
	}
	e.wantKick(kicks)
	l = e.post(client.PathAuth, form("username", "revoker", "password", "password3"))
	if v := e.tokenVersion(l.str("token")); v != 2 {
		t.Fatalf("token after the reset has version %d, want 2", v)
	}
	if n := counterValue(e.srv.m.revocations); n != 2 {
		t.Fatalf("revocations counted %v, want 2", n)
	}
}

// TestTokenVersionAfterBind: a guest binding a username revokes its device
// tokens.
func TestTokenVersionAfterBind(t *testing.T) {
	e := newEnv(t, nil)
	g := e.guest("versioned")
	id := g.int("account_id")
	kicks := e.subscribeUser(id)
	want(t, "bind", e.post(client.PathBindAccount, form("account_id", strconv.FormatInt(id, 10), "username", "versioned", "password", "password1"), "Authorization", "Bearer "+g.str("token")), 200, def.ResCode_RC_OK)
	if got := e.bucketVersion(id); got != "1" {
		t.Fatalf("token-versions[%d] = %q after a bind, want \"1\"", id, got)
	}
	e.wantKick(kicks)
	if v := e.tokenVersion(e.post(client.PathAuth, form("username", "versioned", "password", "password1")).str("token")); v != 1 {
		t.Fatalf("token after the bind has version %d, want 1", v)
	}
}

// TestOldRecordWithoutVersion: an account stored before token versions
// existed reads as version 0 and logs in.
func TestOldRecordWithoutVersion(t *testing.T) {
	e := newEnv(t, nil)
	a := e.register("oldtimer", "password1")
	id := a.int("account_id")
	ctx := context.Background()
	kv, err := e.nats.JS.KeyValue(ctx, bus.AccountsBucket)
	if err != nil {
		t.Fatal(err)
	}
	en, err := kv.Get(ctx, recordKey(id))
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	json.Unmarshal(en.Value(), &rec)
	rec["token_version"] = nil
	delete(rec, "token_version")
	b, _ := json.Marshal(rec)
	if strings.Contains(string(b), "version") {
		t.Fatalf("record %s still has a version", b)
	}
	if _, err := kv.Put(ctx, recordKey(id), b); err != nil {
		t.Fatal(err)
	}
	l := e.post(client.PathAuth, form("username", "oldtimer", "password", "password1"))
	want(t, "old record logs in", l, 200, def.ResCode_RC_OK)
	if v := e.tokenVersion(l.str("token")); v != 0 {
		t.Fatalf("old record's token has version %d, want 0", v)
	}
}

// tokenVersion is the ver claim of tok, a token of e's uc.
func (e *env) tokenVersion(tok string) int64 {
	t := e.t
	t.Helper()
	c, err := token.NewVerifier(e.srv.cfg.TokenIssuer, e.signer.PublicKey()).Verify(tok)
	if err != nil {
		t.Fatalf("token %q: %v", tok, err)
	}
	return c.Version
}

// subscribeUser listens on user.<id>, where kicks are published.
func (e *env) subscribeUser(id int64) chan *nats.Msg {
	e.t.Helper()
	ch := make(chan *nats.Msg, 16)
	sub, err := e.nats.Conn.ChanSubscribe(bus.UserSubject(id), ch)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { sub.Unsubscribe() })
	if err := e.nats.Conn.Flush(); err != nil {
		e.t.Fatal(err)
	}
	return ch
}

// wantKick waits for a msg.Kick.Res with RC_LOGIN_KICKED and a reason.
func (e *env) wantKick(ch chan *nats.Msg) {
	e.t.Helper()
	select {
	case m := <-ch:
		if m.Header.Get(envelope.HdrAPI) != "msg.Kick.Res" {
			e.t.Fatalf("message on user subject has %s %q, want msg.Kick.Res", envelope.HdrAPI, m.Header.Get(envelope.HdrAPI))
		}
		var k msg.Kick_Res
		if err := proto.Unmarshal(m.Data, &k); err != nil {
			e.t.Fatal(err)
		}
		if def.ResCode(k.GetCode()) != def.ResCode_RC_LOGIN_KICKED || k.GetReason() == "" {
			e.t.Fatalf("kick %v, want RC_LOGIN_KICKED with a reason", &k)
		}
	case <-time.After(10 * time.Second):
		e.t.Fatal("no kick published on the user subject")
	}
}

// bucketVersion is the token-versions entry of id ("" when absent).
func (e *env) bucketVersion(id int64) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := e.nats.JS.KeyValue(ctx, bus.TokenVersionsBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := kv.Get(ctx, strconv.FormatInt(id, 10))
	if err != nil {
		return ""
	}
	return string(en.Value())
}

// TestShortDeviceID: a guest's device id is its only credential; "1" can
// be guessed by anyone.
func TestShortDeviceID(t *testing.T) {
	e := newEnv(t, nil)
	for _, d := range []string{"1", "short-device", strings.Repeat("a", 21), strings.Repeat("a", 21) + "!", strings.Repeat("a", 21) + "."} {
		want(t, "device id "+d, e.post(client.PathAuth, form("device_id", d)), 400, def.ResCode_RC_BAD_REQUEST)
	}
	e.guest(strings.Repeat("a", 22))
	e.guest("0123456789abcdefABCDEF_-")
}

// TestDeviceLoginEndsAfterBind: once a guest has a username and password,
// its device id no longer logs in (a lost or shared device would keep a
// door the password was meant to close).
func TestDeviceLoginEndsAfterBind(t *testing.T) {
	e := newEnv(t, nil)
	dev := testDevice("binder")
	g := e.guest("binder")
	want(t, "bind", e.post(client.PathBindAccount, form("account_id", strconv.FormatInt(g.int("account_id"), 10), "username", "binder", "password", "password1"), "Authorization", "Bearer "+g.str("token")), 200, def.ResCode_RC_OK)
	a := e.post(client.PathAuth, form("device_id", dev))
	if a.code() == def.ResCode_RC_OK {
		t.Fatal("device id still logs in after the guest bound a username")
	}
	want(t, "device after bind", a, 200, def.ResCode_RC_ACCOUNT_ALREADY_BOUND)

	// --uc-device-login-after-bind keeps it.
	k := newEnv(t, func(c *Config) { c.DeviceLoginAfterBind = true })
	g = k.guest("keeper")
	want(t, "bind", k.post(client.PathBindAccount, form("account_id", strconv.FormatInt(g.int("account_id"), 10), "username", "keeper", "password", "password1"), "Authorization", "Bearer "+g.str("token")), 200, def.ResCode_RC_OK)
	if k.guest("keeper").int("account_id") != g.int("account_id") {
		t.Fatal("device login with the flag is not the bound account")
	}
}

// TestSMSWebhookRequired: without a webhook and without an explicit
// permission to log codes, uc refuses to start (codes and phone numbers
// would go to the log in production).
func TestSMSWebhookRequired(t *testing.T) {
	e := newEnv(t, nil)
	cfg := testConfig()
	cfg.SMSWebhook = ""
	_, err := New(cfg, Deps{NC: e.nats.Conn, JS: e.nats.JS, Registry: e.reg, Cache: e.cache, Signer: e.signer, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "--sms-webhook") {
		t.Fatalf("New without --sms-webhook: %v, want a refusal naming --sms-webhook", err)
	}
	cfg.SMSLogCodes = true
	if _, err := New(cfg, Deps{NC: e.nats.Conn, JS: e.nats.JS, Registry: e.reg, Cache: e.cache, Signer: e.signer, Logger: testLogger(t)}); err != nil {
		t.Fatalf("New with --sms-log-codes: %v", err)
	}
}

// TestLogSenderMasksPhone: codes logged (dev, staging) keep the code, which
// the developer needs, but not the whole phone number.
func TestLogSenderMasksPhone(t *testing.T) {
	var buf bytes.Buffer
	LogSender{Logger: slog.New(slog.NewTextHandler(&buf, nil))}.Send(context.Background(), "+8613800138000", "123456", "text")
	out := buf.String()
	if strings.Contains(out, "13800138000") || !strings.Contains(out, "+86138****8000") || !strings.Contains(out, "123456") {
		t.Fatalf("log line %q: want the code and the phone masked as +86138****8000", out)
	}
	// Index keys in logs and errors (a repaired phone index) mask it too.
	if got := logKey(phoneKey("+8613800138000")); got != "phone.+86138****8000" {
		t.Fatalf("phone index key logged as %q", got)
	}
}

// TestErrorMessages: every answer that is not OK says why in words next to
// its code; a JSON body without a Content-Type is read as JSON.
func TestErrorMessages(t *testing.T) {
	e := newEnv(t, nil)
	e.register("worded", "password1")
	for _, a := range []answer{
		e.post(client.PathRegister, form("username", "worded", "password", "password1")),
		e.post(client.PathRegister, form("username", "x", "password", "password1")),
		e.post(client.PathRegister, form("username", "wordy", "password", "short")),
		e.post(client.PathAuth, form()),
		e.postRaw(client.PathAuth, "text/plain", "x"),
		e.postRaw("/v1/nowhere", "", ""),
	} {
		if m := a.str("message"); m == "" {
			t.Errorf("answer %s (HTTP %d) has no message", a.raw, a.status)
		}
	}
	ok := e.post(client.PathAuth, form("username", "worded", "password", "password1"))
	if _, has := ok.body["message"]; has {
		t.Errorf("OK answer %s carries a message", ok.raw)
	}
	want(t, "JSON without Content-Type", e.postRaw(client.PathRegister, "", `{"username":"jsonnoct","password":"password1"}`), 200, def.ResCode_RC_OK)
	broken := e.postRaw(client.PathRegister, "", `{"username":"jsonnoct"`)
	want(t, "broken JSON without Content-Type", broken, 400, def.ResCode_RC_BAD_REQUEST)
	if !strings.Contains(broken.str("message"), "JSON") {
		t.Fatalf("400 for broken JSON says %q, want it to say the body is not JSON", broken.str("message"))
	}
	dup := e.post(client.PathRegister, form("username", "worded", "password", "password1"))
	if dup.str("message") != "username taken" || dup.int("code") != int64(def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE) {
		t.Fatalf("duplicate answer %s", dup.raw)
	}
}

// counterValue reads a counter of uc's metrics.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
