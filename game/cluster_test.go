package game

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
)

// On the production store (a three-node NATS cluster with identities and
// permissions, 4 partition streams at R3), 8 players spread over the 4
// partitions gift each other from 8 sessions at once (200 gifts) through
// two workers: every gift crosses partitions; at rest the gold held is
// the starting total, no balance is ever negative, every accepted gift is
// stored once and credited exactly once and none is returned; and the
// partitions' stream leaders are not all on one node.
func TestClusterGiftsAcrossPartitionsConserveGold(t *testing.T) {
	if testing.Short() {
		t.Skip("three-node cluster")
	}
	const n = 4
	nt := testenv.StartNATSClusterStore(t, n)
	h := newHarnessOn(t, nt)
	var ids []int64
	for _, in := range playersIn(n, 2, 701) {
		ids = append(ids, in...)
	}
	giftAcross(t, h, n, ids, 8, 25)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leaders := make([]string, n)
	for p := range n {
		st, err := nt.JS.Stream(ctx, bus.EventsStreamFor(p))
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil {
			t.Fatalf("%s: %+v, %v", bus.EventsStreamFor(p), info, err)
		}
		leaders[p] = info.Cluster.Leader
	}
	t.Logf("partition stream leaders: %v", leaders)
	if len(slices.Compact(slices.Sorted(slices.Values(leaders)))) == 1 {
		t.Fatalf("every partition led by %s", leaders[0])
	}
}
