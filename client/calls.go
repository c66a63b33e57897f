package client

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// Login presents the token from uc (Auth.Res token); it must be the first
// request of a session. It returns the player, created on first login.
// RC_LOGIN_TOKEN_INVALID / RC_LOGIN_TOKEN_EXPIRED mean authenticate again.
func (s *Session) Login(ctx context.Context, token string) (*def.User, error) {
	res, err := Call[*msg.Login_Res](ctx, s, &msg.Login_Req{Token: proto.String(token)})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.user = res.GetUser()
	s.mu.Unlock()
	return res.GetUser(), nil
}

// Logout ends the login of the session's account (the one Login returned).
// The connection stays open until Close or the server closes it.
func (s *Session) Logout(ctx context.Context) error {
	_, err := Call[*msg.Logout_Res](ctx, s, &msg.Logout_Req{Account: proto.Int64(s.User().GetAccount())})
	return err
}

// Echo sends val and the client time in milliseconds (ct) and returns the
// server's echo of both; it is also the heartbeat.
func (s *Session) Echo(ctx context.Context, val int64) (*msg.Echo_Res, error) {
	return Call[*msg.Echo_Res](ctx, s, &msg.Echo_Req{Val: proto.Int64(val), Ct: proto.Int64(time.Now().UnixMilli())})
}

// GetUser returns player id, 0 for the session's own (with items); another
// player comes as a profile without items. RC_USER_NOT_FOUND for no such player.
func (s *Session) GetUser(ctx context.Context, id int64) (*def.User, error) {
	res, err := Call[*msg.GetUser_Res](ctx, s, &msg.GetUser_Req{Id: proto.Int64(id)})
	return res.GetUser(), err
}

// GetItems returns the player's items of kind idx, all for 0.
func (s *Session) GetItems(ctx context.Context, idx int32) ([]*def.Item, error) {
	res, err := Call[*msg.GetItems_Res](ctx, s, &msg.GetItems_Req{Idx: proto.Int32(idx)})
	return res.GetItems(), err
}

// GiftItems moves num items of kind idx from the player to player dst,
// atomically. Typical refusals: RC_ITEM_NOT_ENOUGH, RC_ITEM_NOT_GIFTABLE,
// RC_USER_NOT_FOUND, RC_GIFT_SELF.
func (s *Session) GiftItems(ctx context.Context, dst int64, idx, num int32) error {
	_, err := Call[*msg.GiftItems_Res](ctx, s, &msg.GiftItems_Req{
		DstId: proto.Int64(dst), ItemIdx: proto.Int32(idx), ItemNum: proto.Int32(num),
	})
	return err
}

// SetEvent performs one def.Event operation (oper from def.EventType).
func (s *Session) SetEvent(ctx context.Context, ev *def.Event) error {
	_, err := Call[*msg.SetEvent_Res](ctx, s, &msg.SetEvent_Req{Event: ev})
	return err
}

// Rename changes the player's name (SetEvent EVENT_RENAME).
// RC_NAME_INVALID or RC_NAME_TAKEN refuse it.
func (s *Session) Rename(ctx context.Context, name string) error {
	return s.SetEvent(ctx, &def.Event{Oper: proto.Int32(int32(def.EventType_EVENT_RENAME)), ArgStr: proto.String(name)})
}

// GetMails returns mail id, or all mails not deleted for 0.
func (s *Session) GetMails(ctx context.Context, id int64) ([]*def.Mail, error) {
	res, err := Call[*msg.GetMails_Res](ctx, s, &msg.GetMails_Req{Id: proto.Int64(id)})
	return res.GetMails(), err
}

// ClaimMail grants mail id's attachments and returns what was granted.
// RC_MAIL_ALREADY_CLAIMED on a second claim.
func (s *Session) ClaimMail(ctx context.Context, id int64) ([]*def.Item, error) {
	res, err := Call[*msg.ClaimMail_Res](ctx, s, &msg.ClaimMail_Req{Id: proto.Int64(id)})
	return res.GetItems(), err
}

// ReadMail marks mail id read.
func (s *Session) ReadMail(ctx context.Context, id int64) error {
	_, err := Call[*msg.ReadMail_Res](ctx, s, &msg.ReadMail_Req{Id: proto.Int64(id)})
	return err
}

// DeleteMail deletes mail id.
func (s *Session) DeleteMail(ctx context.Context, id int64) error {
	_, err := Call[*msg.DeleteMail_Res](ctx, s, &msg.DeleteMail_Req{Id: proto.Int64(id)})
	return err
}

// GetRank returns the leaderboard of item kind typ (players by amount held).
func (s *Session) GetRank(ctx context.Context, typ int32) (*def.Rank, error) {
	res, err := Call[*msg.GetRank_Res](ctx, s, &msg.GetRank_Req{Type: proto.Int32(typ)})
	return res.GetRank(), err
}
