package gate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// keyring verifies login tokens. It trusts the keys given in the config
// and the keys published in the registry. Registry.Key answers from the
// registry's watched copy of /hive/keys/, so looking a kid up costs a map
// read: a flood of forged tokens with fresh kids reads nothing from etcd,
// and a key uc publishes after the gate started is found as soon as the
// watch delivers it. Keys carry an expiry; the verifier refuses a key past
// it even if nobody removed it.
type keyring struct {
	v      *token.Verifier
	reg    registry.Registry
	log    *slog.Logger
	static map[string]bool // kids from --gate-token-public-key: never replaced

	mu     sync.Mutex
	loaded map[string]string // kid -> the PEM it was decoded from
}

func newKeyring(issuer string, files []string, reg registry.Registry, log *slog.Logger) (*keyring, error) {
	k := &keyring{v: token.NewVerifier(issuer), reg: reg, log: log, static: map[string]bool{}, loaded: map[string]string{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("gate: token public key: %w", err)
		}
		pub, exp, err := token.DecodePublishedKey(b)
		if err != nil {
			return nil, fmt.Errorf("gate: token public key %s: %w", f, err)
		}
		k.v.AddKeyUntil(pub, exp)
		k.static[token.KeyID(pub)] = true
	}
	return k, nil
}

// verify checks tok against the key its kid names. Errors wrap
// token.ErrExpired or token.ErrInvalid.
func (k *keyring) verify(ctx context.Context, tok string) (token.Claims, error) {
	if kid := token.PeekKeyID(tok); kid != "" && !k.static[kid] {
		k.sync(ctx, kid)
	}
	return k.v.Verify(tok)
}

// sync makes the verifier hold what the registry publishes under kid right
// now: the key (decoded again only when its PEM changed, e.g. a new
// expiry), or nothing once it is gone or expired.
func (k *keyring) sync(ctx context.Context, kid string) {
	pemBytes, ok, err := k.reg.Key(ctx, kid)
	if err != nil {
		k.log.Warn("token key lookup failed", "kid", kid, "err", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	prev, had := k.loaded[kid]
	if !ok {
		if had {
			delete(k.loaded, kid)
			k.v.RemoveKey(kid)
			k.log.Info("token key no longer published", "kid", kid)
		}
		return
	}
	if had && prev == string(pemBytes) {
		return
	}
	pub, exp, derr := token.DecodePublishedKey(pemBytes)
	if derr != nil || token.KeyID(pub) != kid {
		k.log.Warn("published token key does not match its kid", "kid", kid, "err", derr)
		if had {
			delete(k.loaded, kid)
			k.v.RemoveKey(kid)
		}
		return
	}
	k.v.AddKeyUntil(pub, exp)
	k.loaded[kid] = string(pemBytes)
	k.log.Info("loaded token key from registry", "kid", kid, "expires", exp)
}
