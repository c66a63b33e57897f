package game

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
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
	eventually(t, "the gold leaderboard", func() bool {
		// Not ready yet on a worker just started; the receiver's credit may still be on its way.
		res := ps[0].call(&msg.GetRank_Req{Type: proto.Int32(gold)})
		return code(res) != def.ResCode_RC_RANK_NOT_READY && same(rankOf(t, ps[0], gold), want)
	})
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

// restartCase gifts between three players and waits for the gold board;
// it returns the players and the board expected.
func rankCase(t *testing.T, h *harness, base int64) ([]*player, [][2]int64) {
	t.Helper()
	ps := []*player{h.player(base+1, "g1"), h.player(base+2, "g1"), h.player(base+3, "g1")}
	for _, p := range ps {
		login(t, p)
	}
	for _, g := range []struct {
		from *player
		to   int64
		n    int32
	}{{ps[0], base + 2, 300}, {ps[2], base + 2, 50}} {
		res := g.from.call(&msg.GiftItems_Req{DstId: proto.Int64(g.to), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(g.n)})
		if code(res) != def.ResCode_RC_OK {
			t.Fatal(res)
		}
	}
	want := [][2]int64{{base + 2, 1350}, {base + 3, 950}, {base + 1, 700}}
	eventually(t, "the gold leaderboard", func() bool {
		// Not ready yet on a worker just started; the receiver's credit may still be on its way.
		res := ps[0].call(&msg.GetRank_Req{Type: proto.Int32(gold)})
		return code(res) != def.ResCode_RC_RANK_NOT_READY && same(rankOf(t, ps[0], gold), want)
	})
	return ps, want
}

// A restart of the game worker with a new in-process cache (what `hive dev`
// does on the same data dir) keeps the leaderboards: they are rebuilt from
// the stream, not read back from the durable consumer's position.
func TestLeaderboardSurvivesRestartWithNewCache(t *testing.T) {
	h := newHarness(t)
	w := h.worker(testConfig())
	ps, want := rankCase(t, h, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	h.cache = cache.NewMemory()
	h.worker(testConfig())
	eventually(t, "the leaderboard after a restart", func() bool {
		res := ps[0].call(&msg.GetRank_Req{Type: proto.Int32(gold)}).(*msg.GetRank_Res)
		switch code(res) {
		case def.ResCode_RC_RANK_NOT_READY:
			return false
		case def.ResCode_RC_OK:
			return same(rankOf(t, ps[0], gold), want)
		}
		t.Fatalf("GetRank after restart = %v", res)
		return false
	})
}

// rankAnswer asks for the gold board and fails the test on anything but
// the full board want or RC_RANK_NOT_READY: never an empty or partial list.
func rankAnswer(t *testing.T, p *player, want [][2]int64) bool {
	t.Helper()
	res := p.call(&msg.GetRank_Req{Type: proto.Int32(gold)}).(*msg.GetRank_Res)
	switch code(res) {
	case def.ResCode_RC_RANK_NOT_READY:
		if len(res.GetRank().GetItems()) != 0 {
			t.Fatalf("RANK_NOT_READY with a board: %v", res)
		}
		return false
	case def.ResCode_RC_OK:
		var got [][2]int64
		for _, it := range res.GetRank().GetItems() {
			got = append(got, [2]int64{it.GetUser().GetId(), it.GetVal()})
		}
		if !same(got, want) {
			t.Fatalf("GetRank = %v, want %v or RC_RANK_NOT_READY", got, want)
		}
		return true
	}
	t.Fatalf("GetRank = %v", res)
	return false
}

// A flushed redis (lost with the boards: the position stored beside them)
// is noticed by the leader and the boards are rebuilt from the stream;
// meanwhile rank queries answer RC_RANK_NOT_READY, never an empty list.
func TestLeaderboardRebuiltAfterRedisFlush(t *testing.T) {
	h := newHarness(t).withRedis()
	h.worker(testConfig())
	ps, want := rankCase(t, h, 60)
	if err := h.redis.Client.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(rankTTL) // past the worker's memo of the board
	eventually(t, "the leaderboard after a flush", func() bool { return rankAnswer(t, ps[0], want) })
	// The next change lands on the rebuilt board.
	if res := ps[1].call(&msg.GiftItems_Req{DstId: proto.Int64(61), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1000)}); code(res) != def.ResCode_RC_OK {
		t.Fatal(res)
	}
	want = [][2]int64{{61, 1700}, {63, 950}, {62, 350}}
	eventually(t, "the leaderboard after a gift", func() bool { return same(rankOf(t, ps[0], gold), want) })
}

// With the boards missing or mid-rebuild, a rank query answers
// RC_RANK_NOT_READY (no leader runs here, so the state stays as set).
func TestRankQueryDuringRebuild(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	cfg.Projections = false
	h.worker(cfg)
	p := h.player(71, "g1")
	login(t, p)
	ask := func() def.ResCode {
		return code(p.call(&msg.GetRank_Req{Type: proto.Int32(gold)}))
	}
	if rc := ask(); rc != def.ResCode_RC_RANK_NOT_READY {
		t.Fatalf("rank with no boards = %v, want RC_RANK_NOT_READY", rc)
	}
	ctx := context.Background()
	h.cache.Set(ctx, RankStateKey, rankPos{seqs: []uint64{3}, pending: 10}.encode(), 0)
	h.cache.ZAdd(ctx, RankKey(gold), "71", 1000)
	if rc := ask(); rc != def.ResCode_RC_RANK_NOT_READY {
		t.Fatalf("rank during a rebuild = %v, want RC_RANK_NOT_READY", rc)
	}
	h.cache.Set(ctx, RankStateKey, rankPos{ready: true, seqs: []uint64{3}}.encode(), 0)
	if got := rankOf(t, p, gold); !same(got, [][2]int64{{71, 1000}}) {
		t.Fatalf("rank when ready = %v", got)
	}
}

// A cache restored from an older copy (redis restarted from an earlier
// dump: position and boards both older) is noticed by the idle leader and
// caught up from that position, without a rebuild from the first event.
func TestLeaderboardCatchesUpAnOlderCache(t *testing.T) {
	h := newHarness(t)
	h.worker(testConfig())
	ps, want := rankCase(t, h, 80)
	ctx := context.Background()
	// The boards as they were after the first event, gifts not yet folded.
	h.cache.Delete(ctx, RankKey(gold))
	h.cache.ZAddMany(ctx, RankKey(gold), []cache.Scored{{Member: "81", Score: 1000}})
	h.cache.Set(ctx, RankStateKey, rankPos{ready: true, seqs: []uint64{1}}.encode(), 0)
	time.Sleep(rankTTL) // past the worker's memo of the board
	eventually(t, "the caught-up leaderboard", func() bool {
		res := ps[0].call(&msg.GetRank_Req{Type: proto.Int32(gold)}).(*msg.GetRank_Res)
		if code(res) != def.ResCode_RC_OK {
			t.Fatalf("GetRank of an older board = %v, want what it knows", res)
		}
		return same(rankOf(t, ps[0], gold), want)
	})
	if b, _ := h.cache.Get(ctx, RankStateKey); string(b) == "ready 1" {
		t.Fatalf("position not advanced: %s", b)
	}
}

// The projections read the event stream unfiltered: an account event among
// the players' is passed over (acknowledged, unread), and the boards and
// presence fold what follows it.
func TestProjectionsPassOverAccountEvents(t *testing.T) {
	h := newHarness(t)
	h.worker(testConfig())
	ctx := context.Background()
	account := func() {
		t.Helper()
		// Not a type the game knows: decoding it would fail.
		if _, err := h.n.JS.PublishMsg(ctx, natsMsg(bus.AccountSubject(7), []byte("not a game event"), "evt.AccountThing")); err != nil {
			t.Fatal(err)
		}
	}
	account()
	a, b := h.player(41, "g1"), h.player(42, "g1")
	login(t, a)
	account()
	login(t, b)
	if res := a.call(&msg.GiftItems_Req{DstId: proto.Int64(42), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(10)}); code(res) != def.ResCode_RC_OK {
		t.Fatal(res)
	}
	account()
	want := [][2]int64{{42, 1010}, {41, 990}}
	eventually(t, "the gold leaderboard", func() bool {
		res := a.call(&msg.GetRank_Req{Type: proto.Int32(gold)})
		return code(res) != def.ResCode_RC_RANK_NOT_READY && same(rankOf(t, a, gold), want)
	})
	eventually(t, "presence of both players", func() bool {
		kv, err := h.n.JS.KeyValue(ctx, "presence")
		if err != nil {
			return false
		}
		_, e1 := kv.Get(ctx, "41")
		_, e2 := kv.Get(ctx, "42")
		return e1 == nil && e2 == nil
	})
	eventually(t, "the transfer consumer past every event", func() bool {
		c, err := h.n.JS.Consumer(ctx, bus.EventsStream, TransferConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == info.Delivered.Stream
	})
}

// presenceKV returns the presence bucket and whether player uid is in it.
func presenceKV(t *testing.T, h *harness) (jetstream.KeyValue, func(uid int64) bool) {
	t.Helper()
	kv, err := h.n.JS.KeyValue(context.Background(), bus.PresenceBucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv, func(uid int64) bool {
		_, err := kv.Get(context.Background(), strconv.FormatInt(uid, 10))
		return err == nil
	}
}

// Presence keeps its own position: a leader that rebuilds the boards from
// the first event (a new cache) does not apply again the logins presence
// had read, so an entry removed since stays removed.
func TestPresenceResumesFromItsPosition(t *testing.T) {
	h := newHarness(t)
	w := h.worker(testConfig())
	a, b := h.player(51, "g1"), h.player(52, "g1")
	login(t, a)
	login(t, b)
	kv, online := presenceKV(t, h)
	ctx := context.Background()
	eventually(t, "both logins in presence and its position past them", func() bool {
		e, err := kv.Get(ctx, presencePositionKey)
		if err != nil || !online(51) || !online(52) {
			return false
		}
		last, err := h.n.JS.Stream(ctx, bus.EventsStream)
		if err != nil {
			return false
		}
		info, err := last.Info(ctx)
		return err == nil && string(e.Value()) == strconv.FormatUint(info.State.LastSeq, 10)
	})
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "51"); err != nil { // as if logged out by hand
		t.Fatal(err)
	}
	h.cache = cache.NewMemory() // the boards are rebuilt from the first event
	h.worker(testConfig())
	eventually(t, "the boards rebuilt", func() bool {
		res := b.call(&msg.GetRank_Req{Type: proto.Int32(gold)})
		return code(res) == def.ResCode_RC_OK
	})
	login(t, h.player(53, "g1")) // an event after the position is applied
	eventually(t, "the new login in presence", func() bool { return online(53) })
	if online(51) {
		t.Fatal("a login presence had read before its position was applied again")
	}
}

// A store where an earlier version kept presence with a durable consumer:
// presence starts from that consumer's acknowledged floor (what it had
// applied is not applied again, what came after is) and deletes it.
func TestPresenceTakesOverTheDurableConsumer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := bus.EnsureStore(ctx, h.n.JS, bus.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	loggedIn := func(uid int64) {
		t.Helper()
		data, _ := proto.Marshal(&evt.LoggedIn{Gate: proto.String("g1"), Session: proto.String("s"), At: proto.Int64(time.Now().Unix())})
		if _, err := h.n.JS.PublishMsg(ctx, natsMsg(bus.PlayerSubject(uid), data, events.TypeName(&evt.LoggedIn{}))); err != nil {
			t.Fatal(err)
		}
	}
	loggedIn(61)
	loggedIn(62)
	// The old consumer has applied (and acknowledged) both.
	old, err := h.n.JS.CreateOrUpdateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{
		Durable: PresenceConsumer, FilterSubject: bus.PlayerEventsWildcard, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := old.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	loggedIn(63) // after its floor
	h.worker(testConfig())
	_, online := presenceKV(t, h)
	eventually(t, "the login after the old consumer's floor in presence", func() bool { return online(63) })
	eventually(t, "the old consumer deleted", func() bool {
		_, err := h.n.JS.Consumer(ctx, bus.EventsStream, PresenceConsumer)
		return errors.Is(err, jetstream.ErrConsumerNotFound)
	})
	if online(61) || online(62) {
		t.Fatal("logins the old consumer had acknowledged were applied again")
	}
}
