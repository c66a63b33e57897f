package game

import (
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

// MailTypeSystem is def.Mail.type of a mail sent by operators.
const MailTypeSystem = 0

// findMail returns a mail of the player (deleted ones are gone from the state).
func findMail(s *Player, id int64) *def.Mail {
	if i := mailIndex(s, id); i >= 0 {
		return s.Mails[i]
	}
	return nil
}

// viewMails answers GetMails: every mail not deleted (id 0) or one.
func viewMails(s *Player, id int64) ([]*def.Mail, def.ResCode) {
	if id < 0 {
		return nil, def.ResCode_RC_BAD_REQUEST
	}
	var out []*def.Mail
	for _, m := range s.GetMails() {
		if id == 0 || m.GetId() == id {
			out = append(out, proto.Clone(m).(*def.Mail))
		}
	}
	if id != 0 && len(out) == 0 {
		return nil, def.ResCode_RC_MAIL_NOT_FOUND
	}
	return out, def.ResCode_RC_OK
}

// decideMail delivers a mail to a player; its id is the player's next.
func decideMail(d *Data, s *Player, uid int64, title, content string, items []Amount, now int64) ([]events.Emit, def.ResCode) {
	if !s.GetCreated() {
		return nil, def.ResCode_RC_USER_NOT_FOUND
	}
	for _, a := range items {
		if _, ok := d.Items[a.Idx]; !ok || a.Num <= 0 {
			return nil, def.ResCode_RC_ITEM_INVALID
		}
	}
	items, ok := sumAmounts(d, items)
	if !ok {
		// Attachments nobody could ever claim.
		return nil, def.ResCode_RC_ITEM_OVERFLOW
	}
	m := &def.Mail{
		Id: proto.Int64(s.GetLastMailId() + 1), Type: proto.Int32(MailTypeSystem), From: proto.Int64(0), To: proto.Int64(uid),
		Status: proto.Int32(int32(def.MailStatus_MAIL_NEW)), Title: proto.String(title), Content: proto.String(content),
		CreateTime: proto.Int64(now), UpdateTime: proto.Int64(now),
	}
	for _, a := range items {
		m.Items = append(m.Items, &def.Item{Id: proto.Int64(int64(a.Idx)), Idx: proto.Int32(a.Idx), Num: proto.Int64(a.Num),
			CreateTime: proto.Int64(now), UpdateTime: proto.Int64(now)})
	}
	return []events.Emit{{ID: uid, Event: &evt.MailReceived{Mail: m, At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

// decideReadMail marks a new mail read; reading it again changes nothing.
func decideReadMail(s *Player, uid, id int64, now int64) ([]events.Emit, def.ResCode) {
	m := findMail(s, id)
	if m == nil {
		return nil, def.ResCode_RC_MAIL_NOT_FOUND
	}
	if m.GetStatus() != int32(def.MailStatus_MAIL_NEW) {
		return nil, def.ResCode_RC_OK
	}
	return []events.Emit{{ID: uid, Event: &evt.MailRead{Id: proto.Int64(id), At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

// decideClaimMail grants a mail's attachments, exactly once (the claim and
// the grant are one event). It returns the items granted.
func decideClaimMail(d *Data, s *Player, uid, id int64, now int64) ([]events.Emit, []*def.Item, def.ResCode) {
	m := findMail(s, id)
	if m == nil {
		return nil, nil, def.ResCode_RC_MAIL_NOT_FOUND
	}
	if m.GetStatus() == int32(def.MailStatus_MAIL_EXTRACED) {
		return nil, nil, def.ResCode_RC_MAIL_ALREADY_CLAIMED
	}
	var items, totals []*evt.ItemDelta
	after := map[int32]int64{}
	for _, it := range m.GetItems() {
		n, seen := after[it.GetIdx()]
		if !seen {
			n = held(s, it.GetIdx())
		}
		n, ok := d.add(it.GetIdx(), n, it.GetNum())
		if !ok {
			return nil, nil, def.ResCode_RC_ITEM_OVERFLOW
		}
		after[it.GetIdx()] = n
		items = append(items, &evt.ItemDelta{Idx: proto.Int32(it.GetIdx()), Num: proto.Int64(it.GetNum())})
	}
	for _, it := range items {
		if n, ok := after[it.GetIdx()]; ok {
			totals = append(totals, &evt.ItemDelta{Idx: it.Idx, Num: proto.Int64(n)})
			delete(after, it.GetIdx())
		}
	}
	return []events.Emit{{ID: uid, Event: &evt.MailClaimed{Id: proto.Int64(id), Items: items, Totals: totals, At: proto.Int64(now)}}},
		claimedItems(m), def.ResCode_RC_OK
}

// claimedItems is what claiming m grants, as the client sees it.
func claimedItems(m *def.Mail) []*def.Item {
	if len(m.GetItems()) == 0 {
		return []*def.Item{}
	}
	return cloneItems(m.GetItems())
}

// decideDeleteMail deletes a mail (unclaimed attachments go with it).
func decideDeleteMail(s *Player, uid, id int64, now int64) ([]events.Emit, def.ResCode) {
	if findMail(s, id) == nil {
		return nil, def.ResCode_RC_MAIL_NOT_FOUND
	}
	return []events.Emit{{ID: uid, Event: &evt.MailDeleted{Id: proto.Int64(id), At: proto.Int64(now)}}}, def.ResCode_RC_OK
}
