package uc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// keySlack is added to every published key's expiry beyond the last moment
// a token it signed can expire: the rotation check runs at most one check
// interval late, and gates accept tokens a few seconds past exp.
const keySlack = 10 * time.Second

// signingKeys is uc's token signing key and its rotation (SECURITY.md,
// "Tokens and signing keys").
//
// uc signs with the key in Config.KeyFile. Once that key is
// Config.KeyRotate old, uc writes a new key to the file (one rename) and
// signs with it. Every key is published in the registry with an expiry: the
// signing key until its rotation is due plus the token TTL; a retired key
// is published again expiring one token TTL after its last token, after
// which the registry drops it and gates refuse it.
//
// Several uc processes may each have their own key file (each key is
// published under its own kid) or share one file: the file wins, so a
// process that finds a different key in the file than the one it signs
// with adopts the file's key (and retires its own). Two processes rotating
// the same file at the same moment both publish; the next check makes them
// agree. A file without a Created header (an older uc's) is dated by its
// modification time, and rotated at start if that is old enough.
type signingKeys struct {
	file     string // empty: a fixed Deps.Signer, never rotated
	issuer   string
	ttl      time.Duration
	rotate   time.Duration
	check    time.Duration // how often rotation is considered
	reg      registry.Registry
	log      *slog.Logger
	now      func() time.Time
	verifier *token.Verifier // uc's own: trusts its current and retired keys

	mu        sync.RWMutex
	cur       *token.Signer
	created   time.Time
	published time.Time // expiry last published for cur
}

// newSigningKeys loads (or creates) the signing key. fixed, if not nil, is
// used instead of a file and never rotated; its published expiry moves
// forward while uc runs.
func newSigningKeys(cfg Config, fixed *token.Signer, reg registry.Registry, log *slog.Logger) (*signingKeys, error) {
	return newSigningKeysAt(cfg, fixed, reg, log, time.Now)
}

// newSigningKeysAt is newSigningKeys on the clock now.
func newSigningKeysAt(cfg Config, fixed *token.Signer, reg registry.Registry, log *slog.Logger, now func() time.Time) (*signingKeys, error) {
	k := &signingKeys{
		file: cfg.KeyFile, issuer: cfg.TokenIssuer, ttl: cfg.TokenTTL, rotate: cfg.KeyRotate,
		check: min(max(cfg.KeyRotate/4, time.Second), time.Minute),
		reg:   reg, log: log, now: now, verifier: token.NewVerifier(cfg.TokenIssuer),
	}
	if fixed != nil {
		k.file = ""
		k.cur, k.created = fixed, k.now()
		k.verifier.AddKey(fixed.PublicKey())
		return k, nil
	}
	if k.file == "" {
		return nil, fmt.Errorf("uc: no signing key: set --uc-key-file or pass Deps.Signer")
	}
	key, created, ok, err := token.LoadKeyFile(k.file)
	if err != nil {
		return nil, err
	}
	if !ok {
		created = k.now()
		if key, err = token.WriteNewKey(k.file, created); err != nil {
			return nil, err
		}
	}
	k.cur, k.created = token.NewSigner(key, k.issuer, k.ttl), created
	k.verifier.AddKey(k.cur.PublicKey())
	return k, nil
}

// Sign issues a token with the current key.
func (k *signingKeys) Sign(account, version int64) (string, time.Time, error) {
	k.mu.RLock()
	s := k.cur
	k.mu.RUnlock()
	return s.Sign(account, version)
}

// KeyID is the current key's kid.
func (k *signingKeys) KeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.cur.KeyID()
}

// PublicKey is the current key's public half.
func (k *signingKeys) PublicKey() ed25519.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.cur.PublicKey()
}

// expiryLocked is when the current key stops verifying: the last token it
// may sign is at its rotation (or now, if that is overdue) and lives one TTL.
func (k *signingKeys) expiryLocked(now time.Time) time.Time {
	return maxTime(k.created.Add(k.rotate), now).Add(k.ttl + keySlack)
}

// start publishes the current key (rotating first if it is due) and gives
// keys left by an older uc, published without an expiry, one.
func (k *signingKeys) start(ctx context.Context) error {
	if err := k.tick(ctx); err != nil {
		return err
	}
	now := k.now()
	for kid, pemb := range k.reg.Keys() {
		pub, exp, err := token.DecodePublishedKey(pemb)
		if err != nil || !exp.IsZero() || kid == k.KeyID() {
			continue
		}
		// Tokens it signed were issued before now: they expire within a TTL.
		if err := k.publish(ctx, pub, now.Add(k.ttl+keySlack)); err != nil {
			return err
		}
		k.log.Info("uc: key without expiry given one", "kid", kid)
	}
	return nil
}

// run checks for rotation until ctx ends.
func (k *signingKeys) run(ctx context.Context) {
	t := time.NewTicker(k.check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := k.tick(ctx); err != nil && ctx.Err() == nil {
			k.log.Error("uc: signing key check failed", "err", err)
		}
	}
}

// tick adopts a newer key from a shared file, rotates a key that is due,
// and (re)publishes the current key when its expiry moved.
func (k *signingKeys) tick(ctx context.Context) error {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	var errs []error
	if k.file != "" {
		if key, created, ok, err := token.LoadKeyFile(k.file); err != nil {
			errs = append(errs, err)
		} else if ok && token.KeyID(key.Public().(ed25519.PublicKey)) != k.cur.KeyID() {
			k.log.Info("uc: adopting the signing key found in the key file", "kid", token.KeyID(key.Public().(ed25519.PublicKey)))
			errs = append(errs, k.replaceLocked(ctx, token.NewSigner(key, k.issuer, k.ttl), created, now))
		}
		if now.Sub(k.created) >= k.rotate {
			key, err := token.WriteNewKey(k.file, now)
			if err != nil {
				errs = append(errs, err)
			} else {
				errs = append(errs, k.replaceLocked(ctx, token.NewSigner(key, k.issuer, k.ttl), now, now))
			}
		}
	}
	k.verifier.RemoveExpired()
	if exp := k.expiryLocked(now); !exp.Equal(k.published) {
		if err := k.publish(ctx, k.cur.PublicKey(), exp); err != nil {
			errs = append(errs, err)
		} else {
			k.published = exp
		}
	}
	return errors.Join(errs...)
}

// replaceLocked makes next the signing key: it is published, then the old
// one is published again expiring a TTL after its last token. Called with
// mu held.
func (k *signingKeys) replaceLocked(ctx context.Context, next *token.Signer, created, now time.Time) error {
	old := k.cur
	nextExp := maxTime(created.Add(k.rotate), now).Add(k.ttl + keySlack)
	if err := k.publish(ctx, next.PublicKey(), nextExp); err != nil {
		return err // keep signing with the old key: gates would not know the new one
	}
	k.verifier.AddKey(next.PublicKey())
	k.cur, k.created, k.published = next, created, nextExp
	oldExp := now.Add(k.ttl + keySlack)
	k.verifier.AddKeyUntil(old.PublicKey(), oldExp)
	k.log.Info("uc: signing key rotated", "kid", next.KeyID(), "retired", old.KeyID(), "retired_until", oldExp)
	return k.publish(ctx, old.PublicKey(), oldExp)
}

// publish puts pub in the registry expiring at exp.
func (k *signingKeys) publish(ctx context.Context, pub ed25519.PublicKey, exp time.Time) error {
	pemb, err := token.EncodePublishedKey(pub, exp)
	if err != nil {
		return fmt.Errorf("uc: public key: %w", err)
	}
	if err := k.reg.PublishKey(ctx, token.KeyID(pub), pemb); err != nil {
		return fmt.Errorf("uc: publish public key: %w", err)
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
