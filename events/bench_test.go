package events_test

import (
	"fmt"
	"testing"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
)

// BenchmarkAppendSingle: one event on one aggregate per command (plain
// publish with expected subject sequence and Msg-Id), sequentially.
func BenchmarkAppendSingle(b *testing.B) {
	e := newEnvOn(b, nil, cache.NewMemory(), events.Options{})
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.repo.Exec(b.Context(), events.Cmd{ID: fmt.Sprint("c", i)}, []int64{1},
			func([]*events.Snapshot[*counter]) []events.Emit { return []events.Emit{{ID: 1, Event: grant(1)}} }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBatch: one event on each of two aggregates per command
// (an atomic batch), sequentially. On a single-replica file stream the
// server stages every batch in its own file store, which dominates.
func BenchmarkAppendBatch(b *testing.B) {
	e := newEnvOn(b, nil, cache.NewMemory(), events.Options{})
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.repo.Exec(b.Context(), events.Cmd{ID: fmt.Sprint("c", i)}, []int64{1, 2},
			func([]*events.Snapshot[*counter]) []events.Emit {
				return []events.Emit{{ID: 1, Event: grant(1)}, {ID: 2, Event: grant(1)}}
			}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadCached: a load answered by a current cache entry (one cache
// get plus the direct get of the subject's last sequence).
func BenchmarkLoadCached(b *testing.B) {
	e := newEnvOn(b, nil, cache.NewMemory(), events.Options{})
	for i := range 50 {
		e.repo.Exec(b.Context(), events.Cmd{ID: fmt.Sprint("c", i)}, []int64{1},
			func([]*events.Snapshot[*counter]) []events.Emit { return []events.Emit{{ID: 1, Event: grant(1)}} })
	}
	b.ReportAllocs()
	for b.Loop() {
		snap, err := e.repo.Load(b.Context(), 1)
		if err != nil || snap.State.N != 50 {
			b.Fatalf("load = %+v, %v", snap, err)
		}
	}
}

// BenchmarkLoadTail: a load with no cache and no durable snapshot, folding
// the aggregate's 50 events from the stream (batched direct gets).
func BenchmarkLoadTail(b *testing.B) {
	e := newEnvOn(b, nil, nil, events.Options{SnapshotEvery: -1})
	for i := range 50 {
		e.repo.Exec(b.Context(), events.Cmd{ID: fmt.Sprint("c", i)}, []int64{1},
			func([]*events.Snapshot[*counter]) []events.Emit { return []events.Emit{{ID: 1, Event: grant(1)}} })
	}
	b.ReportAllocs()
	for b.Loop() {
		snap, err := e.repo.Load(b.Context(), 1)
		if err != nil || snap.State.N != 50 {
			b.Fatalf("load = %+v, %v", snap, err)
		}
	}
}
