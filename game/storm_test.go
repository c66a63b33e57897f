package game

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/msg"
)

// Two players gift each other from many sessions at once, through two
// workers sharing a real redis cache: every request is answered; at every
// event the gold held plus the gold in flight (debited, not yet credited)
// is the starting total, and at rest the gold held is; no balance is ever
// negative (checked at every event of a replay); each accepted gift is
// debited and credited exactly once; and a replay of each player's events
// equals what the game answers.
func TestGiftStormConservesItems(t *testing.T) {
	h := newHarness(t).withRedis()
	workers := []*Worker{h.worker(testConfig()), h.worker(testConfig())}
	const sessions, each = 8, 25
	ids := []int64{501, 502}
	for _, id := range ids {
		login(t, h.player(id, "g1"))
	}
	var ok, poor atomic.Int64
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := ids[s%2], ids[1-s%2]
			p := h.player(from, "g1")
			r := rand.New(rand.NewPCG(uint64(s), 7))
			for i := range each {
				res, err := p.sendID(&msg.GiftItems_Req{DstId: proto.Int64(to), ItemIdx: proto.Int32(gold),
					ItemNum: proto.Int32(int32(1 + r.IntN(400)))}, fmt.Sprint("storm-", i))
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
		}()
	}
	wg.Wait()
	if ok.Load()+poor.Load() != sessions*each {
		t.Fatalf("answered %d of %d", ok.Load()+poor.Load(), sessions*each)
	}
	if ok.Load() == 0 {
		t.Fatal("no gift succeeded")
	}

	// Every debit answered has begun its credit: at rest once none is in flight.
	eventually(t, "the credits", func() bool {
		for _, w := range workers {
			if n, _ := w.tr.flight(); n != 0 {
				return false
			}
		}
		return true
	})

	var total, sent int64
	var all []*events.Event
	for _, id := range ids {
		var steps int
		replayed, err := Replay(context.Background(), h.n.JS, id, ReplayOptions{Step: func(e *events.Event, u *def.User) error {
			steps++
			all = append(all, e)
			for _, it := range u.GetItems() {
				if it.GetNum() < 0 {
					return fmt.Errorf("player %d at %d holds %d of %d", id, e.Seq, it.GetNum(), it.GetIdx())
				}
			}
			if _, ok := e.Msg.(*evt.GiftSent); ok {
				sent++
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		answered := h.player(id, "g1").call(&msg.GetUser_Req{Id: proto.Int64(0)}).(*msg.GetUser_Res).GetUser()
		if !proto.Equal(replayed, answered) {
			t.Fatalf("player %d: replay %v\n != answer %v", id, replayed, answered)
		}
		total += held(&Player{User: replayed}, gold)
	}
	if total != 2000 {
		t.Fatalf("gold total = %d, want 2000", total)
	}
	if sent != ok.Load() {
		t.Fatalf("%d gifts stored, %d answered OK", sent, ok.Load())
	}
	// In stream order: held plus in flight is constant, each transfer is
	// credited once, after its debit.
	slices.SortFunc(all, func(a, b *events.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	var have, inFlight int64
	created := 0
	credited := map[string]int{}
	for _, e := range all {
		switch m := e.Msg.(type) {
		case *evt.PlayerCreated:
			have += deltaOf(m.GetItems(), gold)
			created++
		case *evt.GiftSent:
			have, inFlight = have-m.GetNum(), inFlight+m.GetNum()
			credited[m.GetTransfer()] += 0
		case *evt.GiftReceived:
			if _, debited := credited[m.GetTransfer()]; !debited {
				t.Fatalf("seq %d: credit of %q before its debit", e.Seq, m.GetTransfer())
			}
			credited[m.GetTransfer()]++
			have, inFlight = have+m.GetNum(), inFlight-m.GetNum()
		}
		if created == len(ids) && have+inFlight != 2000 {
			t.Fatalf("seq %d: %d held + %d in flight", e.Seq, have, inFlight)
		}
	}
	for id, n := range credited {
		if n != 1 {
			t.Fatalf("transfer %q credited %d times", id, n)
		}
	}
	t.Logf("%d gifts, %d refused for lack of gold", ok.Load(), poor.Load())
}

// deltaOf is the amount of idx among items.
func deltaOf(items []*evt.ItemDelta, idx int32) int64 {
	var n int64
	for _, d := range items {
		if d.GetIdx() == idx {
			n += d.GetNum()
		}
	}
	return n
}
