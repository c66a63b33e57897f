package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Cache of a cluster deployment: one redis server (or a proxy
// in front of several) shared by every uc, gate and game process.
type Redis struct {
	c *redis.Client
}

// incrScript adds 1 to a counter and, only when this call created it, sets
// its expiry in the same atomic step. INCR then EXPIRE as two commands could
// leave an immortal counter if the process died between them.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 and tonumber(ARGV[1]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// swapScript is Swap: compare and set in one atomic step.
var swapScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// NewRedis connects to the redis server at addr (host:port, or a
// redis:// URL) and checks it answers. The client reconnects on its own
// after a redis restart; calls made while it is down fail.
func NewRedis(addr string) (*Redis, error) {
	var opt *redis.Options
	if strings.HasPrefix(addr, "redis://") || strings.HasPrefix(addr, "rediss://") {
		o, err := redis.ParseURL(addr)
		if err != nil {
			return nil, fmt.Errorf("cache: redis url: %w", err)
		}
		opt = o
	} else {
		opt = &redis.Options{Addr: addr}
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("cache: redis %s: %w", addr, err)
	}
	return &Redis{c: c}, nil
}

// Get implements Cache.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := r.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("cache: get %s: %w", key, err)
	}
	return b, nil
}

// Set implements Cache.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl < 0 {
		ttl = 0
	}
	if err := r.c.Set(ctx, key, val, ttl).Err(); err != nil {
		return fmt.Errorf("cache: set %s: %w", key, err)
	}
	return nil
}

// Delete implements Cache.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := r.c.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("cache: delete: %w", err)
	}
	return nil
}

// Incr implements Cache.
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	n, err := incrScript.Run(ctx, r.c, []string{key}, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("cache: incr %s: %w", key, err)
	}
	return n, nil
}

// TTL implements Cache.
func (r *Redis) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.c.PTTL(ctx, key).Result()
	if err != nil {
		return 0, fmt.Errorf("cache: ttl %s: %w", key, err)
	}
	if d < 0 { // -1: no expiry, -2: no key (go-redis passes them through as nanoseconds)
		return 0, nil
	}
	return d, nil
}

// ZAdd implements Cache.
func (r *Redis) ZAdd(ctx context.Context, key, member string, score float64) error {
	if err := r.c.ZAdd(ctx, key, redis.Z{Score: score, Member: member}).Err(); err != nil {
		return fmt.Errorf("cache: zadd %s: %w", key, err)
	}
	return nil
}

// Swap implements Cache.
func (r *Redis) Swap(ctx context.Context, key string, old, val []byte) (bool, error) {
	n, err := swapScript.Run(ctx, r.c, []string{key}, old, val).Int()
	if err != nil {
		return false, fmt.Errorf("cache: swap %s: %w", key, err)
	}
	return n == 1, nil
}

// ZAddMany implements Cache.
func (r *Redis) ZAddMany(ctx context.Context, key string, members []Scored) error {
	if len(members) == 0 {
		return nil
	}
	zs := make([]redis.Z, len(members))
	for i, m := range members {
		zs[i] = redis.Z{Score: m.Score, Member: m.Member}
	}
	if err := r.c.ZAdd(ctx, key, zs...).Err(); err != nil {
		return fmt.Errorf("cache: zadd %s: %w", key, err)
	}
	return nil
}

// ZTop implements Cache: ZREVRANGE WITHSCORES, so members with equal
// scores come in reverse lexicographic order.
func (r *Redis) ZTop(ctx context.Context, key string, n int) ([]Scored, error) {
	if n == 0 {
		return []Scored{}, nil
	}
	stop := int64(n - 1)
	if n < 0 {
		stop = -1
	}
	zs, err := r.c.ZRevRangeWithScores(ctx, key, 0, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("cache: ztop %s: %w", key, err)
	}
	out := make([]Scored, len(zs))
	for i, z := range zs {
		m, _ := z.Member.(string)
		out[i] = Scored{Member: m, Score: z.Score}
	}
	return out, nil
}

// Close implements Cache.
func (r *Redis) Close() error { return r.c.Close() }
