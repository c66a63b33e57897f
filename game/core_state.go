package game

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

// Player is a player's state: the fold of apply over its events.
type Player = evt.PlayerState

// newPlayer is the state of a player with no events.
func newPlayer(id int64) *Player {
	return &Player{User: &def.User{Id: proto.Int64(id), Account: proto.Int64(id), Status: proto.Int32(0),
		CreateTime: proto.Int64(0), UpdateTime: proto.Int64(0)}}
}

// playerAggregate tells the event store how players fold and serialize.
var playerAggregate = events.Aggregate[*Player]{
	Kind: "player",
	Init: newPlayer,
	Apply: func(s *Player, e *events.Event) (*Player, error) {
		return s, apply(s, e.Msg)
	},
	Marshal: func(s *Player) ([]byte, error) { return proto.Marshal(s) },
	Unmarshal: func(b []byte) (*Player, error) {
		s := &Player{}
		if err := proto.Unmarshal(b, s); err != nil {
			return nil, err
		}
		return s, nil
	},
	Clone: clonePlayer,
}

// clonePlayer copies a player for a command to fold its events into. The
// transfer lists, most of a player's bytes (2 x transfersKept numbers),
// are shared rather than copied: settle never writes into them, it
// replaces them. Everything else is copied, as proto.Clone would (apply
// changes items and mails in place). A field added to Player must be
// added here: TestClonePlayerCopiesEveryField fails until it is.
func clonePlayer(s *Player) *Player {
	c := &Player{
		Created: copyPtr(s.Created), LastMailId: copyPtr(s.LastMailId), Scene: copyPtr(s.Scene), Online: copyPtr(s.Online),
		Gate: copyPtr(s.Gate), Session: copyPtr(s.Session), TransferFloor: copyPtr(s.TransferFloor),
		Transfers: s.Transfers, TransferSentMs: s.TransferSentMs,
	}
	if s.User != nil {
		c.User = proto.Clone(s.User).(*def.User)
	}
	if s.Mails != nil {
		c.Mails = make([]*def.Mail, len(s.Mails))
		for i, m := range s.Mails {
			c.Mails[i] = proto.Clone(m).(*def.Mail)
		}
	}
	if u := s.ProtoReflect().GetUnknown(); u != nil {
		c.ProtoReflect().SetUnknown(slices.Clone(u))
	}
	return c
}

// copyPtr copies the value p points to, if any.
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// held is how many of idx the player holds.
func held(s *Player, idx int32) int64 {
	for _, it := range s.GetUser().GetItems() {
		if it.GetIdx() == idx {
			return it.GetNum()
		}
	}
	return 0
}

// addItem changes the amount of idx by delta; an item at 0 is removed. It
// refuses to go below zero: that would be a decide bug, and folding it
// would hide it.
func addItem(s *Player, idx int32, delta, at int64) error {
	u := s.User
	i, found := slices.BinarySearchFunc(u.Items, idx, func(it *def.Item, idx int32) int { return int(it.GetIdx()) - int(idx) })
	if !found {
		if delta < 0 {
			return fmt.Errorf("item %d: %d below zero", idx, delta)
		}
		if delta == 0 {
			return nil
		}
		u.Items = slices.Insert(u.Items, i, &def.Item{Id: proto.Int64(int64(idx)), Idx: proto.Int32(idx),
			Num: proto.Int64(delta), CreateTime: proto.Int64(at), UpdateTime: proto.Int64(at)})
		return nil
	}
	it := u.Items[i]
	n := it.GetNum() + delta
	switch {
	case delta > 0 && n < it.GetNum():
		return fmt.Errorf("item %d: %d%+d overflows", idx, it.GetNum(), delta)
	case n < 0:
		return fmt.Errorf("item %d: %d%+d below zero", idx, it.GetNum(), delta)
	case n == 0:
		u.Items = slices.Delete(u.Items, i, i+1)
	default:
		it.Num, it.UpdateTime = proto.Int64(n), proto.Int64(at)
	}
	return nil
}

func addAll(s *Player, items []*evt.ItemDelta, sign, at int64) error {
	for _, d := range items {
		if err := addItem(s, d.GetIdx(), sign*d.GetNum(), at); err != nil {
			return err
		}
	}
	return nil
}

// mailIndex returns the position of mail id in s.Mails, or -1.
func mailIndex(s *Player, id int64) int {
	return slices.IndexFunc(s.Mails, func(m *def.Mail) bool { return m.GetId() == id })
}

func touch(s *Player, at int64) { s.User.UpdateTime = proto.Int64(at) }

// apply folds one event into a player's state (in place). It is pure: the
// same events give the same state, times come from the events.
func apply(s *Player, e proto.Message) error {
	switch e := e.(type) {
	case *evt.PlayerCreated:
		s.Created = proto.Bool(true)
		s.User.Account = proto.Int64(e.GetAccount())
		s.User.Name = proto.String(e.GetName())
		s.User.Status = proto.Int32(int32(def.AccountStatus_ACCOUNT_OPEN))
		s.User.CreateTime, s.User.UpdateTime = proto.Int64(e.GetAt()), proto.Int64(e.GetAt())
		return addAll(s, e.Items, 1, e.GetAt())
	case *evt.LoggedIn:
		s.Online, s.Gate, s.Session = proto.Bool(true), proto.String(e.GetGate()), proto.String(e.GetSession())
	case *evt.LoggedOut:
		s.Online, s.Gate, s.Session, s.Scene = nil, nil, nil, nil
	case *evt.ItemsGranted:
		return addAll(s, e.Items, 1, e.GetAt())
	case *evt.ItemsUsed:
		return addItem(s, e.GetIdx(), -e.GetNum(), e.GetAt())
	case *evt.GiftSent:
		return addItem(s, e.GetIdx(), -e.GetNum(), e.GetAt())
	case *evt.GiftReceived:
		settle(s, e.GetTransfer(), e.GetSentMs())
		return addItem(s, e.GetIdx(), e.GetNum(), e.GetAt())
	case *evt.GiftRefused:
		settle(s, e.GetTransfer(), e.GetSentMs())
	case *evt.GiftReturned:
		settle(s, e.GetTransfer(), e.GetSentMs())
		return addItem(s, e.GetIdx(), e.GetNum(), e.GetAt())
	case *evt.Renamed:
		s.User.Name = proto.String(e.GetName())
		touch(s, e.GetAt())
	case *evt.IconChanged:
		s.User.Icon = proto.Int32(e.GetIcon())
		touch(s, e.GetAt())
	case *evt.MottoChanged:
		s.User.Motto = proto.String(e.GetMotto())
		touch(s, e.GetAt())
	case *evt.SceneEntered:
		s.Scene = proto.Int32(e.GetScene())
	case *evt.SceneLeft:
		s.Scene = nil
	case *evt.MailReceived:
		m := proto.Clone(e.GetMail()).(*def.Mail)
		if mailIndex(s, m.GetId()) >= 0 || m.GetId() <= s.GetLastMailId() {
			return fmt.Errorf("mail id %d not new (last %d)", m.GetId(), s.GetLastMailId())
		}
		s.Mails = append(s.Mails, m)
		s.LastMailId = proto.Int64(m.GetId())
	case *evt.MailRead:
		i := mailIndex(s, e.GetId())
		if i < 0 {
			return fmt.Errorf("read of unknown mail %d", e.GetId())
		}
		s.Mails[i].Status, s.Mails[i].UpdateTime = proto.Int32(int32(def.MailStatus_MAIL_READED)), proto.Int64(e.GetAt())
	case *evt.MailClaimed:
		i := mailIndex(s, e.GetId())
		if i < 0 {
			return fmt.Errorf("claim of unknown mail %d", e.GetId())
		}
		s.Mails[i].Status, s.Mails[i].UpdateTime = proto.Int32(int32(def.MailStatus_MAIL_EXTRACED)), proto.Int64(e.GetAt())
		return addAll(s, e.Items, 1, e.GetAt())
	case *evt.MailDeleted:
		i := mailIndex(s, e.GetId())
		if i < 0 {
			return fmt.Errorf("delete of unknown mail %d", e.GetId())
		}
		s.Mails = slices.Delete(s.Mails, i, i+1)
	default:
		return fmt.Errorf("%w: %T is not a player event", events.ErrUnknownEvent, e)
	}
	return nil
}
