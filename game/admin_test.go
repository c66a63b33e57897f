package game

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

func TestAdminMail(t *testing.T) {
	h := newHarness(t)
	h.worker(testConfig())
	a, b := h.player(11, "g1"), h.player(12, "g1")
	login(t, a)
	login(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The credential is checked before anything else.
	res, err := SendMail(ctx, h.n.Conn, "wrong", MailRequest{All: true, Title: "x"})
	if err == nil || res.Code != int32(def.ResCode_RC_FORBIDDEN) {
		t.Fatalf("bad token: %+v, %v", res, err)
	}
	for _, bad := range []MailRequest{
		{Title: "nobody"},
		{All: true, To: []int64{11}, Title: "both"},
		{To: []int64{11}},
		{To: []int64{11}, Title: "t", Items: []Amount{{999, 1}}},
		{To: []int64{11}, Title: "t", Items: []Amount{{gold, 0}}},
		{To: []int64{-3}, Title: "t"},
		{To: []int64{11}, Title: strings.Repeat("t", MaxMailTitleRunes+1)},
	} {
		if res, err := SendMail(ctx, h.n.Conn, "s3cret", bad); err == nil || res.Code != int32(def.ResCode_RC_BAD_REQUEST) || res.Error == "" {
			t.Fatalf("bad request %+v: %+v, %v", bad, res, err)
		}
	}

	pushes := make(chan *nats.Msg, 8)
	sub, _ := h.n.Conn.ChanSubscribe(bus.UserSubject(11), pushes)
	defer sub.Unsubscribe()
	h.n.Conn.Flush()

	res, err = SendMail(ctx, h.n.Conn, "s3cret", MailRequest{ID: "m1", To: []int64{11, 404}, Title: "Welcome", Content: "hi", Items: []Amount{{gold, 5}}})
	if err != nil || res.Delivered != 1 || len(res.Failed) != 1 || res.Failed[0] != (MailFailure{404, int32(def.ResCode_RC_USER_NOT_FOUND)}) {
		t.Fatalf("mail to 11 and 404: %+v, %v", res, err)
	}
	select {
	case m := <-pushes:
		got, err := frame.Decode([]byte(m.Header.Get(envelope.HdrAPI)), m.Data)
		if err != nil || len(got.(*msg.GetMails_Res).GetMails()) != 1 || got.(*msg.GetMails_Res).GetMails()[0].GetTitle() != "Welcome" {
			t.Fatalf("mail push = %v, %v", got, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no GetMails push for a new mail")
	}
	// Sending the same id again reaches nobody twice.
	res, err = SendMail(ctx, h.n.Conn, "s3cret", MailRequest{ID: "m1", To: []int64{11}, Title: "Welcome", Content: "hi", Items: []Amount{{gold, 5}}})
	if err != nil || res.Delivered != 0 || res.Already != 1 {
		t.Fatalf("re-sent mail: %+v, %v", res, err)
	}
	res, err = SendMail(ctx, h.n.Conn, "s3cret", MailRequest{All: true, Title: "Patch notes"})
	if err != nil || res.Delivered != 2 || len(res.Failed) != 0 {
		t.Fatalf("mail to all: %+v, %v", res, err)
	}

	mails := a.call(&msg.GetMails_Req{}).(*msg.GetMails_Res).GetMails()
	if len(mails) != 2 || mails[0].GetId() != 1 || mails[1].GetId() != 2 || mails[1].GetTitle() != "Patch notes" {
		t.Fatalf("a's mails = %v", mails)
	}
	if got := b.call(&msg.GetMails_Req{}).(*msg.GetMails_Res).GetMails(); len(got) != 1 || got[0].GetId() != 1 {
		t.Fatalf("b's mails = %v (ids are per player)", got)
	}
	// Read, claim once, delete.
	for _, c := range []struct {
		req  proto.Message
		want def.ResCode
	}{
		{&msg.ReadMail_Req{Id: proto.Int64(1)}, def.ResCode_RC_OK},
		{&msg.ReadMail_Req{Id: proto.Int64(9)}, def.ResCode_RC_MAIL_NOT_FOUND},
		{&msg.ClaimMail_Req{Id: proto.Int64(1)}, def.ResCode_RC_OK},
		{&msg.ClaimMail_Req{Id: proto.Int64(1)}, def.ResCode_RC_MAIL_ALREADY_CLAIMED},
		{&msg.ClaimMail_Req{Id: proto.Int64(9)}, def.ResCode_RC_MAIL_NOT_FOUND},
		{&msg.DeleteMail_Req{Id: proto.Int64(2)}, def.ResCode_RC_OK},
		{&msg.DeleteMail_Req{Id: proto.Int64(2)}, def.ResCode_RC_MAIL_NOT_FOUND},
		{&msg.GetMails_Req{Id: proto.Int64(2)}, def.ResCode_RC_MAIL_NOT_FOUND},
	} {
		if res := a.call(c.req); code(res) != c.want {
			t.Fatalf("%T %v = %v, want %v", c.req, c.req, res, c.want)
		}
	}
	if got := items(t, a)[gold]; got != 1005 {
		t.Fatalf("gold after claiming 5 = %d", got)
	}
	if m := a.call(&msg.GetMails_Req{Id: proto.Int64(1)}).(*msg.GetMails_Res).GetMails(); len(m) != 1 || m[0].GetStatus() != int32(def.MailStatus_MAIL_EXTRACED) {
		t.Fatalf("claimed mail = %v", m)
	}
}

func TestAdminMailDisabledWithoutToken(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	cfg.AdminToken = ""
	h.worker(cfg)
	res, err := SendMail(context.Background(), h.n.Conn, "", MailRequest{All: true, Title: "x"})
	if err == nil || res.Code != int32(def.ResCode_RC_FORBIDDEN) {
		t.Fatalf("mail with admin disabled: %+v, %v", res, err)
	}
}

// An operator mail over --game-mail-max-amount (one attachment, or two of
// the same kind summed) is refused with RC_ITEM_OVERFLOW, the bound and the
// flag in the answer, and reaches nobody.
func TestAdminMailOverTheBound(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	cfg.MailMaxAmount = 500
	h.worker(cfg)
	a := h.player(15, "g1")
	login(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, its := range [][]Amount{{{gold, 501}}, {{gold, 300}, {card, 1}, {gold, 201}}, {{gold, 1}, {gold, math.MaxInt64}}} {
		res, err := SendMail(ctx, h.n.Conn, "s3cret", MailRequest{To: []int64{15}, Title: "too much", Items: its})
		if err == nil || res.Code != int32(def.ResCode_RC_ITEM_OVERFLOW) || res.CodeName != "RC_ITEM_OVERFLOW" || res.MaxAmount != 500 {
			t.Fatalf("mail of %v: %+v, %v", its, res, err)
		}
		for _, want := range []string{"RC_ITEM_OVERFLOW", "3011", "500", "--game-mail-max-amount"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("refusal %q does not say %q", err, want)
			}
		}
	}
	if m := a.call(&msg.GetMails_Req{}).(*msg.GetMails_Res).GetMails(); len(m) != 0 {
		t.Fatalf("a refused mail was delivered: %v", m)
	}
	if res, err := SendMail(ctx, h.n.Conn, "s3cret", MailRequest{To: []int64{15}, Title: "ok", Items: []Amount{{gold, 250}, {gold, 250}}}); err != nil || res.Delivered != 1 {
		t.Fatalf("mail at the bound: %+v, %v", res, err)
	}
}

// Through the bus: a gift to a holder near the largest amount is answered
// RC_ITEM_OVERFLOW, nothing is stored, and both players still load.
// With ReadsFromCache a read answers what the worker's own cache holds: a
// write behind its back (another writer, which hive dev does not have) is
// not seen by reads, while commands still find it through their append. A
// gift to a receiver filled that way is answered RC_OK from the cache and
// returned when the credit meets the stream's state.
func TestReadsFromCacheAndAWriteBehindIt(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	cfg.ReadsFromCache = true
	h.worker(cfg)
	a, b := h.player(18, "g1"), h.player(19, "g1")
	login(t, a)
	login(t, b)
	before := items(t, b)[gold]
	grant := &evt.ItemsGranted{Items: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(math.MaxInt64 - 5 - before)}},
		Totals: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(math.MaxInt64 - 5)}}, At: proto.Int64(1)}
	data, _ := proto.Marshal(grant)
	if _, err := h.n.JS.PublishMsg(context.Background(), natsMsg(bus.PlayerSubject(19), data, string(grant.ProtoReflect().Descriptor().FullName()))); err != nil {
		t.Fatal(err)
	}
	if got := items(t, b)[gold]; got != before {
		t.Fatalf("a read from the cache = %d, want the cached %d", got, before)
	}
	res := a.call(&msg.GiftItems_Req{DstId: proto.Int64(19), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(10)})
	if code(res) != def.ResCode_RC_OK {
		t.Fatalf("gift to a receiver full behind the cache = %v, want RC_OK (then returned)", res)
	}
	eventually(t, "the gift returned to its sender", func() bool { return items(t, a)[gold] == 1000 })
	// The credit's refusal reloaded b from the stream, and the cache with it.
	if got := items(t, b)[gold]; got != math.MaxInt64-5 {
		t.Fatalf("receiver's gold after the refused credit = %d", got)
	}
}

func TestGiftOverflowThroughTheBus(t *testing.T) {
	h := newHarness(t)
	h.worker(testConfig())
	a, b := h.player(16, "g1"), h.player(17, "g1")
	login(t, a)
	login(t, b)
	// b's balance as an earlier grant left it (events appended as the store
	// writes them; the game itself no longer grants past MaxStack).
	grant := &evt.ItemsGranted{Items: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(math.MaxInt64 - 5 - 1000)}},
		Totals: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(math.MaxInt64 - 5)}}, At: proto.Int64(1)}
	data, _ := proto.Marshal(grant)
	if _, err := h.n.JS.PublishMsg(context.Background(), natsMsg(bus.PlayerSubject(17), data, string(grant.ProtoReflect().Descriptor().FullName()))); err != nil {
		t.Fatal(err)
	}
	res := a.call(&msg.GiftItems_Req{DstId: proto.Int64(17), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(10)})
	if code(res) != def.ResCode_RC_ITEM_OVERFLOW {
		t.Fatalf("gift past the largest amount = %v, want RC_ITEM_OVERFLOW", res)
	}
	if got := items(t, a)[gold]; got != 1000 {
		t.Fatalf("sender's gold after a refused gift = %d", got)
	}
	if got := items(t, b)[gold]; got != math.MaxInt64-5 {
		t.Fatalf("receiver's gold after a refused gift = %d", got)
	}
}
