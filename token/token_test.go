package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerify(t *testing.T) {
	k := newKey(t)
	s := NewSigner(k, "", time.Hour)
	tok, exp, err := s.Sign(10001, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("exp in %v, want ~1h", d)
	}
	c, err := NewVerifier("", s.PublicKey()).Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccountID != 10001 || c.Issuer != DefaultIssuer || c.KeyID != s.KeyID() || c.ID == "" || c.IssuedAt.IsZero() {
		t.Fatalf("claims %+v", c)
	}
	if t2, _, _ := s.Sign(10001, 0); t2 == tok {
		t.Fatal("two tokens share a jti")
	}
	if c.Version != 0 {
		t.Fatalf("version %d, want 0", c.Version)
	}
	v7, _, _ := s.Sign(10001, 7)
	if c, err := NewVerifier("", s.PublicKey()).Verify(v7); err != nil || c.Version != 7 {
		t.Fatalf("version claim: %+v, %v", c, err)
	}
}

// TestVerifyRejects covers every forgery and misuse a gate must refuse.
func TestVerifyRejects(t *testing.T) {
	k := newKey(t)
	s := NewSigner(k, "hive-uc", time.Hour)
	pub := s.PublicKey()
	v := NewVerifier("hive-uc", pub)
	claims := func(exp time.Time, iss string) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Subject: "10001", Issuer: iss, IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(exp)}
	}
	good := claims(time.Now().Add(time.Hour), "hive-uc")
	signEd := func(key ed25519.PrivateKey, kid string, c jwt.RegisteredClaims) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = kid
		str, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	valid := signEd(k, s.KeyID(), good)
	if _, err := v.Verify(valid); err != nil {
		t.Fatalf("control token refused: %v", err)
	}

	none := func() string {
		tk := jwt.NewWithClaims(jwt.SigningMethodNone, good)
		tk.Header["kid"] = s.KeyID()
		str, err := tk.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}()
	hsWithPub := func() string {
		// The classic confusion: HMAC keyed with the (public) verification key.
		pemb, _ := EncodePublicKey(pub)
		for _, secret := range [][]byte{pub, pemb} {
			tk := jwt.NewWithClaims(jwt.SigningMethodHS256, good)
			tk.Header["kid"] = s.KeyID()
			str, err := tk.SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(str); err == nil {
				t.Fatal("HS256 token keyed with the public key accepted")
			}
		}
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, good)
		tk.Header["kid"] = s.KeyID()
		str, _ := tk.SignedString([]byte(pub))
		return str
	}()
	other := newKey(t)
	badSig := func() string {
		// Right kid and claims, signed by another key.
		return signEd(other, s.KeyID(), good)
	}()
	tampered := func() string {
		parts := strings.Split(valid, ".")
		c := good
		c.Subject = "10002"
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = s.KeyID()
		u, _ := tk.SigningString()
		return strings.Split(u, ".")[0] + "." + strings.Split(u, ".")[1] + "." + parts[2]
	}()
	for _, c := range []struct {
		name string
		tok  string
		want error
	}{
		{"alg none", none, ErrInvalid},
		{"HS256 with the public key as secret", hsWithPub, ErrInvalid},
		{"unknown kid", signEd(other, KeyID(other.Public().(ed25519.PublicKey)), good), ErrInvalid},
		{"no kid", signEd(k, "", good), ErrInvalid},
		{"bad signature", badSig, ErrInvalid},
		{"tampered claims", tampered, ErrInvalid},
		{"expired", signEd(k, s.KeyID(), claims(time.Now().Add(-time.Minute), "hive-uc")), ErrExpired},
		{"no exp", signEd(k, s.KeyID(), jwt.RegisteredClaims{Subject: "10001", Issuer: "hive-uc"}), ErrInvalid},
		{"wrong issuer", signEd(k, s.KeyID(), claims(time.Now().Add(time.Hour), "evil")), ErrInvalid},
		{"bad subject", signEd(k, s.KeyID(), jwt.RegisteredClaims{Subject: "root", Issuer: "hive-uc", ExpiresAt: good.ExpiresAt}), ErrInvalid},
		{"garbage", "not.a.token", ErrInvalid},
		{"empty", "", ErrInvalid},
		{"huge", strings.Repeat("a", 5000), ErrInvalid},
		{"bad base64 header", "!!!." + base64.RawURLEncoding.EncodeToString([]byte("{}")) + ".x", ErrInvalid},
	} {
		_, err := v.Verify(c.tok)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	// A removed key stops verifying; adding it back restores it.
	v.RemoveKey(s.KeyID())
	if _, err := v.Verify(valid); !errors.Is(err, ErrInvalid) || v.Keys() != 0 {
		t.Fatalf("removed key still verifies: %v", err)
	}
	v.AddKey(pub)
	if _, err := v.Verify(valid); err != nil {
		t.Fatal(err)
	}
}

func TestKeyFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key.pem")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reload gave another key: %v", err)
	}
	pemb, err := EncodePublicKey(k1.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := DecodePublicKey(pemb)
	if err != nil || !pub.Equal(k1.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := DecodePublicKey([]byte("junk")); err == nil {
		t.Fatal("junk public key accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := LoadOrCreateKey(bad); err == nil {
		t.Fatal("junk key file accepted")
	}
}

func TestPeekKeyID(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	s := NewSigner(key, "", time.Hour)
	tok, _, err := s.Sign(10001, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := PeekKeyID(tok); got != s.KeyID() {
		t.Fatalf("PeekKeyID = %q, want %q", got, s.KeyID())
	}
	for _, bad := range []string{"", "no-dots", "!!!.x.y", strings.Repeat("a", 5000)} {
		if got := PeekKeyID(bad); got != "" {
			t.Errorf("PeekKeyID(%.20q) = %q, want empty", bad, got)
		}
	}
}

// TestKeyExpiry: a key trusted until a time verifies before it and refuses
// (ErrExpired) after it, though the token itself has not expired;
// RemoveExpired drops it; the published PEM round-trips the expiry.
func TestKeyExpiry(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	s := NewSigner(k, "", time.Hour)
	tok, _, err := s.Sign(7, 0)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	b, err := EncodePublishedKey(s.PublicKey(), until)
	if err != nil {
		t.Fatal(err)
	}
	pub, exp, err := DecodePublishedKey(b)
	if err != nil || !exp.Equal(until) || KeyID(pub) != s.KeyID() {
		t.Fatalf("decoded %v %v %v", KeyID(pub), exp, err)
	}
	if p2, err := DecodePublicKey(b); err != nil || !p2.Equal(pub) {
		t.Fatalf("plain decoder on a published key: %v", err)
	}
	if _, exp, err := DecodePublishedKey(mustPEM(t, s.PublicKey())); err != nil || !exp.IsZero() {
		t.Fatalf("key without header: expiry %v, %v", exp, err)
	}

	v := NewVerifier("")
	now := time.Now()
	v.now = func() time.Time { return now }
	v.AddKeyUntil(pub, until)
	if _, err := v.Verify(tok); err != nil || !v.Trusts(s.KeyID()) {
		t.Fatalf("before expiry: %v", err)
	}
	now = until
	if _, err := v.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after the key's expiry: %v, want ErrExpired", err)
	}
	if v.Trusts(s.KeyID()) {
		t.Fatal("expired key still trusted")
	}
	if gone := v.RemoveExpired(); len(gone) != 1 || gone[0] != s.KeyID() || v.Keys() != 0 {
		t.Fatalf("RemoveExpired = %v, %d keys left", gone, v.Keys())
	}
}

// TestKeyFileRotation: WriteNewKey replaces the key file in one piece and
// dates it; a file without the date (an older uc's) is dated by its mtime.
func TestKeyFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uc.key")
	if _, _, ok, err := LoadKeyFile(path); ok || err != nil {
		t.Fatalf("missing file: %v %v", ok, err)
	}
	old, err := LoadOrCreateKey(path) // as an older uc made it
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
	k, created, ok, err := LoadKeyFile(path)
	if err != nil || !ok || !k.Equal(old) || !created.Equal(mt) {
		t.Fatalf("old file: created %v (want %v), %v", created, mt, err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	nk, err := WriteNewKey(path, at)
	if err != nil {
		t.Fatal(err)
	}
	k, created, _, err = LoadKeyFile(path)
	if err != nil || !k.Equal(nk) || k.Equal(old) || !created.Equal(at) {
		t.Fatalf("rotated file: created %v, %v", created, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("leftover files: %v", ents)
	}
}

func mustPEM(t *testing.T, pub ed25519.PublicKey) []byte {
	t.Helper()
	b, err := EncodePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
