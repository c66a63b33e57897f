package game

import (
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

// checkGift validates a gift before any state is read.
func checkGift(d *Data, from, to int64, idx int32, num int64) def.ResCode {
	switch it, ok := d.Items[idx]; {
	case num <= 0 || to <= 0:
		return def.ResCode_RC_BAD_REQUEST
	case from == to:
		return def.ResCode_RC_GIFT_SELF
	case !ok:
		return def.ResCode_RC_ITEM_INVALID
	case !it.Giftable:
		return def.ResCode_RC_ITEM_NOT_GIFTABLE
	}
	return def.ResCode_RC_OK
}

// decideGift is the debit of a gift, its commit point: GiftSent on the
// sender only, as transfer t (t.From and t.To the players). to is the
// receiver as last read, not held: a receiver unknown or already at its
// stack limit is refused here (canReceive), and one that filled up since is
// refunded when the credit finds it so (decideCredit).
func decideGift(d *Data, from, to *Player, t transfer, now int64) ([]events.Emit, def.ResCode) {
	if rc := canReceive(d, to, t); rc != def.ResCode_RC_OK {
		return nil, rc
	}
	have := held(from, t.Idx)
	if have < t.Num {
		return nil, def.ResCode_RC_ITEM_NOT_ENOUGH
	}
	return []events.Emit{{ID: t.From, Event: &evt.GiftSent{To: proto.Int64(t.To), Idx: proto.Int32(t.Idx), Num: proto.Int64(t.Num),
		Transfer: proto.String(t.ID), SentMs: proto.Int64(t.SentMs),
		Totals: []*evt.ItemDelta{{Idx: proto.Int32(t.Idx), Num: proto.Int64(have - t.Num)}}, At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

// canReceive is RC_OK when the receiver as read could take transfer t, or
// the reason it could not.
func canReceive(d *Data, to *Player, t transfer) def.ResCode {
	if rc := checkGift(d, t.From, t.To, t.Idx, t.Num); rc != def.ResCode_RC_OK {
		return rc
	}
	if !to.GetCreated() {
		return def.ResCode_RC_USER_NOT_FOUND
	}
	if _, ok := d.add(t.Idx, held(to, t.Idx), t.Num); !ok {
		return def.ResCode_RC_ITEM_OVERFLOW
	}
	return def.ResCode_RC_OK
}
