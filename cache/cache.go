// Package cache is the seam to what Hive keeps in redis: player snapshots,
// leaderboards, verification codes and rate-limit counters. Nothing in it is
// the truth; all of it can be rebuilt or safely lost. Redis in a cluster,
// Memory in `hive dev`.
package cache

import (
	"context"
	"errors"
	"time"
)

// ErrMiss is returned by Get when the key is absent or expired.
var ErrMiss = errors.New("cache: miss")

// Scored is one member of a sorted set.
type Scored struct {
	Member string
	Score  float64
}

// Values is a cache that can also keep Go values as they are, without
// serializing them: an in-process one (Memory). A reader gets the very value
// stored, so a value must not change once stored. Keys are shared with the
// bytes of Cache: Get of a key holding a value misses, Delete removes either.
type Values interface {
	// GetValue returns the value stored under key by SetValue.
	GetValue(key string) (any, bool)
	// SetValue stores v under key; ttl 0 keeps it until deleted.
	SetValue(key string, v any, ttl time.Duration)
}

// Cache is implemented by Redis and Memory.
type Cache interface {
	// Get returns the value of key or ErrMiss.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores val under key; ttl 0 keeps it until deleted or evicted.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Delete removes keys; absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Incr adds 1 to the counter at key and returns the new value; a counter
	// created by this call expires after ttl (if ttl > 0).
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// TTL is the time left on key; 0 if it has none or does not exist.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Swap sets key to val (no expiry) only if its value is old now, and
	// reports whether it did; an absent key never matches. Projections
	// store their stream position with it, so a cache flushed or restored
	// from an older copy under them is noticed instead of overwritten.
	Swap(ctx context.Context, key string, old, val []byte) (bool, error)
	// ZAdd sets member's score in the sorted set at key.
	ZAdd(ctx context.Context, key, member string, score float64) error
	// ZAddMany sets the scores of several members of the sorted set at key
	// in one call (one round trip to redis).
	ZAddMany(ctx context.Context, key string, members []Scored) error
	// ZTop returns up to n members with the highest scores, highest first
	// (ties in an order the implementation keeps stable).
	ZTop(ctx context.Context, key string, n int) ([]Scored, error)
	// Close releases connections.
	Close() error
}
