package game

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/msg"
)

// This file adds a command the way docs/DESIGN.md ("Adding a command")
// says: a decide (core), a handler and one route line. A test cannot add
// proto messages, so the command borrows msg.VerificationCode (uc's REST
// pair, never served by the game) as its request and response, and emits
// evt.ItemsGranted, whose apply exists: a new event would add one case to
// apply in core_state.go.

// phoneBonus is the gold a player gets for a verified phone number.
const phoneBonus = 50

// decidePhoneBonus grants phoneBonus gold for a phone number of digits.
func decidePhoneBonus(s *Player, uid int64, phone string, now int64) ([]events.Emit, def.ResCode) {
	if phone == "" || strings.Trim(phone, "0123456789") != "" {
		return nil, def.ResCode_RC_BAD_REQUEST
	}
	gold := int32(def.ItemType_ITEM_GOLD)
	grant := []Amount{{gold, phoneBonus}}
	return []events.Emit{{ID: uid, Event: &evt.ItemsGranted{Items: deltas(grant),
		Totals: deltas([]Amount{{gold, held(s, gold) + phoneBonus}}), Reason: proto.String("phone"), At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

func (w *Worker) phoneBonus(ctx context.Context, r *request, req *msg.VerificationCode_Req) (*msg.VerificationCode_Res, error) {
	rc, err := w.onPlayer(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decidePhoneBonus(s, r.uid, req.GetPhone(), r.now) })
	return &msg.VerificationCode_Res{Code: codeOf(rc)}, err
}

// The route line alone serves the new api through a real worker: decoding
// into the typed request, login checks, the answer named after the
// response type, the event appended and applied, the items push, and a
// retried request answered OK without a second grant.
func TestACommandAddedByOneRouteLine(t *testing.T) {
	h := newHarness(t)
	h.worker(testConfig(), func(w *Worker) {
		r := route(w.phoneBonus) // the route line
		w.handlers[r.api] = r
	})
	gold := int32(def.ItemType_ITEM_GOLD)
	goldOf := func(p *player) int64 {
		for _, it := range p.call(&msg.GetItems_Req{}).(*msg.GetItems_Res).GetItems() {
			if it.GetIdx() == gold {
				return it.GetNum()
			}
		}
		return 0
	}
	p := h.player(7, "g1")
	login(t, p)
	before := goldOf(p)

	for _, id := range []string{"verify-1", "verify-1"} { // the second is a retry
		res, err := p.sendID(&msg.VerificationCode_Req{Phone: proto.String("5551234")}, id)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := res.(*msg.VerificationCode_Res); !ok || def.ResCode(r.GetCode()) != def.ResCode_RC_OK {
			t.Fatalf("bonus (request %s) = %T %v, want VerificationCode.Res OK", id, res, res)
		}
	}
	if got := goldOf(p); got != before+phoneBonus {
		t.Fatalf("gold after a bonus and its retry = %d, want %d", got, before+phoneBonus)
	}

	refused := []struct {
		name string
		p    *player
		req  *msg.VerificationCode_Req
		want def.ResCode
	}{
		{"not digits", p, &msg.VerificationCode_Req{Phone: proto.String("555-1234")}, def.ResCode_RC_BAD_REQUEST},
		{"phone missing", p, &msg.VerificationCode_Req{}, def.ResCode_RC_BAD_REQUEST},
		{"not logged in", h.player(0, "g1"), &msg.VerificationCode_Req{Phone: proto.String("1")}, def.ResCode_RC_LOGIN_REQUIRED},
		{"never created", h.player(8, "g1"), &msg.VerificationCode_Req{Phone: proto.String("1")}, def.ResCode_RC_LOGIN_REQUIRED},
	}
	for _, c := range refused {
		res := c.p.call(c.req)
		if r, ok := res.(*msg.VerificationCode_Res); !ok || def.ResCode(r.GetCode()) != c.want {
			t.Errorf("%s: %T %v, want VerificationCode.Res %v", c.name, res, res, c.want)
		}
	}
	if got := goldOf(p); got != before+phoneBonus {
		t.Fatalf("gold after refused bonuses = %d, want %d", got, before+phoneBonus)
	}
}
