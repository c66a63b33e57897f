package events_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/internal/testenv"
)

// On a 3-node cluster with 4 partitions at R3: every partition stream is
// replicated on the three nodes, their leaders are not all on one node,
// and players of every partition append concurrently and load back, with
// and without a cache.
func TestPartitionsOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	const n = 4
	nt := testenv.StartNATSClusterStore(t, n)
	ctx := context.Background()
	leaders := map[string][]string{}
	for p := range n {
		s, err := nt.JS.Stream(ctx, bus.EventsStreamFor(p))
		if err != nil {
			t.Fatal(err)
		}
		info := s.CachedInfo()
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("%s: replicas %d, cluster %+v", info.Config.Name, info.Config.Replicas, info.Cluster)
		}
		leaders[info.Cluster.Leader] = append(leaders[info.Cluster.Leader], info.Config.Name)
	}
	t.Logf("stream leaders after EnsureStore: %v", leaders)
	if spread := leaderCounts(t, nt, n); maxOf(spread) > 2 {
		t.Errorf("leaders after EnsureStore: %v, want at most 2 a node", spread)
	}
	// All four on one node (what a random election may give), then spread.
	for p := range n {
		if leaders["n0"] != nil && slices.Contains(leaders["n0"], bus.EventsStreamFor(p)) {
			continue
		}
		req := []byte(`{"placement":{"preferred":"n0"}}`)
		if _, err := nt.Conn.Request("$JS.API.STREAM.LEADER.STEPDOWN."+bus.EventsStreamFor(p), req, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitLeaders(t, nt, n, func(c map[string]int) bool { return c["n0"] == n })
	moved, err := bus.SpreadLeaders(ctx, nt.JS)
	if err != nil || moved != 2 {
		t.Fatalf("SpreadLeaders moved %d, %v; want 2 (n0 keeps 2 of 4)", moved, err)
	}
	waitLeaders(t, nt, n, func(c map[string]int) bool { return maxOf(c) <= 2 && len(c) >= 2 })

	store, err := events.NewStore(ctx, nt.JS, cache.NewMemory(), events.Options{SnapshotEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	agg := counterAgg
	agg.Kind = bus.AggPlayer
	repo := events.NewRepo(store, agg)
	players := playersByPartition(n, 4)
	var wg sync.WaitGroup
	for _, ids := range players {
		for _, id := range ids {
			wg.Go(func() {
				for i := range 6 {
					if _, err := repo.Exec(ctx, events.Cmd{ID: fmt.Sprintf("g%d-%d", id, i)}, []int64{id}, func([]*events.Snapshot[*counter]) []events.Emit {
						return []events.Emit{{ID: id, Event: grant(id % 7)}}
					}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	cold, err := events.NewStore(ctx, nt.JS, nil, events.Options{SnapshotEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	coldRepo := events.NewRepo(cold, agg)
	var total uint64
	for p, ids := range players {
		for _, id := range ids {
			// The cold store reads by direct get, which any replica of an R3
			// stream may answer, and a follower may be a moment behind the
			// leader's ack: it must catch up, not hold the right count at once.
			for _, r := range []*events.Repo[*counter]{repo, coldRepo} {
				deadline := time.Now().Add(10 * time.Second)
				for {
					st, err := r.Load(ctx, id)
					if err == nil && st.State.N == 6*(id%7) {
						break
					}
					if r == repo || time.Now().After(deadline) {
						t.Fatalf("player %d (partition %d): %+v, %v; want N=%d", id, p, st, err, 6*(id%7))
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
		s, err := nt.JS.Stream(ctx, bus.EventsStreamFor(p))
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.PlayerEventsWildcard))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) != len(ids) {
			t.Errorf("%s holds %d players, want its %d", bus.EventsStreamFor(p), len(info.State.Subjects), len(ids))
		}
		total += info.State.Msgs
	}
	if total != uint64(n*4*6) {
		t.Errorf("the partitions hold %d events, want %d", total, n*4*6)
	}
}

// leaderCounts is how many of the n partitions' streams each node leads.
func leaderCounts(t *testing.T, nt *testenv.NATS, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for p := range n {
		s, err := nt.JS.Stream(context.Background(), bus.EventsStreamFor(p))
		if err != nil {
			continue // mid-election: the count falls short, the caller asks again
		}
		if c := s.CachedInfo().Cluster; c != nil && c.Leader != "" {
			out[c.Leader]++
		}
	}
	return out
}

func maxOf(c map[string]int) int {
	m := 0
	for _, v := range c {
		m = max(m, v)
	}
	return m
}

// waitLeaders waits until the leader counts satisfy ok (elections take
// moments; the deadline only bounds a failing test).
func waitLeaders(t *testing.T, nt *testenv.NATS, n int, ok func(map[string]int) bool) {
	t.Helper()
	var c map[string]int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c = leaderCounts(t, nt, n); ok(c) && sum(c) == n {
			return
		}
	}
	t.Fatalf("stream leaders stayed %v", c)
}

func sum(c map[string]int) int {
	s := 0
	for _, v := range c {
		s += v
	}
	return s
}
