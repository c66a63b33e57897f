package cache

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Memory is the in-process cache of `hive dev`: a map with expiry.
type Memory struct {
	mu   sync.Mutex
	vals map[string]memVal
	sets map[string]map[string]float64
	now  func() time.Time
}

type memVal struct {
	b   []byte
	n   int64
	exp time.Time // zero = none
}

// NewMemory returns an empty in-process cache.
func NewMemory() *Memory {
	return &Memory{vals: map[string]memVal{}, sets: map[string]map[string]float64{}, now: time.Now}
}

func (m *Memory) live(key string) (memVal, bool) {
	v, ok := m.vals[key]
	if ok && !v.exp.IsZero() && !m.now().Before(v.exp) {
		delete(m.vals, key)
		return memVal{}, false
	}
	return v, ok
}

func (m *Memory) expiry(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return m.now().Add(ttl)
}

// Get implements Cache.
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.live(key)
	if !ok {
		return nil, ErrMiss
	}
	if v.b == nil { // a counter reads as its decimal value, as in redis
		return strconv.AppendInt(nil, v.n, 10), nil
	}
	return append([]byte(nil), v.b...), nil
}

// Set implements Cache.
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	m.mu.Lock()
	m.vals[key] = memVal{b: append([]byte{}, val...), exp: m.expiry(ttl)}
	m.mu.Unlock()
	return nil
}

// Delete implements Cache.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	m.mu.Lock()
	for _, k := range keys {
		delete(m.vals, k)
		delete(m.sets, k)
	}
	m.mu.Unlock()
	return nil
}

// Incr implements Cache.
func (m *Memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.live(key)
	if !ok {
		v = memVal{exp: m.expiry(ttl)}
	} else if v.b != nil { // a value Set earlier counts on if it is an integer, as in redis
		n, err := strconv.ParseInt(string(v.b), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cache: incr %s: value is not an integer", key)
		}
		v.b, v.n = nil, n
	}
	v.n++
	m.vals[key] = v
	return v.n, nil
}

// TTL implements Cache.
func (m *Memory) TTL(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.live(key)
	if !ok || v.exp.IsZero() {
		return 0, nil
	}
	return v.exp.Sub(m.now()), nil
}

// ZAdd implements Cache.
func (m *Memory) ZAdd(_ context.Context, key, member string, score float64) error {
	m.mu.Lock()
	s := m.sets[key]
	if s == nil {
		s = map[string]float64{}
		m.sets[key] = s
	}
	s[member] = score
	m.mu.Unlock()
	return nil
}

// ZTop implements Cache.
func (m *Memory) ZTop(_ context.Context, key string, n int) ([]Scored, error) {
	m.mu.Lock()
	out := make([]Scored, 0, len(m.sets[key]))
	for mem, sc := range m.sets[key] {
		out = append(out, Scored{mem, sc})
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Member < out[j].Member
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Close implements Cache.
func (m *Memory) Close() error { return nil }
