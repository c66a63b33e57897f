package events_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
)

// BenchmarkAppendSingle: one event on one aggregate per command (plain
// publish with expected subject sequence and Msg-Id), sequentially.
func BenchmarkAppendSingle(b *testing.B) {
	e := newEnvOn(b, nil, cache.NewMemory(), events.DefaultOptions())
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
	e := newEnvOn(b, nil, cache.NewMemory(), events.DefaultOptions())
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
	e := newEnvOn(b, nil, cache.NewMemory(), events.DefaultOptions())
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
	e := newEnvOn(b, nil, nil, events.Options{})
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

// BenchmarkGiftPairs: two-aggregate commands (a gift's shape) between random
// pairs of 200 aggregates from 64 goroutines, so commands conflict now and
// then, as in `hive bench --scenario gift`. "alone" sends one atomic batch
// per command (at most 64 in flight); "grouped" is the default group commit
// (group.go), where commands waiting at the same moment share a batch, one
// batch in flight at a time; "grouped-2-flights" allows two.
//
//	go test ./events -run '^$' -bench GiftPairs -count 5
func BenchmarkGiftPairs(b *testing.B) {
	for _, mode := range []struct {
		name string
		opt  events.Options // SnapshotEvery 0: no durable snapshots
	}{
		{"alone", events.Options{BatchMaxMsgs: 2, BatchFlights: 64}},
		{"grouped", events.Options{}},
		{"grouped-2-flights", events.Options{BatchFlights: 2}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			e := newEnvOn(b, nil, cache.NewMemory(), mode.opt)
			var seq atomic.Int64
			before := e.store.Stats()
			parallel(b, 64, func(next func() bool) {
				for next() {
					n := seq.Add(1)
					from := rand.Int64N(200) + 1
					to := (from+rand.Int64N(199))%200 + 1
					ids := []int64{from, to}
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					_, err := e.repo.Exec(ctx, events.Cmd{ID: "g" + strconv.FormatInt(n, 10)}, ids,
						func([]*events.Snapshot[*counter]) []events.Emit {
							return []events.Emit{{ID: from, Event: grant(1)}, {ID: to, Event: grant(1)}}
						})
					cancel()
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			after := e.store.Stats()
			b.ReportMetric(float64(after.Conflicts-before.Conflicts)/float64(b.N), "conflicts/op")
			b.ReportMetric(float64(after.BatchedCmds-before.BatchedCmds)/float64(max(1, after.Batches-before.Batches)), "cmds/batch")
		})
	}
}
