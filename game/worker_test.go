package game

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

func rename(name string) *msg.SetEvent_Req {
	return &msg.SetEvent_Req{Event: &def.Event{Oper: proto.Int32(int32(def.EventType_EVENT_RENAME)), ArgStr: proto.String(name)}}
}

func setEvent(oper def.EventType, a, b int32, x int64) *msg.SetEvent_Req {
	return &msg.SetEvent_Req{Event: &def.Event{Oper: proto.Int32(int32(oper)), ArgA: proto.Int32(a), ArgB: proto.Int32(b), Arg_64: proto.Int64(x)}}
}

func login(t *testing.T, p *player) *def.User {
	t.Helper()
	res := p.call(&msg.Login_Req{Token: proto.String("verified-by-the-gate")}).(*msg.Login_Res)
	if code(res) != def.ResCode_RC_OK || res.GetUser().GetId() != p.uid {
		t.Fatalf("login %d = %v", p.uid, res)
	}
	return res.GetUser()
}

func items(t *testing.T, p *player) map[int32]int64 {
	t.Helper()
	res := p.call(&msg.GetItems_Req{}).(*msg.GetItems_Res)
	if code(res) != def.ResCode_RC_OK {
		t.Fatalf("GetItems = %v", res)
	}
	out := map[int32]int64{}
	for _, it := range res.GetItems() {
		out[it.GetIdx()] = it.GetNum()
	}
	return out
}

func TestRequestsThroughTheBus(t *testing.T) {
	h := newHarness(t)
	h.worker(testConfig())
	a, b := h.player(1001, "g1"), h.player(1002, "g1")

	// Before login (no Hive-User): only Login and Echo are served.
	anon := h.player(0, "g1")
	if res := anon.call(&msg.GetItems_Req{}); code(res) != def.ResCode_RC_LOGIN_REQUIRED {
		t.Fatalf("anonymous GetItems = %v", res)
	}
	if res := anon.call(&msg.Echo_Req{Val: proto.Int64(7), Ct: proto.Int64(9)}).(*msg.Echo_Res); res.GetVal() != 7 || res.GetCt() != 9 {
		t.Fatalf("echo = %v", res)
	}
	if res := anon.call(&msg.Login_Req{Token: proto.String("x")}); code(res) != def.ResCode_RC_LOGIN_TOKEN_INVALID {
		t.Fatalf("login without a verified user = %v", res)
	}
	// A logged-in id whose player does not exist yet cannot change anything.
	if res := a.call(rename("early")); code(res) != def.ResCode_RC_LOGIN_REQUIRED {
		t.Fatalf("rename before the first login = %v", res)
	}

	u := login(t, a)
	if len(u.GetItems()) != 1 || u.GetItems()[0].GetIdx() != gold || u.GetItems()[0].GetNum() != 1000 || u.GetAccount() != 1001 {
		t.Fatalf("new player = %v", u)
	}
	login(t, b)
	if got := items(t, a); got[gold] != 1000 {
		t.Fatalf("items = %v", got)
	}

	// GetUser: me, another (no items), nobody.
	if res := a.call(&msg.GetUser_Req{Id: proto.Int64(0)}).(*msg.GetUser_Res); res.GetUser().GetId() != 1001 || len(res.GetUser().GetItems()) == 0 {
		t.Fatalf("GetUser 0 = %v", res)
	}
	if res := a.call(&msg.GetUser_Req{Id: proto.Int64(1002)}).(*msg.GetUser_Res); res.GetUser().GetId() != 1002 || len(res.GetUser().GetItems()) != 0 {
		t.Fatalf("GetUser other = %v", res)
	}
	if res := a.call(&msg.GetUser_Req{Id: proto.Int64(999999)}); code(res) != def.ResCode_RC_USER_NOT_FOUND {
		t.Fatalf("GetUser nobody = %v", res)
	}

	// A request that lacks a required field gets its own Res with RC_BAD_REQUEST.
	if res := a.call(&msg.GiftItems_Req{DstId: proto.Int64(1002)}); code(res) != def.ResCode_RC_BAD_REQUEST {
		t.Fatalf("partial GiftItems = %v", res)
	}
	if res := a.call(&msg.SetEvent_Req{}).(*msg.SetEvent_Res); res.GetCode() != int32(def.ResCode_RC_BAD_REQUEST) {
		t.Fatalf("partial SetEvent = %v", res)
	}
	if res := a.call(setEvent(4242, 0, 0, 0)); code(res) != def.ResCode_RC_EVENT_INVALID {
		t.Fatalf("unknown oper = %v", res)
	}

	// Names are unique; a rename releases the old name.
	if res := a.call(rename("Alice")); code(res) != def.ResCode_RC_OK {
		t.Fatalf("rename = %v", res)
	}
	if res := b.call(rename("alice")); code(res) != def.ResCode_RC_NAME_TAKEN {
		t.Fatalf("taken name (other case) = %v", res)
	}
	if res := b.call(rename("")); code(res) != def.ResCode_RC_NAME_INVALID {
		t.Fatalf("empty name = %v", res)
	}
	if res := a.call(rename("Alicia")); code(res) != def.ResCode_RC_OK {
		t.Fatalf("second rename = %v", res)
	}
	if res := b.call(rename("Alice")); code(res) != def.ResCode_RC_OK {
		t.Fatalf("released name = %v", res)
	}
	if res := a.call(&msg.GetUser_Req{Id: proto.Int64(1002)}).(*msg.GetUser_Res); res.GetUser().GetName() != "Alice" {
		t.Fatalf("b's name = %q", res.GetUser().GetName())
	}

	// Profile, scenes, item use.
	for _, c := range []struct {
		req  *msg.SetEvent_Req
		want def.ResCode
	}{
		{setEvent(def.EventType_EVENT_MOD_ICON, 3, 0, 0), def.ResCode_RC_OK},
		{&msg.SetEvent_Req{Event: &def.Event{Oper: proto.Int32(int32(def.EventType_EVENT_MOD_MOTTO)), ArgStr: proto.String("hi")}}, def.ResCode_RC_OK},
		{setEvent(def.EventType_EVENT_SCENE_ENTER, int32(def.SceneType_SCENE_LOBBY), 0, 0), def.ResCode_RC_OK},
		{setEvent(def.EventType_EVENT_SCENE_ENTER, 77, 0, 0), def.ResCode_RC_BAD_REQUEST},
		{setEvent(def.EventType_EVENT_SCENE_LEAVE, 0, 0, 0), def.ResCode_RC_OK},
		{setEvent(def.EventType_EVENT_ITEM_USE, card, 1, 0), def.ResCode_RC_ITEM_NOT_ENOUGH},
		{setEvent(def.EventType_EVENT_ITEM_GIFT, diamond, 1, 1002), def.ResCode_RC_ITEM_NOT_GIFTABLE},
		{setEvent(def.EventType_EVENT_ITEM_GIFT, gold, 1, 1001), def.ResCode_RC_GIFT_SELF},
		{setEvent(def.EventType_EVENT_ITEM_GIFT, gold, 100, 1002), def.ResCode_RC_OK},
	} {
		if res := a.call(c.req); code(res) != c.want {
			t.Fatalf("SetEvent %v = %v, want %v", c.req.GetEvent(), res, c.want)
		}
	}
	if res := a.call(&msg.GetUser_Req{Id: proto.Int64(0)}).(*msg.GetUser_Res); res.GetUser().GetIcon() != 3 || res.GetUser().GetMotto() != "hi" {
		t.Fatalf("profile = %v", res.GetUser())
	}
	// The receiver's credit follows the sender's answer.
	eventually(t, "b credited after ITEM_GIFT", func() bool { return items(t, b)[gold] == 1100 })
	for _, c := range []struct {
		req  *msg.GiftItems_Req
		want def.ResCode
	}{
		{&msg.GiftItems_Req{DstId: proto.Int64(1002), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(0)}, def.ResCode_RC_BAD_REQUEST},
		{&msg.GiftItems_Req{DstId: proto.Int64(1002), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(901)}, def.ResCode_RC_ITEM_NOT_ENOUGH},
		{&msg.GiftItems_Req{DstId: proto.Int64(5), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1)}, def.ResCode_RC_USER_NOT_FOUND},
		{&msg.GiftItems_Req{DstId: proto.Int64(1002), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(900)}, def.ResCode_RC_OK},
	} {
		if res := a.call(c.req); code(res) != c.want {
			t.Fatalf("GiftItems %v = %v, want %v", c.req, res, c.want)
		}
	}
	eventually(t, "b credited after the gifts", func() bool { return items(t, b)[gold] == 2000 })
	if ga := items(t, a)[gold]; ga != 0 {
		t.Fatalf("after gifts: a %d", ga)
	}

	// GetItems of an unknown idx; an api the worker does not serve.
	if res := a.call(&msg.GetItems_Req{Idx: proto.Int32(31337)}); code(res) != def.ResCode_RC_ITEM_INVALID {
		t.Fatalf("GetItems unknown idx = %v", res)
	}
	if res := a.call(&msg.Auth_Req{}).(*msg.Error_Res); res.GetCode() != int32(def.ResCode_RC_API_UNKNOWN) || res.GetApi() != "msg.Auth.Req" {
		t.Fatalf("unserved api = %v", res)
	}
}

func TestPushesAndSessions(t *testing.T) {
	h := newHarness(t)
	h.worker(testConfig())
	a, b := h.player(1, "g1"), h.player(2, "g1")
	login(t, a)
	login(t, b)
	pushes := make(chan *nats.Msg, 16)
	for _, uid := range []int64{1, 2} {
		sub, err := h.n.Conn.ChanSubscribe(bus.UserSubject(uid), pushes)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	h.n.Conn.Flush()

	if res := a.call(&msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(10)}); code(res) != def.ResCode_RC_OK {
		t.Fatal(res)
	}
	got := map[string]int64{}
	for range 2 {
		select {
		case m := <-pushes:
			if m.Header.Get(envelope.HdrAPI) != "msg.GetItems.Res" {
				t.Fatalf("push api = %q", m.Header.Get(envelope.HdrAPI))
			}
			res, err := frame.Decode([]byte("msg.GetItems.Res"), m.Data)
			if err != nil {
				t.Fatal(err)
			}
			got[m.Subject] = res.(*msg.GetItems_Res).GetItems()[0].GetNum()
		case <-time.After(10 * time.Second):
			t.Fatal("no GetItems push")
		}
	}
	if got["user.1"] != 990 || got["user.2"] != 1010 {
		t.Fatalf("pushes = %v", got)
	}

	// A second login of the same account (the gates kick the older session).
	again := h.player(1, "g2")
	login(t, again)
	// The old session's logout no longer ends the new login.
	a.call(&msg.Logout_Req{Account: proto.Int64(1)})
	st, err := ReplayState(context.Background(), h.n.JS, 1, ReplayOptions{})
	if err != nil || !st.GetOnline() || st.GetGate() != "g2" {
		t.Fatalf("after stale logout: %v, %v", st, err)
	}
	again.call(&msg.Logout_Req{Account: proto.Int64(1)})
	if st, _ = ReplayState(context.Background(), h.n.JS, 1, ReplayOptions{}); st.GetOnline() {
		t.Fatal("still online after logout")
	}
	// Logout writes a durable snapshot.
	kv, _ := h.n.JS.KeyValue(context.Background(), bus.SnapshotsBucket)
	if _, err := kv.Get(context.Background(), "player.1"); err != nil {
		t.Fatalf("no durable snapshot at logout: %v", err)
	}
}

func TestDuplicateRequestAppliesOnce(t *testing.T) {
	h := newHarness(t)
	h.worker(testConfig())
	a, b := h.player(1, "g1"), h.player(2, "g1")
	login(t, a)
	login(t, b)
	gift := &msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(100)}
	for range 3 { // the gate (or a client) sends the same request again
		res, err := a.sendID(gift, "dup-1")
		if err != nil || code(res) != def.ResCode_RC_OK {
			t.Fatalf("gift = %v, %v", res, err)
		}
	}
	eventually(t, "the gift credited", func() bool { return items(t, b)[gold] >= 1100 })
	if ga, gb := items(t, a)[gold], items(t, b)[gold]; ga != 900 || gb != 1100 {
		t.Fatalf("after a thrice-sent gift: %d, %d", ga, gb)
	}
	// A retried claim answers the same items and grants them once.
	if _, err := SendMail(context.Background(), h.n.Conn, "s3cret", MailRequest{To: []int64{1}, Title: "t", Items: []Amount{{card, 3}}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res, err := a.sendID(&msg.ClaimMail_Req{Id: proto.Int64(1)}, "claim-1")
		if err != nil || code(res) != def.ResCode_RC_OK || len(res.(*msg.ClaimMail_Res).GetItems()) != 1 {
			t.Fatalf("claim = %v, %v", res, err)
		}
	}
	if got := items(t, a)[card]; got != 3 {
		t.Fatalf("cards after a retried claim = %d", got)
	}
	if res := a.call(&msg.ClaimMail_Req{Id: proto.Int64(1)}); code(res) != def.ResCode_RC_MAIL_ALREADY_CLAIMED {
		t.Fatalf("a new claim of a claimed mail = %v", res)
	}
}

func TestStoppedBetweenAppendAndCacheWrite(t *testing.T) {
	h := newHarness(t)
	good := h.worker(testConfig())
	a, b := h.player(1, "g1"), h.player(2, "g1")
	login(t, a)
	login(t, b)
	items(t, a) // both players are cached now
	items(t, b)
	good.Shutdown(context.Background())

	// This worker "dies" after every append, before writing the cache.
	cfg := testConfig()
	cfg.Projections = false
	crashy := h.worker(cfg, func(w *Worker) { w.storeOpts.AfterAppend = func([]string) bool { return false } })
	if res := a.call(&msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(250)}); code(res) != def.ResCode_RC_OK {
		t.Fatal(res)
	}
	crashy.Shutdown(context.Background())

	h.worker(testConfig()) // the next worker reads through the stale cache
	if ga, gb := items(t, a)[gold], items(t, b)[gold]; ga != 750 || gb != 1250 {
		t.Fatalf("after a gift whose cache write was lost: %d, %d", ga, gb)
	}
	// And decides on the right state: a gift of more than is left fails.
	if res := a.call(&msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(751)}); code(res) != def.ResCode_RC_ITEM_NOT_ENOUGH {
		t.Fatalf("overdraft = %v", res)
	}
}

func TestShutdownAnswersWhatItTook(t *testing.T) {
	h := newHarness(t)
	w := h.worker(testConfig())
	a := h.player(1, "g1")
	login(t, a)
	const n = 200
	replies := make(chan *nats.Msg, n)
	inbox := nats.NewInbox()
	sub, _ := h.n.Conn.ChanSubscribe(inbox, replies)
	defer sub.Unsubscribe()
	for i := range n {
		m := nats.NewMsg("msg.GetItems.Req")
		m.Reply = inbox
		m.Header.Set(envelope.HdrUser, "1")
		m.Header.Set(envelope.HdrReq, strconv.Itoa(i))
		h.n.Conn.PublishMsg(m)
	}
	h.n.Conn.Flush()
	// Stop while requests are queued; a second worker takes the rest.
	go func() {
		time.Sleep(5 * time.Millisecond)
		w.Shutdown(context.Background())
	}()
	h.worker(testConfig())
	for i := range n {
		select {
		case m := <-replies:
			if m.Header.Get(envelope.HdrAPI) != "msg.GetItems.Res" {
				t.Fatalf("reply %d: %v", i, m.Header)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("only %d of %d requests answered", i, n)
		}
	}
}

func TestNewRefusesBadLimits(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"workers", func(c *Config) { c.Workers = 0 }, "--game-workers"},
		{"flights", func(c *Config) { c.BatchFlights = 0 }, "--game-batch-flights"},
		{"batch too small", func(c *Config) { c.BatchMaxMsgs = 1 }, "--game-batch-max-msgs"},
		{"batch over the server's limit", func(c *Config) { c.BatchMaxMsgs = 1001 }, "--game-batch-max-msgs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.set(&cfg)
			_, err := New(cfg, Deps{NC: h.n.Conn, JS: h.n.JS})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
