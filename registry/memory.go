package registry

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Memory is the in-process registry of `hive dev`: one process, so every
// campaign wins at once and entries live until revoked.
type Memory struct {
	mu    sync.Mutex
	gates map[string]Gate
	keys  map[string]publishedKey
	jobs  map[string]chan struct{}
	rev   int64 // of the latest gate entry written
}

// NewMemory returns an empty in-process registry.
func NewMemory() *Memory {
	return &Memory{gates: map[string]Gate{}, keys: map[string]publishedKey{}, jobs: map[string]chan struct{}{}}
}

// Register implements Registry.
func (m *Memory) Register(_ context.Context, g Gate) (Lease, error) {
	m.mu.Lock()
	m.rev++
	g.Rev = m.rev
	m.gates[g.ID] = g
	m.mu.Unlock()
	return &memLease{m: m, id: g.ID}, nil
}

// Gates implements Registry.
func (m *Memory) Gates() []Gate {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Gate, 0, len(m.gates))
	for _, g := range m.gates {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PublishKey implements Registry. Expired keys are removed by Key and Keys
// when they find them.
func (m *Memory) PublishKey(_ context.Context, kid string, pem []byte) error {
	k, err := parsePublishedKey(pem)
	if err != nil {
		return fmt.Errorf("registry: publish key %s: %w", kid, err)
	}
	m.mu.Lock()
	m.keys[kid] = k
	m.mu.Unlock()
	return nil
}

// Key implements Registry.
func (m *Memory) Key(_ context.Context, kid string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[kid]
	if ok && k.expired(time.Now()) {
		delete(m.keys, kid)
		return nil, false, nil
	}
	return k.pem, ok, nil
}

// Keys implements Registry.
func (m *Memory) Keys() map[string][]byte {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.keys))
	for kid, k := range m.keys {
		if k.expired(now) {
			delete(m.keys, kid)
			continue
		}
		out[kid] = k.pem
	}
	return out
}

// Campaign implements Registry: one leader per job within the process;
// leadership is lost only when ctx ends.
func (m *Memory) Campaign(ctx context.Context, job string) (<-chan struct{}, error) {
	for {
		m.mu.Lock()
		held, busy := m.jobs[job]
		if !busy {
			done := make(chan struct{})
			m.jobs[job] = done
			m.mu.Unlock()
			go func() {
				<-ctx.Done()
				m.mu.Lock()
				delete(m.jobs, job)
				m.mu.Unlock()
				close(done)
			}()
			return done, nil
		}
		m.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements Registry.
func (m *Memory) Close() error { return nil }

type memLease struct {
	m  *Memory
	id string
}

func (l *memLease) Update(_ context.Context, g Gate) error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if _, ok := l.m.gates[l.id]; ok {
		l.m.rev++
		g.ID, g.Rev = l.id, l.m.rev
		l.m.gates[l.id] = g
	}
	return nil
}

func (l *memLease) Revoke(context.Context) error {
	l.m.mu.Lock()
	delete(l.m.gates, l.id)
	l.m.mu.Unlock()
	return nil
}
