package game

import (
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

var transferSeq atomic.Int64

// newTransfer is a gift of num of idx from one player to another, with an id of its own.
func newTransfer(from, to int64, idx int32, num int64) transfer {
	n := transferSeq.Add(1)
	return transfer{ID: fmt.Sprint("t/", n), From: from, To: to, Idx: idx, Num: num, SentMs: now*1000 + n}
}

// giftBoth is a whole gift through the pure core, as a worker runs it with
// nothing in between: the debit and, when it is decided, the credit.
func giftBoth(d *Data, from, to *Player, fromID, toID int64, idx int32, num int64, now int64) ([]events.Emit, def.ResCode) {
	t := newTransfer(fromID, toID, idx, num)
	evs, rc := decideGift(d, from, to, t, now)
	if rc != def.ResCode_RC_OK {
		return evs, rc
	}
	credit, res := decideCredit(d, to, t, now, noRepeat)
	if res != transferCredited {
		panic(fmt.Sprintf("credit of a fresh gift: %v", res))
	}
	return append(evs, credit...), rc
}

// A credit applied once is recognised when it comes again, also after
// other transfers, and emits nothing.
func TestCreditOnce(t *testing.T) {
	d := DefaultData()
	a, b := created(t, 1), created(t, 2)
	tr := newTransfer(1, 2, gold, 10)
	a = fold(t, a, 1, debit(t, d, a, b, tr))
	evs, res := decideCredit(d, b, tr, now, noRepeat)
	if res != transferCredited || len(evs) != 1 || evs[0].Event.(*evt.GiftReceived).GetTransfer() != tr.ID {
		t.Fatalf("credit = %v, %v", res, evs)
	}
	b = fold(t, b, 2, evs)
	for range 100 {
		other := newTransfer(1, 2, gold, 1)
		evs, _ := decideCredit(d, b, other, now, noRepeat)
		b = fold(t, b, 2, evs)
	}
	if evs, res := decideCredit(d, b, tr, now, noRepeat); res != transferDone || len(evs) != 0 {
		t.Fatalf("second credit = %v, %v", res, evs)
	}
	if held(a, gold)+held(b, gold) != 2000+100 {
		t.Fatalf("gold %d + %d", held(a, gold), held(b, gold))
	}
}

// A receiver at its stack limit refuses the credit (GiftRefused, nothing
// moves), and the sender gets its items back once, even past the limit.
func TestRefusedCreditIsReturned(t *testing.T) {
	d := DefaultData()
	a, b := created(t, 1, Amount{card, 9990}), created(t, 2, Amount{card, 9990})
	tr := newTransfer(1, 2, card, 9)
	a = fold(t, a, 1, debit(t, d, a, b, tr))
	b = fold(t, b, 2, []events.Emit{{ID: 2, Event: &evt.ItemsGranted{Items: []*evt.ItemDelta{{Idx: ptr(card), Num: ptr(int64(9))}}}}})
	evs, res := decideCredit(d, b, tr, now, noRepeat)
	if res != transferRefused || len(evs) != 1 {
		t.Fatalf("credit at the limit = %v, %v", res, evs)
	}
	if rc := evs[0].Event.(*evt.GiftRefused).GetCode(); rc != int32(def.ResCode_RC_ITEM_OVERFLOW) {
		t.Fatalf("refused with %d", rc)
	}
	b = fold(t, b, 2, evs)
	if evs, res := decideCredit(d, b, tr, now, noRepeat); res != transferDone || len(evs) != 0 {
		t.Fatalf("credit after the refusal = %v, %v", res, evs)
	}
	// The sender filled up meanwhile: the refund goes past the limit.
	a = fold(t, a, 1, []events.Emit{{ID: 1, Event: &evt.ItemsGranted{Items: []*evt.ItemDelta{{Idx: ptr(card), Num: ptr(int64(18))}}}}})
	evs, res = decideReturn(a, tr, def.ResCode_RC_ITEM_OVERFLOW, now, noRepeat)
	if res != transferReturned || len(evs) != 1 {
		t.Fatalf("return = %v, %v", res, evs)
	}
	a = fold(t, a, 1, evs)
	if held(a, card) != 9999+9 || held(b, card) != 9999 {
		t.Fatalf("cards %d, %d", held(a, card), held(b, card))
	}
	if evs, res := decideReturn(a, tr, def.ResCode_RC_ITEM_OVERFLOW, now, noRepeat); res != transferDone || len(evs) != 0 {
		t.Fatalf("second return = %v, %v", res, evs)
	}
}

// Past transfersKept, a player forgets its oldest transfers; one of those
// coming again is left unresolved, never credited a second time, unless it
// is recent enough for the stream's dedup window to drop the repeat; one
// not seen yet but newer than all it forgot is still credited.
func TestForgottenTransferIsNotCreditedAgain(t *testing.T) {
	d := DefaultData()
	b := created(t, 2)
	first := newTransfer(1, 2, gold, 1)
	late := newTransfer(1, 2, gold, 1)
	late.SentMs += 1 << 40 // debited after everything below
	evs, _ := decideCredit(d, b, first, now, noRepeat)
	b = fold(t, b, 2, evs)
	for range transfersKept {
		evs, _ := decideCredit(d, b, newTransfer(1, 2, gold, 1), now, noRepeat)
		b = fold(t, b, 2, evs)
	}
	if len(b.GetTransfers()) != transfersKept || b.GetTransferFloor() != first.SentMs {
		t.Fatalf("kept %d, floor %d (first %d)", len(b.GetTransfers()), b.GetTransferFloor(), first.SentMs)
	}
	if evs, res := decideCredit(d, b, first, now, noRepeat); res != transferUnresolved || len(evs) != 0 {
		t.Fatalf("forgotten transfer again = %v, %v", res, evs)
	}
	// Sent recently enough for the stream to drop a repeat of its credit
	// (the same Msg-Id), it is decided again; the stream keeps it once.
	if evs, res := decideCredit(d, b, first, now, first.SentMs); res != transferCredited || len(evs) != 1 {
		t.Fatalf("forgotten transfer within the dedup window = %v, %v", res, evs)
	}
	if _, res := decideCredit(d, b, late, now, noRepeat); res != transferCredited {
		t.Fatalf("newer transfer = %v", res)
	}
}

// debit is decideGift of tr, which must succeed.
func debit(t *testing.T, d *Data, from, to *Player, tr transfer) []events.Emit {
	t.Helper()
	evs, rc := decideGift(d, from, to, tr, now)
	wantCode(t, "debit", rc, def.ResCode_RC_OK)
	return evs
}

func ptr[T any](v T) *T { return &v }

// noRepeat is a repeatFrom after every transfer: a forgotten transfer is
// never settled again (a stream without a dedup window).
const noRepeat = math.MaxInt64
