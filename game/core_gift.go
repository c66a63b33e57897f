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

// decideGift moves num of idx from one player to another: GiftSent on the
// sender and GiftReceived on the receiver, appended as one atomic batch.
func decideGift(d *Data, from, to *Player, fromID, toID int64, idx int32, num int64, now int64) ([]events.Emit, def.ResCode) {
	if rc := checkGift(d, fromID, toID, idx, num); rc != def.ResCode_RC_OK {
		return nil, rc
	}
	if !to.GetCreated() {
		return nil, def.ResCode_RC_USER_NOT_FOUND
	}
	have := held(from, idx)
	if have < num {
		return nil, def.ResCode_RC_ITEM_NOT_ENOUGH
	}
	after, ok := d.add(idx, held(to, idx), num)
	if !ok {
		return nil, def.ResCode_RC_ITEM_OVERFLOW
	}
	at := proto.Int64(now)
	return []events.Emit{
		{ID: fromID, Event: &evt.GiftSent{To: proto.Int64(toID), Idx: proto.Int32(idx), Num: proto.Int64(num),
			Totals: []*evt.ItemDelta{{Idx: proto.Int32(idx), Num: proto.Int64(have - num)}}, At: at}},
		{ID: toID, Event: &evt.GiftReceived{From: proto.Int64(fromID), Idx: proto.Int32(idx), Num: proto.Int64(num),
			Totals: []*evt.ItemDelta{{Idx: proto.Int32(idx), Num: proto.Int64(after)}}, At: at}},
	}, def.ResCode_RC_OK
}
