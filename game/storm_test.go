package game

import (
	"context"
	"fmt"
	"math/rand/v2"
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
// workers sharing a real redis cache: every request is answered, the total
// of gold never changes, no balance is ever negative (checked at every event
// of a replay), each accepted gift is stored exactly once, and a replay of
// each player's events equals what the game answers.
func TestGiftStormConservesItems(t *testing.T) {
	h := newHarness(t).withRedis()
	h.worker(testConfig())
	h.worker(testConfig())
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

	var total, sent int64
	for _, id := range ids {
		var steps int
		replayed, err := Replay(context.Background(), h.n.JS, id, ReplayOptions{Step: func(e *events.Event, u *def.User) error {
			steps++
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
	t.Logf("%d gifts, %d refused for lack of gold", ok.Load(), poor.Load())
}
