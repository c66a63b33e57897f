package game

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
)

// rankOf returns the (user id, value) pairs of GetRank, in order.
func rankOf(t *testing.T, p *player, idx int32) [][2]int64 {
	t.Helper()
	res := p.call(&msg.GetRank_Req{Type: proto.Int32(idx)}).(*msg.GetRank_Res)
	if code(res) != def.ResCode_RC_OK || res.GetRank().GetType() != idx {
		t.Fatalf("GetRank = %v", res)
	}
	var out [][2]int64
	for i, it := range res.GetRank().GetItems() {
		if it.GetRank() != int32(i+1) {
			t.Fatalf("rank %d numbered %d", i+1, it.GetRank())
		}
		out = append(out, [2]int64{it.GetUser().GetId(), it.GetVal()})
	}
	return out
}

func same(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLeaderboardProjection(t *testing.T) {
	h := newHarness(t).withRedis()
	w := h.worker(testConfig())
	ps := []*player{h.player(21, "g1"), h.player(22, "g1"), h.player(23, "g1")}
	for _, p := range ps {
		login(t, p)
	}
	gift := func(from *player, to int64, n int32) {
		if res := from.call(&msg.GiftItems_Req{DstId: proto.Int64(to), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(n)}); code(res) != def.ResCode_RC_OK {
			t.Fatal(res)
		}
	}
	gift(ps[0], 22, 300) // 21: 700, 22: 1300, 23: 1000
	gift(ps[2], 22, 50)  // 22: 1350, 23: 950
	want := [][2]int64{{22, 1350}, {23, 950}, {21, 700}}
	eventually(t, "the gold leaderboard", func() bool { return same(rankOf(t, ps[0], gold), want) })
	if res := ps[0].call(&msg.GetRank_Req{Type: proto.Int32(7)}); code(res) != def.ResCode_RC_ITEM_INVALID {
		t.Fatalf("rank of an unknown item = %v", res)
	}
	if got := rankOf(t, ps[0], card); len(got) != 0 {
		t.Fatalf("card leaderboard = %v, want empty", got)
	}
	// The names in the board are the players' current ones.
	ps[1].call(rename("Rich"))
	eventually(t, "the renamed leader", func() bool {
		res := ps[0].call(&msg.GetRank_Req{Type: proto.Int32(gold)}).(*msg.GetRank_Res)
		return res.GetRank().GetItems()[0].GetUser().GetName() == "Rich"
	})

	// A damaged board (lost or wrong cache entries) is rebuilt from the stream.
	ctx := context.Background()
	h.cache.ZAdd(ctx, RankKey(gold), "21", 99999)
	h.cache.ZAdd(ctx, RankKey(gold), "9999", 5000) // no such player
	if err := w.RebuildRanks(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rebuilt leaderboard", func() bool { return same(rankOf(t, ps[0], gold), want) })
}

func TestLostGateLogsItsPlayersOut(t *testing.T) {
	h := newHarness(t)
	lease, err := h.reg.Register(context.Background(), registry.Gate{ID: "gA", Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	h.reg.Register(context.Background(), registry.Gate{ID: "gB", Addr: "127.0.0.1:2"})
	cfg := testConfig()
	h.worker(cfg)
	onA, onB := h.player(31, "gA"), h.player(32, "gB")
	login(t, onA)
	login(t, onB)
	online := func(id int64) bool {
		st, err := ReplayState(context.Background(), h.n.JS, id, ReplayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return st.GetOnline()
	}
	// Wait until the presence projection has both logins: a sweep then
	// has seen both gates live.
	eventually(t, "presence of both players", func() bool {
		kv, _ := h.n.JS.KeyValue(context.Background(), "presence")
		_, e1 := kv.Get(context.Background(), "31")
		_, e2 := kv.Get(context.Background(), "32")
		return e1 == nil && e2 == nil
	})
	// And until a sweep has seen them on their live gates.
	after := sweepsDone.Load() + 2
	eventually(t, "a sweep", func() bool { return sweepsDone.Load() >= after })
	if err := lease.Revoke(context.Background()); err != nil { // gate A dies
		t.Fatal(err)
	}
	eventually(t, "player on the lost gate logged out", func() bool { return !online(31) })
	if !online(32) {
		t.Fatal("a player on a live gate was logged out")
	}
	st, _ := ReplayState(context.Background(), h.n.JS, 31, ReplayOptions{})
	if st.GetGate() != "" {
		t.Fatalf("state after gate loss: %v", st)
	}
}

func TestGateNeverSeenIsLostAfterGrace(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	cfg.GateGrace = 200 * cfg.PresenceInterval / 50 // 200ms
	h.worker(cfg)
	p := h.player(41, "ghost")
	login(t, p)
	eventually(t, "player on a gate that never registered logged out", func() bool {
		st, err := ReplayState(context.Background(), h.n.JS, 41, ReplayOptions{})
		return err == nil && !st.GetOnline()
	})
}
