// Package token issues and checks the login tokens of Hive: JWTs signed by uc
// with Ed25519 (alg EdDSA) and verified by the gates with the public key named
// by the token's kid, so keys can rotate.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultIssuer is the iss claim uc signs and gates expect unless configured.
const DefaultIssuer = "hive-uc"

// Errors of Verify. A gate answers ErrExpired with RC_LOGIN_TOKEN_EXPIRED and
// every other failure with RC_LOGIN_TOKEN_INVALID.
var (
	ErrInvalid = errors.New("token: invalid")
	ErrExpired = errors.New("token: expired")
)

// Claims is what a verified token says.
type Claims struct {
	AccountID int64
	Issuer    string
	IssuedAt  time.Time
	ExpiresAt time.Time
	ID        string // jti
	KeyID     string // kid
	// Version is the account's token version when the token was issued
	// (claim "ver", absent = 0). uc bumps the account's version when its
	// credentials change; gates refuse tokens older than the current one.
	Version int64
}

// claims is the JWT body: the registered claims plus the token version.
type claims struct {
	jwt.RegisteredClaims
	Ver int64 `json:"ver,omitempty"`
}

// Signer signs tokens with one Ed25519 private key.
type Signer struct {
	key    ed25519.PrivateKey
	kid    string
	issuer string
	ttl    time.Duration
	now    func() time.Time
}

// NewSigner returns a signer for key. The kid is derived from the public key,
// so the same key always has the same id.
func NewSigner(key ed25519.PrivateKey, issuer string, ttl time.Duration) *Signer {
	if issuer == "" {
		issuer = DefaultIssuer
	}
	return &Signer{key: key, kid: KeyID(key.Public().(ed25519.PublicKey)), issuer: issuer, ttl: ttl, now: time.Now}
}

// KeyID is the kid of a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// KeyID is the kid this signer puts in its tokens' header.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey is the key gates need to verify this signer's tokens.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign issues a token for account at the account's token version; it
// returns the token and when it expires.
func (s *Signer) Sign(account, version int64) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.ttl)
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("token: jti: %w", err)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(account, 10),
		Issuer:    s.issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
	}, Ver: version})
	t.Header["kid"] = s.kid
	str, err := t.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: sign: %w", err)
	}
	return str, exp, nil
}

// Verifier checks tokens against a set of public keys by kid. It is safe for
// concurrent use; keys can be added and removed while it serves.
type Verifier struct {
	issuer string
	mu     sync.RWMutex
	keys   map[string]verifyKey
	parser *jwt.Parser
	now    func() time.Time
}

// verifyKey is a trusted key and when it stops being trusted (zero: never).
type verifyKey struct {
	pub     ed25519.PublicKey
	expires time.Time
}

// NewVerifier returns a verifier that accepts only EdDSA tokens from issuer
// (DefaultIssuer if empty) with an exp claim, signed by one of its keys.
func NewVerifier(issuer string, keys ...ed25519.PublicKey) *Verifier {
	if issuer == "" {
		issuer = DefaultIssuer
	}
	v := &Verifier{issuer: issuer, keys: map[string]verifyKey{}, now: time.Now}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
	)
	for _, k := range keys {
		v.AddKey(k)
	}
	return v
}

// AddKey trusts pub under its KeyID, with no expiry.
func (v *Verifier) AddKey(pub ed25519.PublicKey) { v.AddKeyUntil(pub, time.Time{}) }

// AddKeyUntil trusts pub under its KeyID until expires (zero: no expiry).
// Tokens whose key has expired are refused with ErrExpired: by the time a
// key expires every token it signed has expired too (uc publishes it so),
// so an honest client holding one is simply told to log in again.
func (v *Verifier) AddKeyUntil(pub ed25519.PublicKey, expires time.Time) {
	v.mu.Lock()
	v.keys[KeyID(pub)] = verifyKey{pub: pub, expires: expires}
	v.mu.Unlock()
}

// Trusts reports whether the key kid is trusted and not expired.
func (v *Verifier) Trusts(kid string) bool {
	v.mu.RLock()
	k, ok := v.keys[kid]
	v.mu.RUnlock()
	return ok && (k.expires.IsZero() || v.now().Before(k.expires))
}

// RemoveExpired stops trusting every key past its expiry and returns their kids.
func (v *Verifier) RemoveExpired() []string {
	now := v.now()
	var gone []string
	v.mu.Lock()
	for kid, k := range v.keys {
		if !k.expires.IsZero() && !now.Before(k.expires) {
			delete(v.keys, kid)
			gone = append(gone, kid)
		}
	}
	v.mu.Unlock()
	return gone
}

// RemoveKey stops trusting the key kid.
func (v *Verifier) RemoveKey(kid string) {
	v.mu.Lock()
	delete(v.keys, kid)
	v.mu.Unlock()
}

// Keys is the number of trusted keys.
func (v *Verifier) Keys() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.keys)
}

// Verify checks a token's algorithm, kid, signature, issuer and expiry and
// returns its claims. The error wraps ErrExpired or ErrInvalid with the reason.
func (v *Verifier) Verify(tok string) (Claims, error) {
	if len(tok) > 4096 {
		return Claims{}, fmt.Errorf("%w: too long", ErrInvalid)
	}
	var all claims
	rc := &all.RegisteredClaims
	var kid string
	keyExpired := false
	_, err := v.parser.ParseWithClaims(tok, &all, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		v.mu.RLock()
		k, ok := v.keys[kid]
		v.mu.RUnlock()
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if !k.expires.IsZero() && !v.now().Before(k.expires) {
			keyExpired = true
			return nil, fmt.Errorf("key %q expired at %s", kid, k.expires.UTC().Format(time.RFC3339))
		}
		return k.pub, nil
	})
	switch {
	case keyExpired:
		return Claims{}, fmt.Errorf("%w: %v", ErrExpired, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("%w: %v", ErrExpired, err)
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	id, err := strconv.ParseInt(rc.Subject, 10, 64)
	if err != nil || id <= 0 {
		return Claims{}, fmt.Errorf("%w: bad sub %q", ErrInvalid, rc.Subject)
	}
	if all.Ver < 0 {
		return Claims{}, fmt.Errorf("%w: bad ver %d", ErrInvalid, all.Ver)
	}
	c := Claims{AccountID: id, Issuer: rc.Issuer, ID: rc.ID, KeyID: kid, Version: all.Ver}
	if rc.IssuedAt != nil {
		c.IssuedAt = rc.IssuedAt.Time
	}
	c.ExpiresAt = rc.ExpiresAt.Time
	return c, nil
}

// PeekKeyID returns the kid in a token's header without verifying anything,
// or "" if it has none or the header does not parse (Verify reports that).
// Verifiers use it to fetch an unknown key before verifying.
func PeekKeyID(tok string) string {
	if len(tok) > 4096 {
		return ""
	}
	head, _, ok := strings.Cut(tok, ".")
	if !ok || len(head) > 512 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil || len(h.Kid) > 128 {
		return ""
	}
	return h.Kid
}
