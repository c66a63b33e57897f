package gate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

const (
	// keyLookupTimeout bounds one registry read of a public key.
	keyLookupTimeout = 2 * time.Second
	// keyMissTTL is how long an unknown kid is remembered as unknown, so a
	// flood of forged tokens cannot turn into a flood of registry reads.
	keyMissTTL = 5 * time.Second
	// maxKeyMisses bounds that memory.
	maxKeyMisses = 1024
)

// keyring verifies login tokens. It trusts the keys given in the config
// and, for any other kid, the key published in the registry (read on first
// use and kept).
type keyring struct {
	v   *token.Verifier
	reg registry.Registry
	log *slog.Logger

	mu     sync.Mutex
	known  map[string]bool
	missed map[string]time.Time
}

func newKeyring(issuer string, files []string, reg registry.Registry, log *slog.Logger) (*keyring, error) {
	k := &keyring{v: token.NewVerifier(issuer), reg: reg, log: log, known: map[string]bool{}, missed: map[string]time.Time{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("gate: token public key: %w", err)
		}
		pub, err := token.DecodePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("gate: token public key %s: %w", f, err)
		}
		k.v.AddKey(pub)
		k.known[token.KeyID(pub)] = true
	}
	return k, nil
}

// verify checks tok, first fetching its kid's key from the registry if it
// is not known yet. Errors wrap token.ErrExpired or token.ErrInvalid.
func (k *keyring) verify(ctx context.Context, tok string) (token.Claims, error) {
	if kid := token.PeekKeyID(tok); kid != "" {
		k.ensure(ctx, kid)
	}
	return k.v.Verify(tok)
}

// ensure loads kid from the registry unless it is known or missed recently.
func (k *keyring) ensure(ctx context.Context, kid string) {
	k.mu.Lock()
	if k.known[kid] {
		k.mu.Unlock()
		return
	}
	if t, ok := k.missed[kid]; ok && time.Since(t) < keyMissTTL {
		k.mu.Unlock()
		return
	}
	k.mu.Unlock()
	if k.reg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, keyLookupTimeout)
	defer cancel()
	pemBytes, ok, err := k.reg.Key(ctx, kid)
	if err == nil && ok {
		pub, derr := token.DecodePublicKey(pemBytes)
		if derr == nil && token.KeyID(pub) == kid {
			k.v.AddKey(pub)
			k.mu.Lock()
			k.known[kid] = true
			delete(k.missed, kid)
			k.mu.Unlock()
			k.log.Info("loaded token key from registry", "kid", kid)
			return
		}
		err = fmt.Errorf("published key does not match its kid: %v", derr)
	}
	if err != nil {
		k.log.Warn("token key lookup failed", "kid", kid, "err", err)
	}
	k.mu.Lock()
	if len(k.missed) >= maxKeyMisses {
		clear(k.missed)
	}
	k.missed[kid] = time.Now()
	k.mu.Unlock()
}
