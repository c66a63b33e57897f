package uc

import (
	"context"
	"crypto/ed25519"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// published reads the expiry the registry holds for kid.
func published(t *testing.T, reg registry.Registry, kid string) time.Time {
	t.Helper()
	pemb, ok, err := reg.Key(context.Background(), kid)
	if err != nil || !ok {
		t.Fatalf("key %s not published (%v)", kid, err)
	}
	_, exp, err := token.DecodePublishedKey(pemb)
	if err != nil {
		t.Fatal(err)
	}
	if exp.IsZero() {
		t.Fatalf("key %s published without an expiry", kid)
	}
	return exp
}

// gateVerifier verifies as a gate does: every published key, with its expiry.
func gateVerifier(t *testing.T, reg registry.Registry) *token.Verifier {
	t.Helper()
	v := token.NewVerifier("")
	for _, pemb := range reg.Keys() {
		pub, exp, err := token.DecodePublishedKey(pemb)
		if err != nil {
			t.Fatal(err)
		}
		v.AddKeyUntil(pub, exp)
	}
	return v
}

func keysForTest(t *testing.T, file string, reg registry.Registry, now *time.Time) *signingKeys {
	t.Helper()
	cfg := DefaultConfig()
	cfg.KeyFile = file
	k, err := newSigningKeysAt(cfg, nil, reg, testLogger(t), func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKeyRotation: uc publishes its key with an expiry; once the key is
// --uc-key-rotate old it signs with a new one, and the previous key stays
// published (its tokens keep verifying) until a token TTL after its last
// token, no longer.
func TestKeyRotation(t *testing.T) {
	cfg := DefaultConfig()
	ctx := context.Background()
	reg := registry.NewMemory()
	file := filepath.Join(t.TempDir(), "uc.key")
	now := time.Now().Truncate(time.Second)
	k := keysForTest(t, file, reg, &now)
	if err := k.start(ctx); err != nil {
		t.Fatal(err)
	}
	first := k.KeyID()
	if got, want := published(t, reg, first), now.Add(cfg.KeyRotate+cfg.TokenTTL+keySlack); !got.Equal(want) {
		t.Fatalf("first key expires %v, want %v", got, want)
	}
	oldTok, _, err := k.Sign(7, 0)
	if err != nil {
		t.Fatal(err)
	}

	// Not due yet: nothing changes.
	now = now.Add(cfg.KeyRotate - time.Minute)
	if err := k.tick(ctx); err != nil || k.KeyID() != first {
		t.Fatalf("rotated early (%v)", err)
	}
	now = now.Add(time.Minute)
	if err := k.tick(ctx); err != nil {
		t.Fatal(err)
	}
	second := k.KeyID()
	if second == first {
		t.Fatal("key not rotated when due")
	}
	newTok, _, err := k.Sign(7, 0)
	if err != nil {
		t.Fatal(err)
	}
	if kid := token.PeekKeyID(newTok); kid != second {
		t.Fatalf("new token signed by %s, want the new key %s", kid, second)
	}
	// The file holds the new key, dated.
	key, created, ok, err := token.LoadKeyFile(file)
	if err != nil || !ok || token.KeyID(key.Public().(ed25519.PublicKey)) != second || !created.Equal(now) {
		t.Fatalf("key file: %v %v", created, err)
	}
	// The retired key is published until its last token has expired.
	retiredUntil := published(t, reg, first)
	if want := now.Add(cfg.TokenTTL + keySlack); !retiredUntil.Equal(want) {
		t.Fatalf("retired key expires %v, want %v", retiredUntil, want)
	}
	if newUntil := published(t, reg, second); !newUntil.After(retiredUntil) {
		t.Fatalf("new key expires %v, before the retired one", newUntil)
	}
	// A gate verifies both tokens: the old one with the retired key.
	v := gateVerifier(t, reg)
	for _, tok := range []string{oldTok, newTok} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	// uc itself still accepts the old token (bind/account bearer).
	if _, err := k.verifier.Verify(oldTok); err != nil {
		t.Fatalf("uc refuses a token of its retired key: %v", err)
	}
}

// TestOldKeyFileKeepsWorking: a data dir with a uc.key written by an older
// uc (no Created header) keeps its key, dated by the file's modification
// time; if that is older than the rotation period the key is rotated at
// start and stays published for one token TTL.
func TestOldKeyFileKeepsWorking(t *testing.T) {
	cfg := DefaultConfig()
	ctx := context.Background()
	dir := t.TempDir()
	young := filepath.Join(dir, "young.key")
	old := filepath.Join(dir, "old.key")
	for _, f := range []string{young, old} {
		if _, err := token.LoadOrCreateKey(f); err != nil { // the old format
			t.Fatal(err)
		}
	}
	now := time.Now().Truncate(time.Second)
	if err := os.Chtimes(young, now.Add(-time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(old, now.Add(-48*time.Hour), now.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	keyID := func(f string) string {
		k, err := token.LoadOrCreateKey(f)
		if err != nil {
			t.Fatal(err)
		}
		return token.KeyID(k.Public().(ed25519.PublicKey))
	}
	youngKid, oldKid := keyID(young), keyID(old)

	reg := registry.NewMemory()
	y := keysForTest(t, young, reg, &now)
	if err := y.start(ctx); err != nil {
		t.Fatal(err)
	}
	if y.KeyID() != youngKid {
		t.Fatal("an old-format key file not used")
	}
	if got, want := published(t, reg, youngKid), now.Add(-time.Hour).Add(cfg.KeyRotate+cfg.TokenTTL+keySlack); !got.Equal(want) {
		t.Fatalf("young key expires %v, want %v", got, want)
	}

	o := keysForTest(t, old, reg, &now)
	if err := o.start(ctx); err != nil {
		t.Fatal(err)
	}
	if o.KeyID() == oldKid {
		t.Fatal("a key older than --uc-key-rotate not rotated at start")
	}
	if got, want := published(t, reg, oldKid), now.Add(cfg.TokenTTL+keySlack); !got.Equal(want) {
		t.Fatalf("the rotated old key expires %v, want %v", got, want)
	}
}

// TestSharedKeyFile: two uc processes sharing one key file: after one
// rotates, the other adopts the file's key on its next check.
func TestSharedKeyFile(t *testing.T) {
	cfg := DefaultConfig()
	ctx := context.Background()
	reg := registry.NewMemory()
	file := filepath.Join(t.TempDir(), "uc.key")
	now := time.Now().Truncate(time.Second)
	a := keysForTest(t, file, reg, &now)
	b := keysForTest(t, file, reg, &now)
	if err := a.start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.start(ctx); err != nil {
		t.Fatal(err)
	}
	if a.KeyID() != b.KeyID() {
		t.Fatal("two processes on one file sign with different keys")
	}
	first := a.KeyID()
	now = now.Add(cfg.KeyRotate)
	if err := a.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if a.KeyID() == first || b.KeyID() != a.KeyID() {
		t.Fatalf("after a rotation: a %s, b %s (first %s)", a.KeyID(), b.KeyID(), first)
	}
	if len(reg.Keys()) != 2 {
		t.Fatalf("published keys %d, want the new and the retired one", len(reg.Keys()))
	}
}

// TestLegacyPublishedKeyGetsExpiry: a key an older uc published without an
// expiry is given one at start (a TTL: its tokens were issued before now).
func TestLegacyPublishedKeyGetsExpiry(t *testing.T) {
	cfg := DefaultConfig()
	ctx := context.Background()
	reg := registry.NewMemory()
	other, err := token.LoadOrCreateKey(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	pemb, _ := token.EncodePublicKey(other.Public().(ed25519.PublicKey))
	kid := token.KeyID(other.Public().(ed25519.PublicKey))
	if err := reg.PublishKey(ctx, kid, pemb); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	k := keysForTest(t, filepath.Join(t.TempDir(), "uc.key"), reg, &now)
	if err := k.start(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := published(t, reg, kid), now.Add(cfg.TokenTTL+keySlack); !got.Equal(want) {
		t.Fatalf("legacy key expires %v, want %v", got, want)
	}
}

func TestKeyRotateFlag(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("uc", flag.ContinueOnError)
	cfg.Flags(fs)
	if err := fs.Parse([]string{"--uc-key-rotate", "2h"}); err != nil || cfg.KeyRotate != 2*time.Hour {
		t.Fatalf("--uc-key-rotate 2h: %v %v", cfg.KeyRotate, err)
	}
	if _, err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	cfg.KeyRotate = 30 * time.Second
	if _, err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "--uc-key-rotate") {
		t.Fatalf("30s accepted: %v", err)
	}
}
