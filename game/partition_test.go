package game

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/msg"
)

// newPartitionedHarness is newHarness on a store of n partitions.
func newPartitionedHarness(t *testing.T, n int) *harness {
	t.Helper()
	return newHarnessOn(t, testenv.StartNATSStore(t, bus.StoreConfig{Partitions: n}))
}

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
	h := newPartitionedHarness(t, n)
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

// Gifts between players of different partitions (a debit in one stream, its
// credit in another), from many sessions through two workers: at rest the
// gold held is the starting total, no balance is ever negative, every
// accepted gift is debited once and credited once.
func TestGiftsAcrossPartitionsConserveGold(t *testing.T) {
	const n = 4
	h := newPartitionedHarness(t, n)
	var ids []int64
	for _, in := range playersIn(n, 1, 601) {
		ids = append(ids, in[0])
	}
	giftAcross(t, h, n, ids, 8, 15)
}

// giftAcross logs ids in (players of n partitions), starts two workers and
// has sessions sessions each send each gifts of gold to a player of another
// partition, at once; then it waits until every gift is settled and checks
// the replayed events: no balance ever negative, the gold held is the
// starting total, every gift answered OK stored once and credited once.
func giftAcross(t *testing.T, h *harness, n int, ids []int64, sessions, each int) {
	t.Helper()
	workers := []*Worker{h.worker(testConfig()), h.worker(testConfig())}
	for _, id := range ids {
		login(t, h.player(id, "g1"))
	}
	var ok, poor atomic.Int64
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Go(func() {
			// The next player of another partition, further on for later
			// sessions, so each partition both sends and receives.
			from, k := ids[s%len(ids)], 1+s/len(ids)
			for bus.PlayerPartition(ids[(s+k)%len(ids)], n) == bus.PlayerPartition(from, n) {
				k++
			}
			to := ids[(s+k)%len(ids)]
			p := h.player(from, "g1")
			for i := range each {
				res, err := p.sendID(&msg.GiftItems_Req{DstId: proto.Int64(to), ItemIdx: proto.Int32(gold),
					ItemNum: proto.Int32(int32(1 + (s*31+i*17)%300))}, fmt.Sprint("across-", s, "-", i))
				if err != nil {
					t.Error(err)
					return
				}
				switch code(res) {
				case def.ResCode_RC_OK:
					ok.Add(1)
				case def.ResCode_RC_ITEM_NOT_ENOUGH:
					poor.Add(1)
				default:
					t.Errorf("gift answered %v", res)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load()+poor.Load() != int64(sessions*each) || ok.Load() == 0 {
		t.Fatalf("answered %d ok + %d poor of %d", ok.Load(), poor.Load(), sessions*each)
	}
	eventually(t, "the credits", func() bool {
		for _, w := range workers {
			if f, _ := w.tr.flight(); f != 0 {
				return false
			}
		}
		return true
	})
	var total, sent int64
	credited := map[string]int{}
	returned := 0
	for _, id := range ids {
		replayed, err := Replay(context.Background(), h.n.JS, id, ReplayOptions{Step: func(e *events.Event, u *def.User) error {
			for _, it := range u.GetItems() {
				if it.GetNum() < 0 {
					return fmt.Errorf("player %d at %d holds %d of %d", id, e.Seq, it.GetNum(), it.GetIdx())
				}
			}
			switch m := e.Msg.(type) {
			case *evt.GiftSent:
				sent++
				credited[m.GetTransfer()] += 0
			case *evt.GiftReceived:
				credited[m.GetTransfer()]++
			case *evt.GiftReturned:
				returned++
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		total += held(&Player{User: replayed}, gold)
	}
	if want := int64(1000 * len(ids)); total != want {
		t.Fatalf("gold total = %d, want %d", total, want)
	}
	if sent != ok.Load() {
		t.Fatalf("%d gifts stored, %d answered OK", sent, ok.Load())
	}
	if returned != 0 {
		t.Fatalf("%d gifts returned to a sender: every receiver exists", returned)
	}
	for tr, c := range credited {
		if c != 1 {
			t.Fatalf("transfer %q credited %d times", tr, c)
		}
	}
	t.Logf("%d gifts across partitions, %d refused for lack of gold", ok.Load(), poor.Load())
}
