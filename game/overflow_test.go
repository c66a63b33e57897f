package game

import (
	"math"
	"testing"

	"github.com/qeetap/hive/proto/def"
)

// Gifting 10 gold to a holder of MaxInt64-5 must be refused with
// RC_ITEM_OVERFLOW and emit nothing: the sum would wrap negative, and a
// player with a negative amount can never be loaded again.
func TestGiftOverflowRefused(t *testing.T) {
	d := DefaultData()
	from := created(t, 1)
	to := created(t, 2, Amount{gold, math.MaxInt64 - 5 - 1000})
	if held(to, gold) != math.MaxInt64-5 {
		t.Fatalf("setup: %d", held(to, gold))
	}
	evs, rc := giftBoth(d, from, to, 1, 2, gold, 10, now)
	wantCode(t, "gift past MaxInt64", rc, def.ResCode_RC_ITEM_OVERFLOW)
	if len(evs) != 0 {
		t.Fatalf("overflowing gift emitted %v", evs)
	}
	// Up to MaxStack is fine, one more is not.
	to = created(t, 3, Amount{gold, MaxStack - 5 - 1000})
	_, rc = giftBoth(d, from, to, 1, 3, gold, 6, now)
	wantCode(t, "gift past MaxStack", rc, def.ResCode_RC_ITEM_OVERFLOW)
	evs, rc = giftBoth(d, from, to, 1, 3, gold, 5, now)
	wantCode(t, "gift to MaxStack", rc, def.ResCode_RC_OK)
	fold(t, to, 3, evs)
	if held(to, gold) != MaxStack {
		t.Fatalf("gold = %d", held(to, gold))
	}
}

// A mail whose attachments would push a held amount past the largest one
// cannot be claimed (RC_ITEM_OVERFLOW, nothing stored) and stays claimable.
func TestMailClaimOverflowRefused(t *testing.T) {
	d := DefaultData()
	s := created(t, 1, Amount{gold, MaxStack - 1000 - 1})
	evs, rc := decideMail(d, s, 1, "t", "", []Amount{{gold, 2}}, now)
	wantCode(t, "mail", rc, def.ResCode_RC_OK)
	s = fold(t, s, 1, evs)
	evs, _, rc = decideClaimMail(d, s, 1, 1, now)
	wantCode(t, "claim past MaxStack", rc, def.ResCode_RC_ITEM_OVERFLOW)
	if len(evs) != 0 {
		t.Fatalf("overflowing claim emitted %v", evs)
	}
	// Two attachments of the same kind, each fine alone, overflowing together.
	s2 := created(t, 2)
	big := []Amount{{gold, math.MaxInt64 / 2}, {diamond, 1}, {gold, math.MaxInt64 / 2}}
	evs, rc = decideMail(d, s2, 2, "t", "", big, now)
	if rc == def.ResCode_RC_OK {
		s2 = fold(t, s2, 2, evs)
		_, _, rc = decideClaimMail(d, s2, 2, 1, now)
	}
	wantCode(t, "mail or claim of two halves past MaxInt64", rc, def.ResCode_RC_ITEM_OVERFLOW)
}

// The effect of using items (grant times the number used) is checked the
// same way: the product and the sum.
func TestItemUseOverflowRefused(t *testing.T) {
	d := DefaultData()
	s := created(t, 1, Amount{card, 5}, Amount{gold, math.MaxInt64 - 1000 - 300})
	evs, rc := decideUse(d, s, 1, card, 4, now) // +400 gold: past the largest amount
	wantCode(t, "use past MaxInt64", rc, def.ResCode_RC_ITEM_OVERFLOW)
	if len(evs) != 0 {
		t.Fatalf("overflowing use emitted %v", evs)
	}
	s = created(t, 2, Amount{card, 5}, Amount{gold, MaxStack - 1000 - 300})
	_, rc = decideUse(d, s, 2, card, 4, now)
	wantCode(t, "use past MaxStack", rc, def.ResCode_RC_ITEM_OVERFLOW)
	if _, rc = decideUse(d, s, 2, card, 3, now); rc != def.ResCode_RC_OK {
		t.Fatalf("use to exactly MaxStack = %v", rc)
	}
	// A grant times the number used that overflows int64 on its own.
	d.Usage[card] = Usage{Idx: card, Grant: []Amount{{gold, math.MaxInt64 / 2}}}
	_, rc = decideUse(d, created(t, 3, Amount{card, 5}), 3, card, 3, now)
	wantCode(t, "use whose product overflows", rc, def.ResCode_RC_ITEM_OVERFLOW)
}

// The starting items and an operator's mail are sums too.
func TestMailAmountsOverflowRefused(t *testing.T) {
	d := DefaultData()
	s := created(t, 1)
	_, rc := decideMail(d, s, 1, "t", "", []Amount{{gold, math.MaxInt64}, {gold, 1}}, now)
	wantCode(t, "mail attachments summing past MaxInt64", rc, def.ResCode_RC_ITEM_OVERFLOW)
}
