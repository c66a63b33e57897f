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

// The zero result code is RC_OK, which command relies on for duplicates
// (this line does not compile otherwise).
var _ = [1]struct{}{}[def.ResCode_RC_OK]

// command runs one command on players through the event store (which takes
// this process's commands on a player in turns) and sends the pushes its
// events call for. decide returns the command's events and its result. A
// command found already applied (a retried request, Outcome.Duplicate) is
// not decided again and gives R's zero value: for a result code RC_OK,
// which is what its first run answered, since a command only appends (and
// so is only recorded) when it succeeds.
func command[R any](ctx context.Context, w *Worker, cmd events.Cmd, players []int64, decide func([]*Snap) ([]events.Emit, R)) (R, *events.Outcome[*Player], error) {
	res, out, err := events.Run(ctx, w.players, cmd, players, decide)
	if err != nil {
		return res, nil, err
	}
	w.push(out)
	return res, out, nil
}

// OnPlayer runs a one-player command of the requesting player and returns
// its code: decide (pure, no I/O) gets the player's state and returns the
// events to append and the code. The events are appended and applied and
// their pushes sent; a retried request (same request id on the same
// session) is not decided again and gets RC_OK; a player that was never
// created (no login yet) changes nothing and gets RC_LOGIN_REQUIRED.
func (w *Worker) OnPlayer(ctx context.Context, r *Request, decide func(*Player) ([]events.Emit, def.ResCode)) (def.ResCode, error) {
	rc, _, err := command(ctx, w, r.cmd, ids(r.uid), ifCreated(decide, def.ResCode_RC_LOGIN_REQUIRED))
	return rc, err
}

// ifCreated adapts a one-player decide: a player that was never created
// changes nothing and gets the result uncreated (RC_LOGIN_REQUIRED).
func ifCreated[R any](decide func(*Player) ([]events.Emit, R), uncreated R) func([]*Snap) ([]events.Emit, R) {
	return func(s []*Snap) ([]events.Emit, R) {
		if !s[0].State.GetCreated() {
			return nil, uncreated
		}
		return decide(s[0].State)
	}
}

// load reads one player: the cache checked against the stream, or the cache
// alone with Config.ReadsFromCache.
func (w *Worker) load(ctx context.Context, id int64) (*Player, error) {
	if w.cfg.ReadsFromCache {
		if s := w.players.Cached(ctx, id); s != nil {
			return s.State, nil
		}
	}
	s, err := w.players.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.State, nil
}

func (w *Worker) echo(_ context.Context, _ *Request, req *msg.Echo_Req) (*msg.Echo_Res, error) {
	return &msg.Echo_Res{Val: req.Val, Ct: req.Ct}, nil
}

func (w *Worker) login(ctx context.Context, r *Request, _ *msg.Login_Req) (*msg.Login_Res, error) {
	if r.uid == 0 {
		// The gate sets Hive-User from the verified token; without it the
		// gate did not verify one.
		return &msg.Login_Res{Code: codeOf(def.ResCode_RC_LOGIN_TOKEN_INVALID)}, nil
	}
	// Creation is its own command, not one batch with the login: a single
	// event appends ~80x faster than an atomic batch on an R1 file stream,
	// and a player created but not yet logged in is a consistent state.
	create := events.Cmd{ID: r.cmd.ID + "/create", Corr: r.cmd.Corr}
	if _, _, err := command(ctx, w, create, ids(r.uid), func(s []*Snap) ([]events.Emit, def.ResCode) {
		return decideCreate(w.data, s[0].State, r.uid, r.now), def.ResCode_RC_OK
	}); err != nil {
		return nil, err
	}
	// A login elsewhere is kicked by the gates themselves (the login
	// announcement on user.<uid>), so the game only records the session.
	_, out, err := command(ctx, w, r.cmd, ids(r.uid), func(s []*Snap) ([]events.Emit, def.ResCode) {
		return decideLogin(s[0].State, r.uid, r.gate, r.session, r.now), def.ResCode_RC_OK
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
func (w *Worker) logout(ctx context.Context, r *Request, _ *msg.Logout_Req) (*msg.Logout_Res, error) {
	_, out, err := command(ctx, w, r.cmd, ids(r.uid), func(s []*Snap) ([]events.Emit, def.ResCode) {
		return decideLogout(s[0].State, r.uid, r.gate, r.session, r.now), def.ResCode_RC_OK
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

func (w *Worker) getUser(ctx context.Context, r *Request, req *msg.GetUser_Req) (*msg.GetUser_Res, error) {
	id := req.GetId()
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

func (w *Worker) getItems(ctx context.Context, r *Request, req *msg.GetItems_Req) (*msg.GetItems_Res, error) {
	s, err := w.load(ctx, r.uid)
	if err != nil {
		return nil, err
	}
	items, rc := viewItems(w.data, s, req.GetIdx())
	return &msg.GetItems_Res{Code: codeOf(rc), Items: items}, nil
}

func (w *Worker) giftItems(ctx context.Context, r *Request, req *msg.GiftItems_Req) (*msg.GiftItems_Res, error) {
	rc, err := w.gift(ctx, r, req.GetDstId(), req.GetItemIdx(), int64(req.GetItemNum()))
	if err != nil {
		return nil, err
	}
	return &msg.GiftItems_Res{Code: codeOf(rc)}, nil
}

func (w *Worker) setEvent(ctx context.Context, r *Request, req *msg.SetEvent_Req) (*msg.SetEvent_Res, error) {
	ev := req.GetEvent()
	var rc def.ResCode
	var err error
	switch def.EventType(ev.GetOper()) {
	case def.EventType_EVENT_RENAME:
		rc, err = w.rename(ctx, r, ev.GetArgStr())
	case def.EventType_EVENT_MOD_ICON:
		rc, err = w.OnPlayer(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideIcon(s, r.uid, ev.GetArgA(), r.now) })
	case def.EventType_EVENT_MOD_MOTTO:
		rc, err = w.OnPlayer(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideMotto(s, r.uid, ev.GetArgStr(), r.now) })
	case def.EventType_EVENT_SCENE_ENTER:
		rc, err = w.OnPlayer(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideSceneEnter(s, r.uid, ev.GetArgA(), r.now) })
	case def.EventType_EVENT_SCENE_LEAVE:
		rc, err = w.OnPlayer(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideSceneLeave(s, r.uid, r.now) })
	case def.EventType_EVENT_ITEM_USE:
		rc, err = w.OnPlayer(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) {
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

func (w *Worker) getMails(ctx context.Context, r *Request, req *msg.GetMails_Req) (*msg.GetMails_Res, error) {
	s, err := w.load(ctx, r.uid)
	if err != nil {
		return nil, err
	}
	mails, rc := viewMails(s, req.GetId())
	return &msg.GetMails_Res{Code: codeOf(rc), Mails: mails}, nil
}

func (w *Worker) readMail(ctx context.Context, r *Request, req *msg.ReadMail_Req) (*msg.ReadMail_Res, error) {
	rc, err := w.OnPlayer(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideReadMail(s, r.uid, req.GetId(), r.now) })
	return &msg.ReadMail_Res{Code: codeOf(rc)}, err // an error answers with a code of its own
}

// claimed is a claim's result: its code and the items it granted.
type claimed struct {
	items []*def.Item
	rc    def.ResCode
}

func (w *Worker) claimMail(ctx context.Context, r *Request, req *msg.ClaimMail_Req) (*msg.ClaimMail_Res, error) {
	id := req.GetId()
	res, out, err := command(ctx, w, r.cmd, ids(r.uid), func(s []*Snap) ([]events.Emit, claimed) {
		evs, items, rc := decideClaimMail(w.data, s[0].State, r.uid, id, r.now)
		return evs, claimed{items, rc}
	})
	if err != nil {
		return nil, err
	}
	if out.Duplicate {
		// Answer the retried claim with the items the first one granted.
		if m := findMail(out.States[0].State, id); m != nil {
			res.items = claimedItems(m)
		}
	}
	return &msg.ClaimMail_Res{Code: codeOf(res.rc), Items: res.items}, nil
}

func (w *Worker) deleteMail(ctx context.Context, r *Request, req *msg.DeleteMail_Req) (*msg.DeleteMail_Res, error) {
	rc, err := w.OnPlayer(ctx, r, func(s *Player) ([]events.Emit, def.ResCode) { return decideDeleteMail(s, r.uid, req.GetId(), r.now) })
	return &msg.DeleteMail_Res{Code: codeOf(rc)}, err // an error answers with a code of its own
}
