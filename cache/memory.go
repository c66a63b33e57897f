package cache

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The sweep of expired keys, modelled on redis's active expiry: every
// sweepEvery it samples up to sweepSample keys that carry an expiry and
// drops the expired ones, and samples again (at most sweepRounds times)
// while more than a quarter of a sample had expired. The lock is held for
// one sample at a time, so a sweep never stalls callers for long, and keys
// nobody reads again (rate-limit counters of a client that left) still go.
const (
	sweepEvery  = time.Second
	sweepSample = 1000
	sweepRounds = 16
)

// Memory is the in-process cache of `hive dev`: a map with expiry, swept in
// the background until Close (or until the Memory is unreachable).
type Memory struct {
	*memStore
	stop *stopper
}

// stopper ends the sweeper once, from Close or from the cleanup.
type stopper struct {
	once sync.Once
	ch   chan struct{}
}

func (s *stopper) stop() { s.once.Do(func() { close(s.ch) }) }

// memStore is the state of a Memory; the sweeper holds this, not the
// Memory, so a Memory nobody closes can still be collected (and its
// sweeper stopped by the cleanup).
type memStore struct {
	mu      sync.Mutex
	vals    map[string]memVal
	sets    map[string]map[string]float64
	expires map[string]struct{} // keys of vals that carry an expiry
	now     func() time.Time
	swept   atomic.Uint64 // expired keys dropped by the sweeper
}

type memVal struct {
	b   []byte
	n   int64
	v   any       // a value of SetValue (b and n unused)
	exp time.Time // zero = none
}

// NewMemory returns an empty in-process cache and starts its sweeper.
func NewMemory() *Memory {
	st := &memStore{vals: map[string]memVal{}, sets: map[string]map[string]float64{},
		expires: map[string]struct{}{}, now: time.Now}
	m := &Memory{memStore: st, stop: &stopper{ch: make(chan struct{})}}
	go st.sweeper(m.stop.ch)
	runtime.AddCleanup(m, (*stopper).stop, m.stop)
	return m
}

func (m *memStore) sweeper(stop <-chan struct{}) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep drops expired keys, a bounded sample at a time.
func (m *memStore) sweep() {
	for range sweepRounds {
		m.mu.Lock()
		now := m.now()
		seen, expired := 0, 0
		for k := range m.expires { // map order is random: each round samples anew
			if seen == sweepSample {
				break
			}
			seen++
			if v := m.vals[k]; !now.Before(v.exp) {
				m.drop(k)
				expired++
			}
		}
		m.mu.Unlock()
		m.swept.Add(uint64(expired))
		if expired*4 <= seen || seen < sweepSample {
			return
		}
	}
}

// put stores v under key, keeping the index of expiring keys.
func (m *memStore) put(key string, v memVal) {
	m.vals[key] = v
	if v.exp.IsZero() {
		delete(m.expires, key)
	} else {
		m.expires[key] = struct{}{}
	}
}

// drop removes the value at key.
func (m *memStore) drop(key string) {
	delete(m.vals, key)
	delete(m.expires, key)
}

// Len is the number of keys held (values and sorted sets), expired ones
// not yet swept included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.vals) + len(m.sets)
}

// Swept is how many expired keys the sweeper has dropped.
func (m *Memory) Swept() uint64 { return m.swept.Load() }

func (m *memStore) live(key string) (memVal, bool) {
	v, ok := m.vals[key]
	if ok && !v.exp.IsZero() && !m.now().Before(v.exp) {
		m.drop(key)
		return memVal{}, false
	}
	return v, ok
}

func (m *memStore) expiry(ttl time.Duration) time.Time {
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
	if !ok || v.v != nil {
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
	m.put(key, memVal{b: append([]byte{}, val...), exp: m.expiry(ttl)})
	m.mu.Unlock()
	return nil
}

// GetValue implements Values.
func (m *Memory) GetValue(key string) (any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.live(key)
	if !ok || v.v == nil {
		return nil, false
	}
	return v.v, true
}

// SetValue implements Values.
func (m *Memory) SetValue(key string, v any, ttl time.Duration) {
	if v == nil {
		return
	}
	m.mu.Lock()
	m.put(key, memVal{v: v, exp: m.expiry(ttl)})
	m.mu.Unlock()
}

// Delete implements Cache.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	m.mu.Lock()
	for _, k := range keys {
		m.drop(k)
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
	} else if v.v != nil {
		return 0, fmt.Errorf("cache: incr %s: value is not an integer", key)
	} else if v.b != nil { // a value Set earlier counts on if it is an integer, as in redis
		n, err := strconv.ParseInt(string(v.b), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cache: incr %s: value is not an integer", key)
		}
		v.b, v.n = nil, n
	}
	v.n++
	m.put(key, v)
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

// Swap implements Cache.
func (m *Memory) Swap(_ context.Context, key string, old, val []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.live(key)
	if !ok || v.v != nil {
		return false, nil
	}
	cur := v.b
	if cur == nil {
		cur = strconv.AppendInt(nil, v.n, 10)
	}
	if !bytes.Equal(cur, old) {
		return false, nil
	}
	m.put(key, memVal{b: append([]byte{}, val...)})
	return true, nil
}

// ZAddMany implements Cache.
func (m *Memory) ZAddMany(_ context.Context, key string, members []Scored) error {
	if len(members) == 0 {
		return nil
	}
	m.mu.Lock()
	s := m.sets[key]
	if s == nil {
		s = make(map[string]float64, len(members))
		m.sets[key] = s
	}
	for _, z := range members {
		s[z.Member] = z.Score
	}
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

// Close implements Cache: it stops the sweeper.
func (m *Memory) Close() error {
	m.stop.stop()
	return nil
}
