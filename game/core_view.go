package game

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
)

// viewUser answers GetUser: the player itself with its items, another
// player's profile without them, RC_USER_NOT_FOUND for one never created.
func viewUser(s *Player, self bool) (*def.User, def.ResCode) {
	if !s.GetCreated() {
		return nil, def.ResCode_RC_USER_NOT_FOUND
	}
	u := proto.Clone(s.GetUser()).(*def.User)
	if !self {
		u.Items = nil
	}
	return u, def.ResCode_RC_OK
}

// viewItems answers GetItems: all items (idx 0) or those of one known kind.
func viewItems(d *Data, s *Player, idx int32) ([]*def.Item, def.ResCode) {
	if idx != 0 {
		if _, ok := d.Items[idx]; !ok {
			return nil, def.ResCode_RC_ITEM_INVALID
		}
	}
	items := s.GetUser().GetItems()
	if idx == 0 {
		return cloneItems(items), def.ResCode_RC_OK
	}
	var sel []*def.Item
	for _, it := range items {
		if it.GetIdx() == idx {
			sel = append(sel, it)
		}
	}
	return cloneItems(sel), def.ResCode_RC_OK
}

// itemCopy is a def.Item with room for its fields' values, so a copy is one
// allocation instead of proto.Clone's one per set field.
type itemCopy struct {
	item                    def.Item
	id, num, create, update int64
	idx                     int32
}

// cloneItems returns deep copies of items (nil for none) in two
// allocations, the same as proto.Clone of each: answers never share memory
// with a state the event store may fold further.
func cloneItems(items []*def.Item) []*def.Item {
	if len(items) == 0 {
		return nil
	}
	slab := make([]itemCopy, len(items))
	out := make([]*def.Item, len(items))
	for i, it := range items {
		c := &slab[i]
		if it.Id != nil {
			c.id, c.item.Id = *it.Id, &c.id
		}
		if it.Idx != nil {
			c.idx, c.item.Idx = *it.Idx, &c.idx
		}
		if it.Num != nil {
			c.num, c.item.Num = *it.Num, &c.num
		}
		if it.CreateTime != nil {
			c.create, c.item.CreateTime = *it.CreateTime, &c.create
		}
		if it.UpdateTime != nil {
			c.update, c.item.UpdateTime = *it.UpdateTime, &c.update
		}
		if u := it.ProtoReflect().GetUnknown(); len(u) > 0 {
			c.item.ProtoReflect().SetUnknown(slices.Clone(u))
		}
		out[i] = &c.item
	}
	return out
}

// brief is the public profile shown in ranks.
func brief(s *Player) *def.UserBrief {
	u := s.GetUser()
	return &def.UserBrief{Id: proto.Int64(u.GetId()), Name: proto.String(u.GetName()), Icon: u.Icon, Lvl: u.Lvl, Vip: u.Vip, Motto: u.Motto}
}
