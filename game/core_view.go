package game

import (
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
	var out []*def.Item
	for _, it := range s.GetUser().GetItems() {
		if idx == 0 || it.GetIdx() == idx {
			out = append(out, proto.Clone(it).(*def.Item))
		}
	}
	return out, def.ResCode_RC_OK
}

// brief is the public profile shown in ranks.
func brief(s *Player) *def.UserBrief {
	u := s.GetUser()
	return &def.UserBrief{Id: proto.Int64(u.GetId()), Name: proto.String(u.GetName()), Icon: u.Icon, Lvl: u.Lvl, Vip: u.Vip, Motto: u.Motto}
}
