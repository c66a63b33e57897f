package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/internal/testenv"
)

// playersByPartition returns, for each of n partitions, the first k player
// ids (from 10001) that fall in it.
func playersByPartition(n, k int) [][]int64 {
	out := make([][]int64, n)
	for id, full := int64(10001), 0; full < n; id++ {
		p := bus.PlayerPartition(id, n)
		if len(out[p]) < k {
			out[p] = append(out[p], id)
			if len(out[p]) == k {
				full++
			}
		}
	}
	return out
}

// newPartitionedEnv is a store of n partitions with a player-kind counter repo.
func newPartitionedEnv(t *testing.T, n int, opt events.Options) *env {
	t.Helper()
	nt := testenv.StartNATSStore(t, bus.StoreConfig{Partitions: n})
	e := newEnvOn(t, nt, cache.NewMemory(), opt)
	agg := counterAgg
	agg.Kind = bus.AggPlayer
	e.repo = events.NewRepo(e.store, agg)
	return e
}

// Each player's commands (single events, several events in one atomic
// batch, concurrent commands sharing batches) are stored in its partition's
// stream only, and load back, also in a store with no cache.
func TestPartitionedAppendsAndLoads(t *testing.T) {
	const n = 4
	e := newPartitionedEnv(t, n, events.Options{SnapshotEvery: 3})
	if got := e.store.Streams(); len(got) != n || got[0] != bus.EventsStream || got[3] != bus.EventsStreamFor(3) {
		t.Fatalf("Streams() = %v", got)
	}
	players := playersByPartition(n, 3)
	var wg sync.WaitGroup
	for p, ids := range players {
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 4 {
					cmd := events.Cmd{ID: fmt.Sprintf("c%d-%d", id, i)}
					_, err := e.repo.Exec(ctx(t), cmd, []int64{id}, func([]*events.Snapshot[*counter]) []events.Emit {
						return []events.Emit{{ID: id, Event: grant(int64(p + 1))}, {ID: id, Event: grant(1)}}
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Two players of one partition in one command: one stream, one batch.
	a, b := players[2][0], players[2][1]
	if _, err := e.repo.Exec(ctx(t), events.Cmd{ID: "pair"}, []int64{a, b}, func([]*events.Snapshot[*counter]) []events.Emit {
		return []events.Emit{{ID: a, Event: use(1)}, {ID: b, Event: grant(1)}}
	}); err != nil {
		t.Fatalf("a command over one partition: %v", err)
	}
	cold := newEnvOn(t, e.n, nil, events.Options{SnapshotEvery: 3})
	agg := counterAgg
	agg.Kind = bus.AggPlayer
	coldRepo := events.NewRepo(cold.store, agg)
	for p, ids := range players {
		s, err := e.n.JS.Stream(ctx(t), bus.EventsStreamFor(p))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			want := int64(4 * (p + 2))
			switch id {
			case a:
				want--
			case b:
				want++
			}
			for _, r := range []*events.Repo[*counter]{e.repo, coldRepo} {
				st, err := r.Load(ctx(t), id)
				if err != nil || st.State.N != want {
					t.Fatalf("player %d (partition %d) loads %+v, %v; want N=%d", id, p, st, err, want)
				}
			}
			if _, err := s.GetLastMsgForSubject(ctx(t), bus.PlayerSubject(id)); err != nil {
				t.Errorf("player %d is not in %s: %v", id, bus.EventsStreamFor(p), err)
			}
		}
	}
}

// A command whose events span partitions is refused whole: nothing stored.
func TestCommandAcrossPartitionsIsRefused(t *testing.T) {
	const n = 4
	e := newPartitionedEnv(t, n, events.Options{})
	players := playersByPartition(n, 1)
	a, b := players[1][0], players[3][0]
	_, err := e.repo.Exec(ctx(t), events.Cmd{ID: "across"}, []int64{a, b}, func([]*events.Snapshot[*counter]) []events.Emit {
		return []events.Emit{{ID: a, Event: grant(1)}, {ID: b, Event: grant(1)}}
	})
	if !errors.Is(err, events.ErrCrossPartition) {
		t.Fatalf("got %v, want ErrCrossPartition", err)
	}
	for _, id := range []int64{a, b} {
		if last, err := e.store.LastSeq(context.Background(), bus.PlayerSubject(id)); err != nil || last != 0 {
			t.Errorf("player %d: last seq %d, %v; want nothing stored", id, last, err)
		}
	}
}
