package uc

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/token"
)

func TestBindAccount(t *testing.T) {
	e := newEnv(t, nil)
	g := e.guest("phone-1")
	id, tok := g.int("account_id"), g.str("token")
	sid := strconv.FormatInt(id, 10)
	other := e.guest("phone-2")
	e.register("taken", "password1")
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	_, strangerKey, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _, _ := token.NewSigner(strangerKey, "", time.Hour).Sign(id, 0)
	for _, c := range []struct {
		what   string
		f      []string
		hdr    []string
		status int
		code   def.ResCode
	}{
		{"no token", []string{"account_id", sid, "username", "newname", "password", "password1"}, nil, 200, def.ResCode_RC_FORBIDDEN},
		{"junk token", []string{"account_id", sid, "username", "newname", "password", "password1"}, auth("a.b.c"), 200, def.ResCode_RC_FORBIDDEN},
		{"token of a key uc does not know", []string{"account_id", sid, "username", "newname", "password", "password1"}, auth(stranger), 200, def.ResCode_RC_FORBIDDEN},
		{"another account's token", []string{"account_id", sid, "username", "newname", "password", "password1"}, auth(other.str("token")), 200, def.ResCode_RC_FORBIDDEN},
		{"invalid username", []string{"account_id", sid, "username", "x", "password", "password1"}, auth(tok), 200, def.ResCode_RC_ACCOUNT_USERNAME_INVALID},
		{"weak password", []string{"account_id", sid, "username", "newname", "password", "123"}, auth(tok), 200, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK},
		{"name taken", []string{"account_id", sid, "username", "TAKEN", "password", "password1"}, auth(tok), 200, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE},
		{"missing account_id", []string{"username", "newname", "password", "password1"}, auth(tok), 400, def.ResCode_RC_BAD_REQUEST},
		{"ok", []string{"account_id", sid, "username", "NewName", "password", "password1"}, auth(tok), 200, def.ResCode_RC_OK},
		{"again", []string{"account_id", sid, "username", "newname2", "password", "password1"}, auth(tok), 200, def.ResCode_RC_ACCOUNT_ALREADY_BOUND},
	} {
		want(t, c.what, e.post(client.PathBindAccount, form(c.f...), c.hdr...), c.status, c.code)
	}
	// A registered (non-guest) account cannot be bound either.
	r := e.register("named", "password1")
	want(t, "named account", e.post(client.PathBindAccount, form("account_id", strconv.FormatInt(r.int("account_id"), 10), "username", "renamed", "password", "password1"), auth(r.str("token"))...), 200, def.ResCode_RC_ACCOUNT_ALREADY_BOUND)
	// A valid token for an account that does not exist.
	ghost, _, _ := e.signer.Sign(999999, 0)
	want(t, "no such account", e.post(client.PathBindAccount, form("account_id", "999999", "username", "ghostly", "password", "password1"), auth(ghost)...), 200, def.ResCode_RC_ACCOUNT_NO_FOUND)

	// The bound guest logs in by name, no longer by device.
	a := e.post(client.PathAuth, form("username", "newname", "password", "password1"))
	want(t, "login by bound name", a, 200, def.ResCode_RC_OK)
	if a.int("account_id") != id {
		t.Fatal("bound account is not the guest's")
	}
	want(t, "device login after bind", e.post(client.PathAuth, form("device_id", testDevice("phone-1"))), 200, def.ResCode_RC_ACCOUNT_ALREADY_BOUND)
	if got := e.eventTypes(id); strings.Join(got, ",") != "evt.GuestCreated,evt.AccountBound" {
		t.Fatalf("events %v", got)
	}

	// A token signed by another uc replica, whose key is in the registry, is accepted.
	g3 := e.guest("phone-3")
	_, k2, _ := ed25519.GenerateKey(rand.Reader)
	s2 := token.NewSigner(k2, "", time.Hour)
	pemb, _ := token.EncodePublicKey(s2.PublicKey())
	e.reg.PublishKey(context.Background(), s2.KeyID(), pemb)
	t2, _, _ := s2.Sign(g3.int("account_id"), 0)
	want(t, "replica token", e.post(client.PathBindAccount, form("account_id", strconv.FormatInt(g3.int("account_id"), 10), "username", "replica", "password", "password1"), auth(t2)...), 200, def.ResCode_RC_OK)
}

func TestVerificationAndBindPhone(t *testing.T) {
	e := newEnv(t, nil)
	a := e.register("phoner", "password1")
	sid := strconv.FormatInt(a.int("account_id"), 10)
	const phone = "+8613800138000"

	want(t, "bad phone", e.post(client.PathVerification, form("phone", "13800138000")), 200, def.ResCode_RC_ACCOUNT_PHONE_INVALID)
	want(t, "bad phone 2", e.post(client.PathVerification, form("phone", "+0123456789")), 200, def.ResCode_RC_ACCOUNT_PHONE_INVALID)
	want(t, "no phone", e.post(client.PathVerification, form()), 400, def.ResCode_RC_BAD_REQUEST)
	code := e.requestCode(phone)
	if !validCode(code) {
		t.Fatalf("code %q is not 6 digits", code)
	}
	want(t, "again within interval", e.post(client.PathVerification, form("phone", phone)), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_TOO_FREQUENT)
	// curl -d "phone=+86..." sends a raw '+', which form decoding makes a space.
	want(t, "unescaped plus", e.postRaw(client.PathVerification, "application/x-www-form-urlencoded", "phone=+8613800138000"), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_TOO_FREQUENT)

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	bind := func(pass, ph, c string) answer {
		return e.post(client.PathBindPhone, form("account_id", sid, "password", pass, "phone", ph, "code", c))
	}
	want(t, "wrong password", bind("password2", phone, code), 200, def.ResCode_RC_AUTH_INVALID_USER)
	want(t, "bad phone", bind("password1", "+86abc", code), 200, def.ResCode_RC_ACCOUNT_PHONE_INVALID)
	want(t, "malformed code", bind("password1", phone, "12ab"), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_INVALID)
	want(t, "wrong code", bind("password1", phone, wrong), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_INVALID)
	want(t, "no code sent to this phone", bind("password1", "+8613900000000", code), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED)
	want(t, "missing code", e.post(client.PathBindPhone, form("account_id", sid, "password", "password1", "phone", phone)), 400, def.ResCode_RC_BAD_REQUEST)
	want(t, "no such account", e.post(client.PathBindPhone, form("account_id", "999999", "password", "password1", "phone", phone, "code", code)), 200, def.ResCode_RC_ACCOUNT_NO_FOUND)
	want(t, "right code", bind("password1", phone, code), 200, def.ResCode_RC_OK)
	want(t, "code is single use", bind("password1", phone, code), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED)

	// Another account cannot take the phone.
	b := e.register("phoner2", "password1")
	e.cache.Delete(context.Background(), "uc:sms-last:"+phone) // skip the min interval
	code2 := e.requestCode(phone)
	want(t, "phone duplicate", e.post(client.PathBindPhone, form("account_id", strconv.FormatInt(b.int("account_id"), 10), "password", "password1", "phone", phone, "code", code2)), 200, def.ResCode_RC_ACCOUNT_PHONE_DUPLICATE)

	if got := e.eventTypes(a.int("account_id")); strings.Join(got, ",") != "evt.AccountRegistered,evt.PhoneBound" {
		t.Fatalf("events %v", got)
	}
	for _, ev := range e.events(a.int("account_id")) {
		if strings.Contains(string(ev.data), "13800138000") || strings.Contains(string(ev.data), code) {
			t.Fatal("event carries the phone or the code")
		}
	}

	// Binding a new phone frees the old one.
	const phone2 = "+14155550100"
	c3 := e.requestCode(phone2)
	want(t, "rebind", bind("password1", phone2, c3), 200, def.ResCode_RC_OK)
	e.cache.Delete(context.Background(), "uc:sms-last:"+phone)
	c4 := e.requestCode(phone)
	want(t, "old phone is free", e.post(client.PathBindPhone, form("account_id", strconv.FormatInt(b.int("account_id"), 10), "password", "password1", "phone", phone, "code", c4)), 200, def.ResCode_RC_OK)
}

func TestCodeLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.SMSMinInterval = 0
		c.SMSDailyLimit = 3
		c.CodeTries = 3
	})
	a := e.register("coder", "password1")
	sid := strconv.FormatInt(a.int("account_id"), 10)
	const phone = "+447700900123"
	code := e.requestCode(phone)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	bind := func(c string) answer {
		return e.post(client.PathBindPhone, form("account_id", sid, "password", "password1", "phone", phone, "code", c))
	}
	for i := range 3 {
		want(t, "wrong try "+strconv.Itoa(i), bind(wrong), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_INVALID)
	}
	want(t, "right code after tries spent", bind(code), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED)
	e.requestCode(phone)
	e.requestCode(phone)
	want(t, "daily limit", e.post(client.PathVerification, form("phone", phone)), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_TOO_FREQUENT)
}

func TestCodeExpires(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CodeTTL = 300 * time.Millisecond })
	a := e.register("expirer", "password1")
	const phone = "+33612345678"
	code := e.requestCode(phone)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := e.cache.Get(context.Background(), "uc:code:"+phone); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("code did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	want(t, "expired code", e.post(client.PathBindPhone, form("account_id", strconv.FormatInt(a.int("account_id"), 10), "password", "password1", "phone", phone, "code", code)), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED)
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t, nil)
	a := e.register("changer", "password1")
	sid := strconv.FormatInt(a.int("account_id"), 10)
	ch := func(id, old, nw string) answer {
		return e.post(client.PathChangePassword, form("account_id", id, "password", old, "new_password", nw))
	}
	want(t, "wrong old", ch(sid, "password9", "password2"), 200, def.ResCode_RC_AUTH_INVALID_USER)
	want(t, "weak new", ch(sid, "password1", "short"), 200, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK)
	want(t, "new = username", ch(sid, "password1", "Changer"), 200, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK)
	want(t, "no account", ch("999999", "password1", "password2"), 200, def.ResCode_RC_ACCOUNT_NO_FOUND)
	want(t, "missing new", e.post(client.PathChangePassword, form("account_id", sid, "password", "password1")), 400, def.ResCode_RC_BAD_REQUEST)
	want(t, "ok", ch(sid, "password1", "password2"), 200, def.ResCode_RC_OK)
	want(t, "old fails", e.post(client.PathAuth, form("username", "changer", "password", "password1")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	want(t, "new works", e.post(client.PathAuth, form("username", "changer", "password", "password2")), 200, def.ResCode_RC_OK)
	// A guest has no password to change.
	g := e.guest("dev")
	want(t, "guest", ch(strconv.FormatInt(g.int("account_id"), 10), "anything1", "password2"), 200, def.ResCode_RC_AUTH_INVALID_USER)
	if got := e.eventTypes(a.int("account_id")); strings.Join(got, ",") != "evt.AccountRegistered,evt.PasswordChanged" {
		t.Fatalf("events %v", got)
	}
}

func TestResetPassword(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SMSMinInterval = 0 })
	a := e.register("resetter", "password1")
	id := a.int("account_id")
	sid := strconv.FormatInt(id, 10)
	const phone = "+8613700000001"
	reset := func(id, code, nw string) answer {
		return e.post(client.PathResetPassword, form("account_id", id, "code", code, "new_password", nw))
	}
	// No phone bound answers as no code sent: it does not tell.
	want(t, "no phone bound", reset(sid, "123456", "password2"), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED)
	want(t, "bind", e.post(client.PathBindPhone, form("account_id", sid, "password", "password1", "phone", phone, "code", e.requestCode(phone))), 200, def.ResCode_RC_OK)
	want(t, "no code sent", reset(sid, "123456", "password2"), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED)
	code := e.requestCode(phone)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	want(t, "wrong code", reset(sid, wrong, "password2"), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_INVALID)
	want(t, "weak", reset(sid, code, "short"), 200, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK)
	want(t, "no account", reset("999999", code, "password2"), 200, def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED)
	want(t, "missing code", e.post(client.PathResetPassword, form("account_id", sid, "new_password", "password2")), 400, def.ResCode_RC_BAD_REQUEST)
	want(t, "ok", reset(sid, code, "password2"), 200, def.ResCode_RC_OK)
	want(t, "new works", e.post(client.PathAuth, form("username", "resetter", "password", "password2")), 200, def.ResCode_RC_OK)
	want(t, "old fails", e.post(client.PathAuth, form("username", "resetter", "password", "password1")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	if got := e.eventTypes(id); strings.Join(got, ",") != "evt.AccountRegistered,evt.PhoneBound,evt.PasswordReset" {
		t.Fatalf("events %v", got)
	}
}
