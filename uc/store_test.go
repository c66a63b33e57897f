package uc

import (
	"context"
	"testing"
	"time"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
)

// TestDanglingIndexRepaired: a crash between reserving an index key and
// writing the record must not lock the name (or device) forever.
func TestDanglingIndexRepaired(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IndexGrace = 500 * time.Millisecond })
	kv := e.srv.store.kv
	ctx := context.Background()
	// A reservation whose record was never written (id 999999 has none).
	if _, err := kv.Create(ctx, userKey("ghost"), []byte("999999")); err != nil {
		t.Fatal(err)
	}
	// Young: counts as a registration in flight.
	want(t, "in flight", e.post(client.PathRegister, form("username", "ghost", "password", "password1")), 200, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE)
	want(t, "cannot log in to it", e.post(client.PathAuth, form("username", "ghost", "password", "password1")), 200, def.ResCode_RC_AUTH_INVALID_USER)
	// Old: removed, and the name is free.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := e.post(client.PathRegister, form("username", "ghost", "password", "password1"))
		if a.code() == def.ResCode_RC_OK {
			break
		}
		if a.code() != def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE || time.Now().After(deadline) {
			t.Fatalf("dangling name never freed: %s", a.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	want(t, "login", e.post(client.PathAuth, form("username", "ghost", "password", "password1")), 200, def.ResCode_RC_OK)

	// An index whose record exists but names another key (a crash between
	// reserving a bind's name and updating the record) is dangling too.
	g := e.guest("dev-1")
	if _, err := kv.Create(ctx, userKey("halfbound"), []byte(itoa(g.int("account_id")))); err != nil {
		t.Fatal(err)
	}
	// A device index pointing at a missing record: the guest login waits
	// out the grace, repairs, and creates a fresh account.
	if _, err := kv.Create(ctx, deviceKey(deviceHash("dev-lost")), []byte("888888")); err != nil {
		t.Fatal(err)
	}
	a := e.guest("dev-lost")
	if a.int("account_id") == 888888 {
		t.Fatal("guest got the dangling id")
	}
	if e.guest("dev-lost").int("account_id") != a.int("account_id") {
		t.Fatal("repaired device does not map to one account")
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		a := e.post(client.PathRegister, form("username", "halfbound", "password", "password1"))
		if a.code() == def.ResCode_RC_OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("half-bound name never freed: %s", a.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The guest was not harmed.
	if e.guest("dev-1").int("account_id") != g.int("account_id") {
		t.Fatal("guest changed")
	}
}

func TestKeys(t *testing.T) {
	for in, want := range map[string]string{
		"Lisp":   "user.lisp",
		"a..b":   "user.a==b",
		".x.":    "user.=x=",
		"A-b_9.": "user.a-b_9=",
	} {
		if got := userKey(in); got != want {
			t.Errorf("userKey(%q) = %q, want %q", in, got, want)
		}
	}
	if phoneKey("+8613800138000") != "phone.8613800138000" {
		t.Error(phoneKey("+8613800138000"))
	}
	if len(deviceKey(deviceHash("x"))) != len("device.")+64 {
		t.Error("device key is not a sha256 hex")
	}
}

func itoa(n int64) string { return fmtInt(n) }

func fmtInt(n int64) string {
	return recordKey(n)[len("id."):]
}
