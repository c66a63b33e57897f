package game

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

const (
	gold    = int32(def.ItemType_ITEM_GOLD)
	diamond = int32(def.ItemType_ITEM_DIAMOND)
	card    = int32(def.ItemType_ITEM_CARD)
	now     = int64(1700000000)
)

// fold applies the emitted events of one player to its state, failing the
// test if apply refuses one (a decide/apply mismatch).
func fold(t testing.TB, s *Player, id int64, emits []events.Emit) *Player {
	t.Helper()
	for _, e := range emits {
		if e.ID != id {
			continue
		}
		if err := apply(s, e.Event); err != nil {
			t.Fatalf("apply %T: %v", e.Event, err)
		}
	}
	return s
}

// created is a player after its first login, holding extra items.
func created(t testing.TB, id int64, extra ...Amount) *Player {
	t.Helper()
	d := DefaultData()
	s := fold(t, newPlayer(id), id, decideCreate(d, newPlayer(id), id, now))
	s = fold(t, s, id, decideLogin(s, id, "g1", "1", now))
	for _, a := range extra {
		if err := addItem(s, a.Idx, a.Num, now); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func wantCode(t *testing.T, what string, got, want def.ResCode) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: code %v, want %v", what, got, want)
	}
}

func TestLoginCreatesOnceWithStartingItems(t *testing.T) {
	d := DefaultData()
	s := newPlayer(7)
	evs := decideCreate(d, s, 7, now)
	if len(evs) != 1 {
		t.Fatalf("creation emitted %d events", len(evs))
	}
	pc := evs[0].Event.(*evt.PlayerCreated)
	if pc.GetAccount() != 7 || len(pc.GetTotals()) != 1 || pc.GetTotals()[0].GetNum() != 1000 {
		t.Fatalf("PlayerCreated = %v", pc)
	}
	s = fold(t, s, 7, evs)
	if evs := decideCreate(d, s, 7, now); len(evs) != 0 {
		t.Fatal("an existing player was created again")
	}
	s = fold(t, s, 7, decideLogin(s, 7, "g1", "11", now))
	if !s.GetCreated() || held(s, gold) != 1000 || !s.GetOnline() || s.GetGate() != "g1" || s.GetSession() != "11" ||
		s.GetUser().GetStatus() != int32(def.AccountStatus_ACCOUNT_OPEN) || s.GetUser().GetCreateTime() != now {
		t.Fatalf("after first login: %v", s)
	}
	if _, err := proto.Marshal(s.GetUser()); err != nil {
		t.Fatalf("user misses required fields: %v", err)
	}
	// A second login from another session only records it.
	s = fold(t, s, 7, decideLogin(s, 7, "g2", "5", now+1))
	if held(s, gold) != 1000 || s.GetGate() != "g2" {
		t.Fatalf("after second login: %v", s)
	}
	// Starting items of the game data, same idx merged.
	d.Start = []Amount{{card, 2}, {gold, 5}, {card, 1}}
	s = fold(t, newPlayer(8), 8, decideCreate(d, newPlayer(8), 8, now))
	if held(s, card) != 3 || held(s, gold) != 5 {
		t.Fatalf("custom start: %v", s.GetUser().GetItems())
	}
}

func TestLogoutOnlyEndsTheLiveSession(t *testing.T) {
	s := created(t, 1)
	if evs := decideLogout(s, 1, "g1", "other", now); len(evs) != 0 {
		t.Fatal("logout of a replaced session changed the state")
	}
	if evs := decideGateLost(s, 1, "g9", now); len(evs) != 0 {
		t.Fatal("loss of another gate logged the player out")
	}
	s = fold(t, s, 1, decideLogout(s, 1, "g1", "1", now))
	if s.GetOnline() || s.GetGate() != "" {
		t.Fatalf("after logout: %v", s)
	}
	if evs := decideLogout(s, 1, "g1", "1", now); len(evs) != 0 {
		t.Fatal("logout while offline changed the state")
	}
	s = created(t, 2)
	evs := decideGateLost(s, 2, "g1", now)
	if len(evs) != 1 || evs[0].Event.(*evt.LoggedOut).GetReason() != ReasonGateLost {
		t.Fatalf("gate lost = %v", evs)
	}
}

func TestViews(t *testing.T) {
	d := DefaultData()
	if _, rc := viewUser(newPlayer(3), false); rc != def.ResCode_RC_USER_NOT_FOUND {
		t.Fatalf("unknown user: %v", rc)
	}
	s := created(t, 3, Amount{card, 2})
	if u, rc := viewUser(s, true); rc != def.ResCode_RC_OK || len(u.GetItems()) != 2 {
		t.Fatalf("self = %v %v", u, rc)
	}
	if u, rc := viewUser(s, false); rc != def.ResCode_RC_OK || len(u.GetItems()) != 0 || u.GetId() != 3 {
		t.Fatalf("other = %v %v", u, rc)
	}
	if len(s.GetUser().GetItems()) != 2 {
		t.Fatal("viewUser modified the state")
	}
	items, rc := viewItems(d, s, 0)
	wantCode(t, "all items", rc, def.ResCode_RC_OK)
	if len(items) != 2 || items[0].GetIdx() != gold || items[1].GetIdx() != card {
		t.Fatalf("items = %v", items)
	}
	if items, _ := viewItems(d, s, card); len(items) != 1 || items[0].GetNum() != 2 {
		t.Fatalf("cards = %v", items)
	}
	if items, rc := viewItems(d, s, diamond); rc != def.ResCode_RC_OK || len(items) != 0 {
		t.Fatalf("diamonds = %v %v", items, rc)
	}
	_, rc = viewItems(d, s, 999)
	wantCode(t, "unknown idx", rc, def.ResCode_RC_ITEM_INVALID)
}

func TestGift(t *testing.T) {
	d := DefaultData()
	a, b := created(t, 1, Amount{diamond, 5}, Amount{card, 9990}), created(t, 2, Amount{card, 9990})
	for _, c := range []struct {
		name     string
		from, to int64
		to2      *Player
		idx      int32
		num      int64
		want     def.ResCode
	}{
		{"zero", 1, 2, b, gold, 0, def.ResCode_RC_BAD_REQUEST},
		{"negative", 1, 2, b, gold, -5, def.ResCode_RC_BAD_REQUEST},
		{"self", 1, 1, a, gold, 1, def.ResCode_RC_GIFT_SELF},
		{"unknown item", 1, 2, b, 555, 1, def.ResCode_RC_ITEM_INVALID},
		{"diamonds", 1, 2, b, diamond, 1, def.ResCode_RC_ITEM_NOT_GIFTABLE},
		{"nobody", 1, 3, newPlayer(3), gold, 1, def.ResCode_RC_USER_NOT_FOUND},
		{"too much", 1, 2, b, gold, 1001, def.ResCode_RC_ITEM_NOT_ENOUGH},
		{"over stack", 1, 2, b, card, 10, def.ResCode_RC_ITEM_OVERFLOW},
	} {
		evs, rc := giftBoth(d, a, c.to2, c.from, c.to, c.idx, c.num, now)
		wantCode(t, c.name, rc, c.want)
		if len(evs) != 0 {
			t.Fatalf("%s: refused gift emitted %v", c.name, evs)
		}
	}
	evs, rc := giftBoth(d, a, b, 1, 2, gold, 300, now)
	wantCode(t, "gift", rc, def.ResCode_RC_OK)
	if len(evs) != 2 || evs[0].ID != 1 || evs[1].ID != 2 {
		t.Fatalf("gift events = %v", evs)
	}
	if evs[0].Event.(*evt.GiftSent).GetTotals()[0].GetNum() != 700 || evs[1].Event.(*evt.GiftReceived).GetTotals()[0].GetNum() != 1300 {
		t.Fatalf("totals = %v", evs)
	}
	a, b = fold(t, a, 1, evs), fold(t, b, 2, evs)
	if held(a, gold) != 700 || held(b, gold) != 1300 {
		t.Fatalf("after gift: %d, %d", held(a, gold), held(b, gold))
	}
	// Everything: the item disappears from the sender's list.
	evs, _ = giftBoth(d, a, b, 1, 2, gold, 700, now)
	a = fold(t, a, 1, evs)
	if held(a, gold) != 0 || len(a.GetUser().GetItems()) != 2 {
		t.Fatalf("after giving all gold: %v", a.GetUser().GetItems())
	}
}

func TestRenameAndProfile(t *testing.T) {
	s := created(t, 1)
	for _, bad := range []string{"", strings.Repeat("x", 17), "tab\there", " lead", "trail ", "\xff\xfe", "bell\a"} {
		_, rc := decideRename(s, 1, bad, now)
		wantCode(t, "rename "+bad, rc, def.ResCode_RC_NAME_INVALID)
	}
	evs, rc := decideRename(s, 1, "十六个字符的名字也可以用吗是的可以", now)
	wantCode(t, "16 runes", rc, def.ResCode_RC_NAME_INVALID) // 17 runes
	evs, rc = decideRename(s, 1, "小明 the 1st", now)
	wantCode(t, "rename", rc, def.ResCode_RC_OK)
	s = fold(t, s, 1, evs)
	if s.GetUser().GetName() != "小明 the 1st" || s.GetUser().GetUpdateTime() != now {
		t.Fatalf("after rename: %v", s.GetUser())
	}
	if evs, rc := decideRename(s, 1, "小明 the 1st", now); rc != def.ResCode_RC_OK || len(evs) != 0 {
		t.Fatal("renaming to the same name emitted events")
	}

	_, rc = decideIcon(s, 1, -1, now)
	wantCode(t, "negative icon", rc, def.ResCode_RC_BAD_REQUEST)
	evs, rc = decideIcon(s, 1, 12, now)
	wantCode(t, "icon", rc, def.ResCode_RC_OK)
	if s = fold(t, s, 1, evs); s.GetUser().GetIcon() != 12 {
		t.Fatal("icon not set")
	}
	_, rc = decideMotto(s, 1, strings.Repeat("m", MaxMottoRunes+1), now)
	wantCode(t, "long motto", rc, def.ResCode_RC_BAD_REQUEST)
	_, rc = decideMotto(s, 1, "nul\x00", now)
	wantCode(t, "control char motto", rc, def.ResCode_RC_BAD_REQUEST)
	evs, rc = decideMotto(s, 1, "carpe diem", now)
	wantCode(t, "motto", rc, def.ResCode_RC_OK)
	if s = fold(t, s, 1, evs); s.GetUser().GetMotto() != "carpe diem" {
		t.Fatal("motto not set")
	}
}

func TestScenes(t *testing.T) {
	s := created(t, 1)
	for _, bad := range []int32{0, 5, -1} {
		_, rc := decideSceneEnter(s, 1, bad, now)
		wantCode(t, "scene", rc, def.ResCode_RC_BAD_REQUEST)
	}
	if evs, rc := decideSceneLeave(s, 1, now); rc != def.ResCode_RC_OK || len(evs) != 0 {
		t.Fatal("leaving no scene emitted events")
	}
	evs, rc := decideSceneEnter(s, 1, int32(def.SceneType_SCENE_SLOTS), now)
	wantCode(t, "enter", rc, def.ResCode_RC_OK)
	s = fold(t, s, 1, evs)
	if s.GetScene() != int32(def.SceneType_SCENE_SLOTS) {
		t.Fatal("scene not entered")
	}
	if evs, _ := decideSceneEnter(s, 1, int32(def.SceneType_SCENE_SLOTS), now); len(evs) != 0 {
		t.Fatal("re-entering emitted events")
	}
	evs, _ = decideSceneLeave(s, 1, now)
	if s = fold(t, s, 1, evs); s.GetScene() != 0 {
		t.Fatal("scene not left")
	}
	// Logging out leaves the scene too.
	evs, _ = decideSceneEnter(s, 1, 1, now)
	s = fold(t, s, 1, evs)
	s = fold(t, s, 1, decideLogout(s, 1, "g1", "1", now))
	if s.GetScene() != 0 {
		t.Fatal("logout kept the scene")
	}
}

func TestItemUse(t *testing.T) {
	d := DefaultData()
	s := created(t, 1, Amount{card, 3}, Amount{diamond, 1})
	for _, c := range []struct {
		name string
		idx  int32
		num  int64
		want def.ResCode
	}{
		{"zero", card, 0, def.ResCode_RC_BAD_REQUEST},
		{"unknown", 4242, 1, def.ResCode_RC_ITEM_INVALID},
		{"no usage", diamond, 1, def.ResCode_RC_ITEM_INVALID},
		{"not enough", card, 4, def.ResCode_RC_ITEM_NOT_ENOUGH},
	} {
		evs, rc := decideUse(d, s, 1, c.idx, c.num, now)
		wantCode(t, c.name, rc, c.want)
		if len(evs) != 0 {
			t.Fatalf("%s emitted events", c.name)
		}
	}
	evs, rc := decideUse(d, s, 1, card, 2, now)
	wantCode(t, "use", rc, def.ResCode_RC_OK)
	if len(evs) != 2 {
		t.Fatalf("use emitted %v", evs)
	}
	s = fold(t, s, 1, evs)
	if held(s, card) != 1 || held(s, gold) != 1200 {
		t.Fatalf("after use: cards %d gold %d", held(s, card), held(s, gold))
	}
	if tot := evs[1].Event.(*evt.ItemsGranted).GetTotals(); len(tot) != 1 || tot[0].GetNum() != 1200 {
		t.Fatalf("granted totals = %v", tot)
	}
	// An effect that would pass a stack limit is refused whole.
	d.Items[gold] = ItemDef{Idx: gold, Name: "gold", Giftable: true, StackLimit: 1250}
	_, rc = decideUse(d, s, 1, card, 1, now)
	wantCode(t, "over stack", rc, def.ResCode_RC_ITEM_OVERFLOW)
}

func TestMails(t *testing.T) {
	d := DefaultData()
	_, rc := decideMail(d, newPlayer(1), 1, "t", "c", nil, now)
	wantCode(t, "mail to nobody", rc, def.ResCode_RC_USER_NOT_FOUND)
	s := created(t, 1)
	_, rc = decideMail(d, s, 1, "t", "c", []Amount{{77, 1}}, now)
	wantCode(t, "unknown attachment", rc, def.ResCode_RC_ITEM_INVALID)
	evs, rc := decideMail(d, s, 1, "gift", "for you", []Amount{{gold, 50}, {card, 2}, {gold, 50}}, now)
	wantCode(t, "mail", rc, def.ResCode_RC_OK)
	s = fold(t, s, 1, evs)
	evs, _ = decideMail(d, s, 1, "second", "", nil, now)
	s = fold(t, s, 1, evs)
	mails, rc := viewMails(s, 0)
	if rc != def.ResCode_RC_OK || len(mails) != 2 || mails[0].GetId() != 1 || mails[1].GetId() != 2 ||
		len(mails[0].GetItems()) != 2 || mails[0].GetItems()[0].GetNum() != 100 || mails[0].GetTo() != 1 {
		t.Fatalf("mails = %v", mails)
	}
	for _, m := range mails {
		if _, err := proto.Marshal(m); err != nil {
			t.Fatalf("mail misses required fields: %v", err)
		}
	}
	_, rc = viewMails(s, 9)
	wantCode(t, "get unknown mail", rc, def.ResCode_RC_MAIL_NOT_FOUND)

	_, rc = decideReadMail(s, 1, 9, now)
	wantCode(t, "read unknown", rc, def.ResCode_RC_MAIL_NOT_FOUND)
	evs, rc = decideReadMail(s, 1, 1, now)
	wantCode(t, "read", rc, def.ResCode_RC_OK)
	s = fold(t, s, 1, evs)
	if findMail(s, 1).GetStatus() != int32(def.MailStatus_MAIL_READED) {
		t.Fatal("mail not read")
	}
	if evs, _ := decideReadMail(s, 1, 1, now); len(evs) != 0 {
		t.Fatal("reading twice emitted events")
	}

	_, _, rc = decideClaimMail(d, s, 1, 9, now)
	wantCode(t, "claim unknown", rc, def.ResCode_RC_MAIL_NOT_FOUND)
	evs, items, rc := decideClaimMail(d, s, 1, 1, now)
	wantCode(t, "claim", rc, def.ResCode_RC_OK)
	if len(items) != 2 {
		t.Fatalf("claimed items = %v", items)
	}
	s = fold(t, s, 1, evs)
	if held(s, gold) != 1100 || held(s, card) != 2 || findMail(s, 1).GetStatus() != int32(def.MailStatus_MAIL_EXTRACED) {
		t.Fatalf("after claim: gold %d cards %d", held(s, gold), held(s, card))
	}
	_, _, rc = decideClaimMail(d, s, 1, 1, now)
	wantCode(t, "claim twice", rc, def.ResCode_RC_MAIL_ALREADY_CLAIMED)
	// A claim past a stack limit is refused, and the mail stays claimable.
	evs, _ = decideMail(d, s, 1, "cards", "", []Amount{{card, 9998}}, now)
	s = fold(t, s, 1, evs)
	_, _, rc = decideClaimMail(d, s, 1, 3, now)
	wantCode(t, "claim over stack", rc, def.ResCode_RC_ITEM_OVERFLOW)

	_, rc = decideDeleteMail(s, 1, 9, now)
	wantCode(t, "delete unknown", rc, def.ResCode_RC_MAIL_NOT_FOUND)
	evs, rc = decideDeleteMail(s, 1, 2, now)
	wantCode(t, "delete", rc, def.ResCode_RC_OK)
	s = fold(t, s, 1, evs)
	_, rc = viewMails(s, 2)
	wantCode(t, "get deleted", rc, def.ResCode_RC_MAIL_NOT_FOUND)
	_, rc = decideReadMail(s, 1, 2, now)
	wantCode(t, "read deleted", rc, def.ResCode_RC_MAIL_NOT_FOUND)
	// Ids keep growing after a delete.
	evs, _ = decideMail(d, s, 1, "next", "", nil, now)
	if evs[0].Event.(*evt.MailReceived).GetMail().GetId() != 4 {
		t.Fatalf("next mail id = %d", evs[0].Event.(*evt.MailReceived).GetMail().GetId())
	}
}

func TestApplyRefusesImpossibleEvents(t *testing.T) {
	s := created(t, 1)
	if err := apply(s, &evt.GiftSent{Idx: proto.Int32(gold), Num: proto.Int64(1001)}); err == nil {
		t.Fatal("applied a balance below zero")
	}
	if err := apply(s, &evt.ItemsUsed{Idx: proto.Int32(card), Num: proto.Int64(1)}); err == nil {
		t.Fatal("used an item not held")
	}
	if err := apply(s, &evt.AccountRegistered{}); err == nil {
		t.Fatal("applied an account event to a player")
	}
	m := &def.Mail{Id: proto.Int64(1)}
	if err := apply(s, &evt.MailReceived{Mail: m}); err != nil {
		t.Fatal(err)
	}
	if err := apply(s, &evt.MailReceived{Mail: m}); err == nil {
		t.Fatal("applied a mail id twice")
	}
	if err := apply(s, &evt.MailClaimed{Id: proto.Int64(5)}); err == nil {
		t.Fatal("claimed an unknown mail")
	}
}
