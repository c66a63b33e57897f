package game

import (
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

// decideUse uses num items of idx: ItemsUsed, then the effect of the
// item-usage table (ItemsGranted, the grant times num), in one batch.
func decideUse(d *Data, s *Player, uid int64, idx int32, num int64, now int64) ([]events.Emit, def.ResCode) {
	if num <= 0 {
		return nil, def.ResCode_RC_BAD_REQUEST
	}
	if _, ok := d.Items[idx]; !ok {
		return nil, def.ResCode_RC_ITEM_INVALID
	}
	use, ok := d.Usage[idx]
	if !ok {
		return nil, def.ResCode_RC_ITEM_INVALID
	}
	have := held(s, idx)
	if have < num {
		return nil, def.ResCode_RC_ITEM_NOT_ENOUGH
	}
	totals := map[int32]int64{idx: have - num}
	grant := make([]Amount, 0, len(use.Grant))
	per, ok := sumAmounts(d, use.Grant)
	if !ok {
		return nil, def.ResCode_RC_ITEM_OVERFLOW
	}
	for _, g := range per {
		if g.Num > d.limit(g.Idx)/num { // the product alone passes the limit
			return nil, def.ResCode_RC_ITEM_OVERFLOW
		}
		g.Num *= num
		cur, seen := totals[g.Idx]
		if !seen {
			cur = held(s, g.Idx)
		}
		after, ok := d.add(g.Idx, cur, g.Num)
		if !ok {
			return nil, def.ResCode_RC_ITEM_OVERFLOW
		}
		totals[g.Idx] = after
		grant = append(grant, g)
	}
	at := proto.Int64(now)
	out := []events.Emit{{ID: uid, Event: &evt.ItemsUsed{Idx: proto.Int32(idx), Num: proto.Int64(num),
		Totals: []*evt.ItemDelta{{Idx: proto.Int32(idx), Num: proto.Int64(have - num)}}, At: at}}}
	if len(grant) > 0 {
		tot := make([]Amount, len(grant))
		for i, g := range grant {
			tot[i] = Amount{g.Idx, totals[g.Idx]}
		}
		out = append(out, events.Emit{ID: uid, Event: &evt.ItemsGranted{Items: deltas(grant), Totals: deltas(tot),
			Reason: proto.String("use"), At: at}})
	}
	return out, def.ResCode_RC_OK
}
