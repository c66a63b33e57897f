package uc

import (
	"context"
	"strings"
	"testing"

	"github.com/qeetap/hive/client"
)

func TestHasher(t *testing.T) {
	c := testConfig()
	h := newHasher(c)
	ctx := context.Background()
	enc, err := h.hash(ctx, "s3cret password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=256,t=1,p=1$") {
		t.Fatalf("hash %q is not the PHC form", enc)
	}
	if enc2, _ := h.hash(ctx, "s3cret password"); enc2 == enc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if ok, stale, err := h.verify(ctx, enc, "s3cret password"); !ok || stale || err != nil {
		t.Fatalf("verify right = %v %v %v", ok, stale, err)
	}
	if ok, _, _ := h.verify(ctx, enc, "s3cret passwore"); ok {
		t.Fatal("wrong password verified")
	}
	if ok, _, err := h.verify(ctx, "", "anything"); ok || err != nil {
		t.Fatalf("empty hash (guest) verified: %v %v", ok, err)
	}
	// Parameters changed: old hashes still verify and are reported stale.
	c.Argon2Time = 2
	h2 := newHasher(c)
	if ok, stale, _ := h2.verify(ctx, enc, "s3cret password"); !ok || !stale {
		t.Fatalf("old hash under new params: ok %v stale %v", ok, stale)
	}
	for _, bad := range []string{
		"plain", "$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=256,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=999999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=256,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=256,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=256,t=1,p=1,x=3$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if ok, _, err := h.verify(ctx, bad, "x"); ok || err == nil {
			t.Errorf("verify(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestStaleHashUpgradedAtLogin(t *testing.T) {
	e := newEnv(t, nil)
	a := e.register("upgrader", "password1")
	id := a.int("account_id")
	// Rewrite the record's hash with other parameters, as an older config made it.
	old := newHasher(func() Config { c := testConfig(); c.Argon2MemoryKiB = 128; return c }())
	enc, _ := old.hash(context.Background(), "password1")
	if _, _, err := e.srv.store.update(context.Background(), id, func(a *account) error { a.Hash = enc; return nil }); err != nil {
		t.Fatal(err)
	}
	want(t, "login with old hash", e.post(client.PathAuth, form("username", "upgrader", "password", "password1")), 200, 0)
	rec, _, _ := e.srv.store.get(context.Background(), id)
	if !strings.Contains(rec.Hash, "m=256,") {
		t.Fatalf("hash not upgraded: %s", rec.Hash)
	}
}

func TestConfigValidate(t *testing.T) {
	def := DefaultConfig()
	if _, err := def.validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"ttl":     func(c *Config) { c.TokenTTL = 0 },
		"argon t": func(c *Config) { c.Argon2Time = 0 },
		"argon m": func(c *Config) { c.Argon2MemoryKiB = 1 },
		"workers": func(c *Config) { c.HashWorkers = 0 },
		"body":    func(c *Config) { c.BodyLimit = 10 },
		"field":   func(c *Config) { c.MaxField = 10 },
		"rate":    func(c *Config) { c.IPRate = -1 },
		"lockout": func(c *Config) { c.LockoutMax = c.LockoutBase / 2 },
		"tries":   func(c *Config) { c.CodeTries = 0 },
		"daily":   func(c *Config) { c.SMSDailyLimit = 0 },
		"grace":   func(c *Config) { c.IndexGrace = 0 },
	} {
		c := DefaultConfig()
		mod(&c)
		if _, err := c.validate(); err == nil {
			t.Errorf("%s: bad config accepted", name)
		}
	}
	if lockFor(DefaultConfig(), 0) != DefaultConfig().LockoutBase || lockFor(DefaultConfig(), 40) != DefaultConfig().LockoutMax || lockFor(DefaultConfig(), 3) != 8*DefaultConfig().LockoutBase {
		t.Fatal("lockFor does not double up to the max")
	}
}

// BenchmarkHash is one argon2id hash with the default parameters
// (the cost of a password login, registration or change).
func BenchmarkHash(b *testing.B) {
	h := newHasher(DefaultConfig())
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.hash(ctx, "benchmark password"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashParallel is hash throughput with every core hashing, as
// under a login storm (ns/op is per hash, across all workers).
func BenchmarkHashParallel(b *testing.B) {
	h := newHasher(DefaultConfig())
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.hash(ctx, "benchmark password"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
