// Package registry is where gates announce themselves and uc finds them:
// live gates with their load (etcd leases in a cluster, in-process in `hive
// dev`), the token public keys gates verify with, and leader election for
// singleton jobs.
package registry

import (
	"context"
	"time"

	"github.com/qeetap/hive/token"
)

// Gate is one live gate as published at /hive/gates/<id> (JSON).
type Gate struct {
	ID       string    `json:"id"`
	Addr     string    `json:"addr"`             // ip:port clients connect to
	WSURL    string    `json:"ws_url,omitempty"` // ws:// or wss:// URL of its WebSocket; empty: none
	Conns    int       `json:"conns"`
	Capacity int       `json:"capacity"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
}

// Registry is the seam between gates, uc and game. One real implementation
// (etcd) and the in-process one (Memory) for `hive dev` and tests.
type Registry interface {
	// Register publishes g as live until the returned Lease is revoked or the
	// process dies (its lease expires).
	Register(ctx context.Context, g Gate) (Lease, error)
	// Gates lists the live gates (from a local watch: cheap, may lag by a moment).
	Gates() []Gate
	// PublishKey stores a token public key (PEM, as token.EncodePublishedKey
	// makes it) under its kid. A PEM with an Expires header is removed by the
	// registry itself once that time passes; one already expired is removed now.
	PublishKey(ctx context.Context, kid string, pem []byte) error
	// Key returns the public key (PEM) published under kid; ok is false if
	// none, or if its Expires time has passed (even if nobody removed it).
	// It is served from a local copy kept by a watch: it never reads the
	// store, so a flood of unknown kids costs nothing; it may lag a moment.
	Key(ctx context.Context, kid string) (pem []byte, ok bool, err error)
	// Keys returns every published key by kid, expired ones left out (from
	// the same local copy as Key).
	Keys() map[string][]byte
	// Campaign blocks until this process leads the named singleton job or ctx ends.
	// Leadership lasts until ctx is cancelled or the process dies.
	Campaign(ctx context.Context, job string) error
	// Close releases the registry's resources.
	Close() error
}

// Lease keeps one gate's entry alive.
type Lease interface {
	// Update republishes the gate's load.
	Update(ctx context.Context, g Gate) error
	// Revoke deletes the entry now (drain).
	Revoke(ctx context.Context) error
}

// Pick returns the least-loaded gate (fewest connections relative to
// capacity), skipping full ones; ok is false when none is live.
func Pick(gates []Gate) (Gate, bool) {
	var best Gate
	found := false
	for _, g := range gates {
		if g.Capacity > 0 && g.Conns >= g.Capacity {
			continue
		}
		if !found || g.Load() < best.Load() || (g.Load() == best.Load() && g.ID < best.ID) {
			best, found = g, true
		}
	}
	return best, found
}

// Load is the gate's share of its capacity in use: conns/capacity, or conns
// when the capacity is unlimited (0).
func (g Gate) Load() float64 {
	if g.Capacity <= 0 {
		return float64(g.Conns)
	}
	return float64(g.Conns) / float64(g.Capacity)
}

// publishedKey is one entry of /hive/keys/: the PEM as published and its
// expiry (zero: none).
type publishedKey struct {
	pem     []byte
	expires time.Time
}

// parsePublishedKey checks a published PEM and reads its expiry.
func parsePublishedKey(pem []byte) (publishedKey, error) {
	_, exp, err := token.DecodePublishedKey(pem)
	if err != nil {
		return publishedKey{}, err
	}
	return publishedKey{pem: append([]byte(nil), pem...), expires: exp}, nil
}

// expired reports whether k's expiry has passed at now.
func (k publishedKey) expired(now time.Time) bool {
	return !k.expires.IsZero() && !now.Before(k.expires)
}
