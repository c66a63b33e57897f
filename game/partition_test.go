package game

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/registry"
)

// playersIn returns k player ids (from base) in each of n partitions.
func playersIn(n, k int, base int64) [][]int64 {
	out := make([][]int64, n)
	for id, full := base, 0; full < n; id++ {
		p := bus.PlayerPartition(id, n)
		if len(out[p]) < k {
			if out[p] = append(out[p], id); len(out[p]) == k {
				full++
			}
		}
	}
	return out
}

// In a store of 4 partitions the projections fold every partition: the
// presence bucket has every logged-in player, the gold board every
// player, a mail to all reaches every player; and a player's state
// replays from its own partition.
func TestProjectionsReadEveryPartition(t *testing.T) {
	const n = 4
	h := &harness{t: t, n: testenv.StartNATSStore(t, bus.StoreConfig{Partitions: n}), cache: cache.NewMemory(), reg: registry.NewMemory()}
	h.worker(testConfig())
	var all []*player
	var want [][2]int64
	for p, ids := range playersIn(n, 2, 401) {
		for _, id := range ids {
			pl := h.player(id, "g1")
			login(t, pl)
			all = append(all, pl)
			want = append(want, [2]int64{id, 1000})
			st, err := ReplayState(context.Background(), h.n.JS, id, ReplayOptions{})
			if err != nil || !st.GetOnline() {
				t.Fatalf("player %d (partition %d) replays %v, %v", id, p, st, err)
			}
		}
	}
	kv, err := h.n.JS.KeyValue(context.Background(), bus.PresenceBucket)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "every player in the presence bucket", func() bool {
		for _, pl := range all {
			if _, err := kv.Get(context.Background(), strconv.FormatInt(pl.uid, 10)); err != nil {
				return false
			}
		}
		return true
	})
	eventually(t, "every player on the gold board", func() bool {
		got := rankOf(t, all[0], gold)
		return len(got) == len(want)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := SendMail(ctx, h.n.Conn, "s3cret", MailRequest{All: true, Title: "To every partition"})
	if err != nil || res.Delivered != len(all) {
		t.Fatalf("mail to all: %+v, %v; want %d delivered", res, err, len(all))
	}
}
