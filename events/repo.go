package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
)

// Aggregate describes one kind of aggregate to the store: how to start its
// state, fold an event into it, and (de)serialize it for snapshots.
type Aggregate[S any] struct {
	// Kind is the second token of its subjects (bus.AggPlayer).
	Kind string
	// Init returns the state of an aggregate with no events.
	Init func(id int64) S
	// Apply folds one event into the state and returns the next state. It must
	// be pure (same events, same state); it may modify s in place.
	Apply func(s S, e *Event) (S, error)
	// Marshal and Unmarshal serialize the state for snapshots.
	Marshal   func(S) ([]byte, error)
	Unmarshal func([]byte) (S, error)
	// Clone returns a copy of a state that Apply may change without
	// changing the original (parts Apply only ever replaces may be
	// shared). Optional: without it a copy is
	// made by Marshal and Unmarshal. An in-process cache (cache.Values)
	// hands out the state it holds to every reader, so a command folds its
	// events into a copy.
	Clone func(S) S
}

// Repo loads and changes aggregates of one kind.
type Repo[S any] struct {
	s      *Store
	agg    Aggregate[S]
	values cache.Values // the store's cache when it keeps values as they are
}

// NewRepo returns the repository of one aggregate kind on the store.
func NewRepo[S any](s *Store, agg Aggregate[S]) *Repo[S] {
	if agg.Kind == "" || agg.Init == nil || agg.Apply == nil || agg.Marshal == nil || agg.Unmarshal == nil {
		panic("events: NewRepo needs Kind, Init, Apply, Marshal and Unmarshal")
	}
	r := &Repo[S]{s: s, agg: agg}
	r.values, _ = s.cache.(cache.Values)
	return r
}

// Store returns the store the repo runs on.
func (r *Repo[S]) Store() *Store { return r.s }

// Subject is the event subject of aggregate id.
func (r *Repo[S]) Subject(id int64) string { return bus.EventSubject(r.agg.Kind, id) }

// Load returns the current state of aggregate id: the newest snapshot (the
// cache if it is not ahead of the stream, else the durable one) plus the
// events after it. An aggregate with no events loads as Init(id), version 0.
// A cache entry found behind is repaired. The snapshot may be the cache's
// own (cache.Values): callers read it and never change it.
func (r *Repo[S]) Load(ctx context.Context, id int64) (*Snapshot[S], error) {
	subj := r.Subject(id)
	// The cache is read before the last sequence: a snapshot written by
	// another worker between the two reads is then never ahead of it.
	cached := r.cacheSnap(ctx, id)
	last, err := r.s.LastSeq(ctx, subj)
	if err != nil {
		return nil, err
	}
	if cached != nil && cached.Version > last {
		// A cache entry past the direct get's answer is either a lagging
		// replica's answer (R3) or a store reset under a surviving cache:
		// the leader tells which.
		if last, err = r.s.LeaderLastSeq(ctx, subj); err != nil {
			return nil, err
		}
	}
	if last == 0 {
		return r.fresh(id), nil
	}
	snap := cached
	if snap != nil && snap.Version > last {
		// Ahead of the stream (a store that was reset under a surviving
		// cache): never trust it.
		r.s.opt.Logger.Warn("events: ignoring cached snapshot", "subject", subj,
			"err", fmt.Sprintf("snapshot at %d is ahead of the stream at %d", snap.Version, last))
		snap = nil
	}
	if snap != nil && snap.Version == last {
		r.s.st.hits.Add(1)
		return snap, nil
	}
	if snap != nil && r.values != nil {
		snap = r.clone(snap) // the cache's own: the tail is folded into a copy
	} else if snap == nil {
		snap = r.fromKV(ctx, id, last)
	}
	if snap == nil {
		snap = r.fresh(id)
	}
	n, err := r.foldTail(ctx, snap)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		r.s.st.repairs.Add(1)
		r.writeCache(ctx, snap)
	}
	return snap, nil
}

// Exists reports whether aggregate id has any event (one direct get).
func (r *Repo[S]) Exists(ctx context.Context, id int64) (bool, error) {
	last, err := r.s.LastSeq(ctx, r.Subject(id))
	return last > 0, err
}

func (r *Repo[S]) fresh(id int64) *Snapshot[S] {
	return &Snapshot[S]{ID: id, State: r.agg.Init(id)}
}

// foldTail applies the events after snap.Version and returns how many it applied.
func (r *Repo[S]) foldTail(ctx context.Context, snap *Snapshot[S]) (int, error) {
	n := 0
	err := r.s.Read(ctx, r.Subject(snap.ID), snap.Version+1, func(e *Event) (bool, error) {
		if err := r.apply(snap, e); err != nil {
			return false, err
		}
		n++
		return true, nil
	})
	return n, err
}

// apply folds one event into the snapshot and its bookkeeping.
func (r *Repo[S]) apply(snap *Snapshot[S], e *Event) error {
	st, err := r.agg.Apply(snap.State, e)
	if err != nil {
		return fmt.Errorf("events: apply %s seq %d (%s): %w", e.Subject, e.Seq, e.Type, err)
	}
	snap.State = st
	snap.Version = e.Seq
	snap.Count++
	snap.remember(e.Cmd, r.s.opt.RecentCmds)
	return nil
}

func (r *Repo[S]) decode(raw rawSnapshot, id int64, last uint64) (*Snapshot[S], error) {
	if raw.id != id || raw.version > last {
		// Written for another aggregate, or ahead of the stream (a store
		// that was reset under a surviving cache): never trust it.
		return nil, fmt.Errorf("events: snapshot of %d at %d does not fit %d at %d", raw.id, raw.version, id, last)
	}
	st, err := r.agg.Unmarshal(raw.state)
	if err != nil {
		return nil, err
	}
	return &Snapshot[S]{ID: id, State: st, Version: raw.version, Recent: raw.recent, Count: raw.count, Durable: raw.durable}, nil
}

func (r *Repo[S]) encode(snap *Snapshot[S]) ([]byte, error) {
	st, err := r.agg.Marshal(snap.State)
	if err != nil {
		return nil, err
	}
	return encodeSnapshot(snap.ID, st, snap.Version, snap.Recent, snap.Count, snap.Durable), nil
}

// cacheSnap returns the cached snapshot of aggregate id, or nil: the
// cache's own value (cache.Values), or the bytes decoded. An entry that
// does not parse or belongs to another aggregate is ignored, with a warning.
func (r *Repo[S]) cacheSnap(ctx context.Context, id int64) *Snapshot[S] {
	if r.s.cache == nil {
		return nil
	}
	key := r.s.cacheKey(r.Subject(id))
	if r.values != nil {
		v, _ := r.values.GetValue(key)
		if snap, ok := v.(*Snapshot[S]); ok && snap.ID == id {
			return snap
		}
		return nil
	}
	b, err := r.s.cache.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, cache.ErrMiss) {
			r.s.opt.Logger.Warn("events: cache get", "key", key, "err", err)
		}
		return nil
	}
	raw, err := decodeSnapshot(b)
	return r.check(raw, err, "cached", key, id, raw.version)
}

// clone returns a copy of snap that a command may fold events into.
func (r *Repo[S]) clone(snap *Snapshot[S]) *Snapshot[S] {
	cp := *snap
	cp.Recent = slices.Clone(snap.Recent)
	if r.agg.Clone != nil {
		cp.State = r.agg.Clone(snap.State)
		return &cp
	}
	b, err := r.agg.Marshal(snap.State)
	if err == nil {
		cp.State, err = r.agg.Unmarshal(b)
	}
	if err != nil {
		// Marshal and Unmarshal of a state that came from them: a bug.
		panic(fmt.Sprintf("events: copy of %s %d: %v", r.agg.Kind, snap.ID, err))
	}
	return &cp
}

// check returns a decoded snapshot (decodeSnapshot's result) if it parsed
// and fits aggregate id at last.
func (r *Repo[S]) check(raw rawSnapshot, err error, what, subj string, id int64, last uint64) *Snapshot[S] {
	var snap *Snapshot[S]
	if err == nil {
		snap, err = r.decode(raw, id, last)
	}
	if err != nil {
		r.s.opt.Logger.Warn("events: ignoring "+what+" snapshot", "subject", subj, "err", err)
		return nil
	}
	return snap
}

func (r *Repo[S]) kvKey(id int64) string { return r.agg.Kind + "." + strconv.FormatInt(id, 10) }

func (r *Repo[S]) fromKV(ctx context.Context, id int64, last uint64) *Snapshot[S] {
	if r.s.kv == nil {
		return nil
	}
	e, err := r.s.kv.Get(ctx, r.kvKey(id))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			r.s.opt.Logger.Warn("events: snapshot get", "key", r.kvKey(id), "err", err)
		}
		return nil
	}
	raw, rawErr := decodeSnapshot(e.Value())
	if rawErr == nil && raw.version > last {
		// Written after our read of the last sequence: read it again.
		if last, err = r.s.LastSeq(ctx, r.Subject(id)); err != nil {
			return nil
		}
	}
	return r.check(raw, rawErr, "durable", r.kvKey(id), id, last)
}

// writeCache stores the snapshot in the cache; failures only cost a longer
// load later, so they are logged, not returned. An in-process cache keeps
// snap itself, which nobody changes after this.
func (r *Repo[S]) writeCache(ctx context.Context, snap *Snapshot[S]) {
	if r.s.cache == nil {
		return
	}
	key := r.s.cacheKey(r.Subject(snap.ID))
	if r.values != nil {
		r.values.SetValue(key, snap, r.s.opt.CacheTTL)
		return
	}
	b, err := r.encode(snap)
	if err == nil {
		err = r.s.cache.Set(ctx, key, b, r.s.opt.CacheTTL)
	}
	if err != nil {
		r.s.opt.Logger.Warn("events: cache set", "key", key, "err", err)
	}
}

// SaveSnapshot writes a durable snapshot of snap now (e.g. at logout) and
// refreshes the cache with it.
func (r *Repo[S]) SaveSnapshot(ctx context.Context, snap *Snapshot[S]) error {
	if r.s.kv == nil || !snap.Exists() {
		return nil
	}
	saved := *snap // snap may be the cache's own: it stays as it is
	saved.Durable = saved.Count
	b, err := r.encode(&saved)
	if err == nil {
		_, err = r.s.kv.Put(ctx, r.kvKey(snap.ID), b)
	}
	if err != nil {
		return fmt.Errorf("events: durable snapshot %s: %w", r.kvKey(snap.ID), err)
	}
	r.s.st.durable.Add(1)
	r.writeCache(ctx, &saved)
	return nil
}

// afterCommit writes the snapshots of the aggregates a command changed: a
// durable one when enough events passed, and the cache always.
func (r *Repo[S]) afterCommit(ctx context.Context, snap *Snapshot[S]) {
	if r.s.kv != nil && snap.Count-snap.Durable >= uint64(r.s.opt.SnapshotEvery) {
		if err := r.SaveSnapshot(ctx, snap); err != nil {
			r.s.opt.Logger.Warn("events: durable snapshot", "err", err)
		} else {
			return // SaveSnapshot refreshed the cache
		}
	}
	r.writeCache(ctx, snap)
}

// Cached returns the cached snapshot of aggregate id as a command may
// start from it, without asking the stream: nil when nothing usable is
// cached. It may be behind the stream (another process wrote since), which
// the append's expected sequence finds out.
func (r *Repo[S]) Cached(ctx context.Context, id int64) *Snapshot[S] {
	snap := r.Peek(ctx, id)
	if snap != nil {
		r.s.st.hits.Add(1)
	}
	return snap
}

// Peek returns the cached snapshot of aggregate id as it is, without
// checking it against the stream: a past state, possibly behind the
// stream, never ahead of what was stored. It suits facts that stay true
// once true; nil when nothing usable is cached.
func (r *Repo[S]) Peek(ctx context.Context, id int64) *Snapshot[S] {
	return r.cacheSnap(ctx, id)
}
