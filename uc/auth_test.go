package uc

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/token"
)

func TestRegisterAndAuth(t *testing.T) {
	e := newEnv(t, nil)
	before := time.Now()
	a := e.register("lisp", "correct horse")
	id := a.int("account_id")
	if id < firstAccountID {
		t.Fatalf("account_id %d, want >= %d", id, firstAccountID)
	}
	if a.str("addr") != testGate.Addr {
		t.Fatalf("addr %q, want the live gate %q", a.str("addr"), testGate.Addr)
	}
	// The token verifies with the key uc published in the registry, as a gate does it.
	pemb, found, err := e.reg.Key(context.Background(), e.signer.KeyID())
	if err != nil || !found {
		t.Fatalf("uc did not publish its key: %v %v", found, err)
	}
	pub, err := token.DecodePublicKey(pemb)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := token.NewVerifier("", pub).Verify(a.str("token"))
	if err != nil || claims.AccountID != id {
		t.Fatalf("token: %+v, %v; want account %d", claims, err, id)
	}
	exp := a.int("expires_at")
	if exp < before.Add(time.Hour).Unix()-1 || exp > time.Now().Add(time.Hour).Unix()+1 {
		t.Fatalf("expires_at %d not ~1h from now", exp)
	}

	// Log in with the same credentials: same account, a fresh token.
	b := e.post(client.PathAuth, form("username", "lisp", "password", "correct horse"))
	want(t, "auth", b, 200, def.ResCode_RC_OK)
	if b.int("account_id") != id || b.str("token") == "" || b.str("addr") != testGate.Addr {
		t.Fatalf("auth answer %s", b.raw)
	}
	// Usernames are case-insensitive at login too.
	want(t, "auth LISP", e.post(client.PathAuth, form("username", "LISP", "password", "correct horse")), 200, def.ResCode_RC_OK)
	// JSON bodies work the same.
	j := e.postRaw(client.PathAuth, "application/json", `{"username":"lisp","password":"correct horse","version":"1.0"}`)
	want(t, "auth json", j, 200, def.ResCode_RC_OK)

	want(t, "wrong password", e.post(client.PathAuth, form("username", "lisp", "password", "wrong horse")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	want(t, "unknown user", e.post(client.PathAuth, form("username", "nobody", "password", "whatever1")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	want(t, "invalid name at auth", e.post(client.PathAuth, form("username", "no way!", "password", "whatever1")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	want(t, "auth without password", e.post(client.PathAuth, form("username", "lisp")), 400, def.ResCode_RC_BAD_REQUEST)
	want(t, "auth without anything", e.post(client.PathAuth, form()), 400, def.ResCode_RC_BAD_REQUEST)

	// The event says what happened and nothing secret.
	evs := e.events(id)
	if len(evs) != 1 || evs[0].typ != "evt.AccountRegistered" || evs[0].cmd == "" {
		t.Fatalf("events %+v, want one evt.AccountRegistered with a Hive-Cmd", evs)
	}
	ev := evs[0].msg.(*evt.AccountRegistered)
	if ev.GetAccountId() != id || ev.GetUsername() != "lisp" {
		t.Fatalf("event %v", ev)
	}
	if strings.Contains(string(evs[0].data), "argon2") || strings.Contains(string(evs[0].data), "horse") {
		t.Fatal("event carries a secret")
	}
}

func TestRegisterRefusals(t *testing.T) {
	e := newEnv(t, nil)
	e.register("taken.name", "password1")
	for _, c := range []struct {
		what, user, pass string
		status           int
		code             def.ResCode
	}{
		{"duplicate", "taken.name", "password2", 200, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE},
		{"duplicate other case", "Taken.Name", "password2", 200, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE},
		{"too short", "ab", "password1", 200, def.ResCode_RC_ACCOUNT_USERNAME_INVALID},
		{"too long", strings.Repeat("a", 33), "password1", 200, def.ResCode_RC_ACCOUNT_USERNAME_INVALID},
		{"space", "a b c", "password1", 200, def.ResCode_RC_ACCOUNT_USERNAME_INVALID},
		{"unicode", "日本語ok", "password1", 200, def.ResCode_RC_ACCOUNT_USERNAME_INVALID},
		{"short password", "someone", "short", 200, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK},
		{"password = username", "someone_1", "SOMEONE_1", 200, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK},
		{"password too long", "someone", strings.Repeat("p", 129), 200, def.ResCode_RC_ACCOUNT_PASSWORD_WEAK},
		{"no password", "someone", "", 400, def.ResCode_RC_BAD_REQUEST},
		{"no username", "", "password1", 400, def.ResCode_RC_BAD_REQUEST},
	} {
		want(t, c.what, e.post(client.PathRegister, form("username", c.user, "password", c.pass)), c.status, c.code)
	}
	// Names with dots that would be bad KV subjects still work.
	e.register("a..b", "password1")
	e.register(".dot.", "password1")
	e.register("x.y-z_9", strings.Repeat("p", 128))
	want(t, "dotted login", e.post(client.PathAuth, form("username", "A..B", "password", "password1")), 200, def.ResCode_RC_OK)
}

func TestNoLiveGate(t *testing.T) {
	e := newEnv(t, nil)
	e.register("early", "password1")
	lease, _ := e.reg.Register(context.Background(), testGate) // same id: revoking removes it
	lease.Revoke(context.Background())
	for _, c := range []struct {
		what string
		path string
		f    []string
	}{
		{"auth", client.PathAuth, []string{"username", "early", "password", "password1"}},
		{"register", client.PathRegister, []string{"username", "late", "password", "password1"}},
		{"guest", client.PathAuth, []string{"device_id", testDevice("dev-1")}},
	} {
		want(t, c.what, e.post(c.path, form(c.f...)), 200, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	}
	// Once a gate is live again, addr is it.
	e.reg.Register(context.Background(), testGate)
	want(t, "auth after", e.post(client.PathAuth, form("username", "early", "password", "password1")), 200, def.ResCode_RC_OK)
}

func TestParallelRegistrationsOneWins(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CreateLimit = 0 }) // the race is the point, not the quota
	const n = 50
	var wg sync.WaitGroup
	answers := make([]answer, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = e.post(client.PathRegister, form("username", "highlander", "password", fmt.Sprintf("password-%d", i)))
		}()
	}
	close(start)
	wg.Wait()
	wins, winner := 0, -1
	for i, a := range answers {
		switch a.code() {
		case def.ResCode_RC_OK:
			wins++
			winner = i
		case def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE:
		default:
			t.Errorf("registration %d: %s", i, a.raw)
		}
	}
	if wins != 1 {
		t.Fatalf("%d registrations of one name succeeded, want exactly 1", wins)
	}
	// The winner's password is the one that works.
	want(t, "winner login", e.post(client.PathAuth, form("username", "highlander", "password", fmt.Sprintf("password-%d", winner))), 200, def.ResCode_RC_OK)
	if winner != 0 {
		want(t, "loser login", e.post(client.PathAuth, form("username", "highlander", "password", "password-0")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	}
}

func TestGuest(t *testing.T) {
	e := newEnv(t, nil)
	a := e.guest("device-A")
	id := a.int("account_id")
	if a.str("token") == "" || a.str("addr") != testGate.Addr {
		t.Fatalf("guest answer %s", a.raw)
	}
	if b := e.guest("device-A"); b.int("account_id") != id {
		t.Fatalf("second guest login gave account %d, want %d", b.int("account_id"), id)
	}
	if c := e.guest("device-B"); c.int("account_id") == id {
		t.Fatal("another device got the same account")
	}
	// Device ids are arbitrary client strings: punctuation, unicode, spaces.
	odd := "ÿ/../$KV.>* spaces\ttab"
	d := e.guest(odd)
	if e.guest(odd).int("account_id") != d.int("account_id") {
		t.Fatal("odd device id did not map to one account")
	}
	want(t, "device id too long", e.post(client.PathAuth, form("device_id", strings.Repeat("d", 129))), 400, def.ResCode_RC_BAD_REQUEST)
	if got := e.eventTypes(id); len(got) != 1 || got[0] != "evt.GuestCreated" {
		t.Fatalf("events %v, want [evt.GuestCreated]", got)
	}
	if strings.Contains(string(e.events(id)[0].data), "device-A") {
		t.Fatal("guest event carries the device id")
	}
}

func TestGuestConcurrentFirstLogin(t *testing.T) {
	e := newEnv(t, nil)
	const n = 20
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = e.guest("same-device").int("account_id")
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] || id == 0 {
			t.Fatalf("login %d got account %d, login 0 got %d: one device must be one account", i, id, ids[0])
		}
	}
	if got := e.eventTypes(ids[0]); len(got) != 1 {
		t.Fatalf("events %v, want one evt.GuestCreated", got)
	}
}
