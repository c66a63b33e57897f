package game

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// Snap is a loaded player with its version and recent commands.
type Snap = events.Snapshot[*Player]

func okCode() *int32               { return proto.Int32(int32(def.ResCode_RC_OK)) }
func codeOf(rc def.ResCode) *int32 { return proto.Int32(int32(rc)) }
func isOK(rc def.ResCode) bool     { return rc == def.ResCode_RC_OK }
func ids(id ...int64) []int64      { return id }

// single adapts a one-player decide to Exec, keeping its code in *rc. A
// player that was never created (no login yet) changes nothing.
func single(f func(*Player) ([]events.Emit, def.ResCode), rc *def.ResCode) func([]*Snap) []events.Emit {
	return func(s []*Snap) []events.Emit {
		if !s[0].State.GetCreated() {
			*rc = def.ResCode_RC_LOGIN_REQUIRED
			return nil
		}
		var evs []events.Emit
		evs, *rc = f(s[0].State)
		return evs
	}
}

// exec runs a command on players through the event store, serialised with
// this worker's other commands on the same players, and sends the pushes its
// events call for.
func (w *Worker) exec(ctx context.Context, cmd events.Cmd, players []int64, decide func([]*Snap) []events.Emit) (*events.Outcome[*Player], error) {
	unlock := w.locks.lock(players...)
	out, err := w.players.Exec(ctx, cmd, players, decide)
	unlock()
	if err != nil {
		return nil, err
	}
	w.push(out)
	return out, nil
}

// load reads one player (cache checked against the stream).
func (w *Worker) load(ctx context.Context, id int64) (*Player, error) {
	s, err := w.players.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.State, nil
}

func (w *Worker) echo(_ context.Context, r *request) (proto.Message, error) {
	req := r.msg.(*msg.Echo_Req)
	return &msg.Echo_Res{Val: req.Val, Ct: req.Ct}, nil
}

func (w *Worker) login(ctx context.Context, r *request) (proto.Message, error) {
	if r.uid == 0 {
		// The gate sets Hive-User from the verified token; without it the
		// gate did not verify one.
		return &msg.Login_Res{Code: codeOf(def.ResCode_RC_LOGIN_TOKEN_INVALID)}, nil
	}
	// Creation is its own command, not one batch with the login: a single
	// event appends ~80x faster than an atomic batch on an R1 file stream,
	// and a player created but not yet logged in is a consistent state.
	create := events.Cmd{ID: r.cmd.ID + "/create", Corr: r.cmd.Corr}
	if _, err := w.exec(ctx, create, ids(r.uid), func(s []*Snap) []events.Emit {
		return decideCreate(w.data, s[0].State, r.uid, r.now)
	}); err != nil {
		return nil, err
	}
	// A login elsewhere is kicked by the gates themselves (the login
	// announcement on user.<uid>), so the game only records the session.
	out, err := w.exec(ctx, r.cmd, ids(r.uid), func(s []*Snap) []events.Emit {
		return decideLogin(s[0].State, r.uid, r.gate, r.session, r.now)
	})
	if err != nil {
		return nil, err
	}
	u, _ := viewUser(out.States[0].State, true)
	return &msg.Login_Res{Code: okCode(), User: u}, nil
}

// logout ends the login of the requesting session (Logout.Req's account
// field is not trusted: the user is Hive-User). The gate also sends it, with
// no reply subject, when a logged-in session ends without one.
func (w *Worker) logout(ctx context.Context, r *request) (proto.Message, error) {
	out, err := w.exec(ctx, r.cmd, ids(r.uid), func(s []*Snap) []events.Emit {
		return decideLogout(s[0].State, r.uid, r.gate, r.session, r.now)
	})
	if err != nil {
		return nil, err
	}
	if len(out.Events) > 0 {
		// A durable snapshot at logout keeps the next login's tail short.
		if err := w.players.SaveSnapshot(ctx, out.States[0]); err != nil {
			w.log.Warn("game: snapshot at logout", "user", r.uid, "err", err)
		}
	}
	return &msg.Logout_Res{Code: okCode()}, nil
}

func (w *Worker) getUser(ctx context.Context, r *request) (proto.Message, error) {
	id := r.msg.(*msg.GetUser_Req).GetId()
	if id < 0 {
		return &msg.GetUser_Res{Code: codeOf(def.ResCode_RC_BAD_REQUEST)}, nil
	}
	self := id == 0 || id == r.uid
	if self {
		id = r.uid
	}
	s, err := w.load(ctx, id)
	if err != nil {
		return nil, err
	}
	u, rc := viewUser(s, self)
	return &msg.GetUser_Res{Code: codeOf(rc), User: u}, nil
}

func (w *Worker) getItems(ctx context.Context, r *request) (proto.Message, error) {
	s, err := w.load(ctx, r.uid)
	if err != nil {
		return nil, err
	}
	items, rc := viewItems(w.data, s, r.msg.(*msg.GetItems_Req).GetIdx())
	return &msg.GetItems_Res{Code: codeOf(rc), Items: items}, nil
}

func (w *Worker) giftItems(ctx context.Context, r *request) (proto.Message, error) {
	req := r.msg.(*msg.GiftItems_Req)
	rc, err := w.gift(ctx, r, req.GetDstId(), req.GetItemIdx(), int64(req.GetItemNum()))
	if err != nil {
		return nil, err
	}
	return &msg.GiftItems_Res{Code: codeOf(rc)}, nil
}

// gift serves GiftItems and SetEvent ITEM_GIFT.
func (w *Worker) gift(ctx context.Context, r *request, dst int64, idx int32, num int64) (def.ResCode, error) {
	if rc := checkGift(w.data, r.uid, dst, idx, num); !isOK(rc) {
		return rc, nil
	}
	rc := def.ResCode_RC_OK
	out, err := w.exec(ctx, r.cmd, ids(r.uid, dst), func(s []*Snap) []events.Emit {
		var evs []events.Emit
		evs, rc = decideGift(w.data, s[0].State, s[1].State, r.uid, dst, idx, num, r.now)
		return evs
	})
	if err != nil {
		return 0, err
	}
	if out.Duplicate {
		return def.ResCode_RC_OK, nil
	}
	return rc, nil
}

func (w *Worker) setEvent(ctx context.Context, r *request) (proto.Message, error) {
	ev := r.msg.(*msg.SetEvent_Req).GetEvent()
	var rc def.ResCode
	var err error
	switch def.EventType(ev.GetOper()) {
	case def.EventType_EVENT_RENAME:
		rc, err = w.rename(ctx, r, ev.GetArgStr())
	case def.EventType_EVENT_MOD_ICON:
		rc, err = w.simple(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideIcon(s, r.uid, ev.GetArgA(), r.now) })
	case def.EventType_EVENT_MOD_MOTTO:
		rc, err = w.simple(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideMotto(s, r.uid, ev.GetArgStr(), r.now) })
	case def.EventType_EVENT_SCENE_ENTER:
		rc, err = w.simple(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideSceneEnter(s, r.uid, ev.GetArgA(), r.now) })
	case def.EventType_EVENT_SCENE_LEAVE:
		rc, err = w.simple(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideSceneLeave(s, r.uid, r.now) })
	case def.EventType_EVENT_ITEM_USE:
		rc, err = w.simple(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) {
			return decideUse(w.data, s, r.uid, ev.GetArgA(), int64(ev.GetArgB()), r.now)
		})
	case def.EventType_EVENT_ITEM_GIFT:
		rc, err = w.gift(ctx, r, ev.GetArg_64(), ev.GetArgA(), int64(ev.GetArgB()))
	default:
		rc = def.ResCode_RC_EVENT_INVALID
	}
	if err != nil {
		return nil, err
	}
	return &msg.SetEvent_Res{Code: codeOf(rc)}, nil
}

// simple runs a one-player command and returns its code (OK for a duplicate).
func (w *Worker) simple(ctx context.Context, r *request, decide func(*Player) ([]events.Emit, def.ResCode)) (def.ResCode, error) {
	rc := def.ResCode_RC_OK
	out, err := w.exec(ctx, r.cmd, ids(r.uid), single(decide, &rc))
	if err != nil {
		return 0, err
	}
	if out.Duplicate {
		return def.ResCode_RC_OK, nil
	}
	return rc, nil
}

func (w *Worker) getMails(ctx context.Context, r *request) (proto.Message, error) {
	s, err := w.load(ctx, r.uid)
	if err != nil {
		return nil, err
	}
	mails, rc := viewMails(s, r.msg.(*msg.GetMails_Req).GetId())
	return &msg.GetMails_Res{Code: codeOf(rc), Mails: mails}, nil
}

func (w *Worker) readMail(ctx context.Context, r *request) (proto.Message, error) {
	id := r.msg.(*msg.ReadMail_Req).GetId()
	rc, err := w.simple(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideReadMail(s, r.uid, id, r.now) })
	if err != nil {
		return nil, err
	}
	return &msg.ReadMail_Res{Code: codeOf(rc)}, nil
}

func (w *Worker) claimMail(ctx context.Context, r *request) (proto.Message, error) {
	id := r.msg.(*msg.ClaimMail_Req).GetId()
	rc := def.ResCode_RC_OK
	var items []*def.Item
	out, err := w.exec(ctx, r.cmd, ids(r.uid), func(s []*Snap) []events.Emit {
		var evs []events.Emit
		evs, items, rc = decideClaimMail(w.data, s[0].State, r.uid, id, r.now)
		return evs
	})
	if err != nil {
		return nil, err
	}
	if out.Duplicate {
		// Answer the retried claim as the first one was answered.
		if m := findMail(out.States[0].State, id); m != nil {
			return &msg.ClaimMail_Res{Code: okCode(), Items: claimedItems(m)}, nil
		}
		return &msg.ClaimMail_Res{Code: okCode()}, nil
	}
	return &msg.ClaimMail_Res{Code: codeOf(rc), Items: items}, nil
}

func (w *Worker) deleteMail(ctx context.Context, r *request) (proto.Message, error) {
	id := r.msg.(*msg.DeleteMail_Req).GetId()
	rc, err := w.simple(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideDeleteMail(s, r.uid, id, r.now) })
	if err != nil {
		return nil, err
	}
	return &msg.DeleteMail_Res{Code: codeOf(rc)}, nil
}
