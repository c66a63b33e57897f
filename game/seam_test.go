package game_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/game"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/proto/rescode"
)

// This file adds a command from outside package game, the way
// docs/DESIGN.md ("Adding a command") says a studio does: a decide, a
// handler and one route line given to the worker through Deps.Routes,
// using only the game's exported API. A test cannot add proto messages,
// so the command borrows msg.VerificationCode (uc's REST pair, never
// served by the game) as its request and response, and emits
// evt.ItemsGranted, whose apply exists.

// phoneBonus is the gold a player gets for a verified phone number.
const phoneBonus = 50

var gold = int32(def.ItemType_ITEM_GOLD)

// decidePhoneBonus grants phoneBonus gold for a phone number of digits.
func decidePhoneBonus(s *game.Player, uid int64, phone string, now int64) ([]events.Emit, def.ResCode) {
	if phone == "" || strings.Trim(phone, "0123456789") != "" {
		return nil, def.ResCode_RC_BAD_REQUEST
	}
	total := int64(phoneBonus)
	for _, it := range s.GetUser().GetItems() {
		if it.GetIdx() == gold {
			total += it.GetNum()
		}
	}
	return []events.Emit{{ID: uid, Event: &evt.ItemsGranted{
		Items:  []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(phoneBonus)}},
		Totals: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(total)}},
		Reason: proto.String("phone"), At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

// phoneRoutes is what a studio passes as Deps.Routes: its handler and its
// route line.
func phoneRoutes(w *game.Worker) []*game.Handler {
	bonus := func(ctx context.Context, r *game.Request, req *msg.VerificationCode_Req) (*msg.VerificationCode_Res, error) {
		rc, err := w.OnPlayer(ctx, r, func(s *game.Player) ([]events.Emit, def.ResCode) {
			return decidePhoneBonus(s, r.User(), req.GetPhone(), r.Now())
		})
		return &msg.VerificationCode_Res{Code: proto.Int32(int32(rc))}, err
	}
	return []*game.Handler{game.Route(bonus)} // the route line
}

// startWorker runs a worker on a real bus, as cmd/hive builds one.
func startWorker(t *testing.T, n *testenv.NATS, routes func(*game.Worker) []*game.Handler) {
	t.Helper()
	nc := n.ConnectAs(t, bus.RoleGame)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	w, err := game.New(game.DefaultConfig(), game.Deps{NC: nc, JS: js, Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
}

var sessions atomic.Uint64

// gateSession sends requests as a gate session does (package envelope's
// headers) and decodes the answer named by Hive-Api.
type gateSession struct {
	nc      *nats.Conn
	session string
	uid     int64
}

func newSession(n *testenv.NATS, uid int64) *gateSession {
	return &gateSession{nc: n.Conn, session: strconv.FormatUint(sessions.Add(1), 10), uid: uid}
}

func (g *gateSession) send(t *testing.T, req proto.Message, reqID string) proto.Message {
	t.Helper()
	api := frame.API(req)
	data, err := proto.MarshalOptions{AllowPartial: true}.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(bus.RequestSubject(api))
	m.Data = data
	m.Header.Set(envelope.HdrGate, "g1")
	m.Header.Set(envelope.HdrSession, g.session)
	if g.uid != 0 {
		m.Header.Set(envelope.HdrUser, strconv.FormatInt(g.uid, 10))
	}
	m.Header.Set(envelope.HdrReq, reqID)
	resp, err := g.nc.RequestMsg(m, 20*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", api, err)
	}
	res, err := frame.Decode([]byte(resp.Header.Get(envelope.HdrAPI)), resp.Data)
	if err != nil {
		t.Fatalf("%s: answer: %v", api, err)
	}
	return res
}

var reqs atomic.Int64

func (g *gateSession) call(t *testing.T, req proto.Message) proto.Message {
	t.Helper()
	return g.send(t, req, fmt.Sprint("r", reqs.Add(1)))
}

func (g *gateSession) gold(t *testing.T) int64 {
	t.Helper()
	for _, it := range g.call(t, &msg.GetItems_Req{}).(*msg.GetItems_Res).GetItems() {
		if it.GetIdx() == gold {
			return it.GetNum()
		}
	}
	return 0
}

// The route line alone serves the new api through a real worker: decoding
// into the typed request, login checks, the answer named after the
// response type, the event appended and applied, and a retried request
// answered OK without a second grant.
func TestACommandAddedFromOutsideTheGame(t *testing.T) {
	n := testenv.StartNATS(t)
	startWorker(t, n, phoneRoutes)

	p := newSession(n, 7)
	if res := p.call(t, &msg.Login_Req{Token: proto.String("verified by the gate")}); !isCode(res, def.ResCode_RC_OK) {
		t.Fatalf("login = %v", res)
	}
	before := p.gold(t)
	for _, id := range []string{"verify-1", "verify-1"} { // the second is a retry
		res := p.send(t, &msg.VerificationCode_Req{Phone: proto.String("5551234")}, id)
		if _, ok := res.(*msg.VerificationCode_Res); !ok || !isCode(res, def.ResCode_RC_OK) {
			t.Fatalf("bonus (request %s) = %T %v, want VerificationCode.Res OK", id, res, res)
		}
	}
	if got := p.gold(t); got != before+phoneBonus {
		t.Fatalf("gold after a bonus and its retry = %d, want %d", got, before+phoneBonus)
	}

	refused := []struct {
		name string
		p    *gateSession
		req  *msg.VerificationCode_Req
		want def.ResCode
	}{
		{"not digits", p, &msg.VerificationCode_Req{Phone: proto.String("555-1234")}, def.ResCode_RC_BAD_REQUEST},
		{"phone missing", p, &msg.VerificationCode_Req{}, def.ResCode_RC_BAD_REQUEST},
		{"not logged in", newSession(n, 0), &msg.VerificationCode_Req{Phone: proto.String("1")}, def.ResCode_RC_LOGIN_REQUIRED},
		{"never created", newSession(n, 8), &msg.VerificationCode_Req{Phone: proto.String("1")}, def.ResCode_RC_LOGIN_REQUIRED},
	}
	for _, c := range refused {
		res := c.p.call(t, c.req)
		if _, ok := res.(*msg.VerificationCode_Res); !ok || !isCode(res, c.want) {
			t.Errorf("%s: %T %v, want VerificationCode.Res %v", c.name, res, res, c.want)
		}
	}
	if got := p.gold(t); got != before+phoneBonus {
		t.Fatalf("gold after refused bonuses = %d, want %d", got, before+phoneBonus)
	}
}

// A studio's route for an api the game already serves is refused by New,
// not left to shadow one of the two.
func TestARouteForAServedAPIIsRefused(t *testing.T) {
	n := testenv.StartNATS(t)
	nc := n.ConnectAs(t, bus.RoleGame)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	echo := func(w *game.Worker) []*game.Handler {
		return []*game.Handler{game.Route(func(context.Context, *game.Request, *msg.Echo_Req) (*msg.Echo_Res, error) {
			return &msg.Echo_Res{}, nil
		}, game.Public)}
	}
	_, err = game.New(game.DefaultConfig(), game.Deps{NC: nc, JS: js, Routes: echo})
	if err == nil || !strings.Contains(err.Error(), "msg.Echo.Req") {
		t.Fatalf("New with a second Echo route: %v, want an error naming msg.Echo.Req", err)
	}
}

func isCode(res proto.Message, want def.ResCode) bool {
	c, ok := rescode.Get(res)
	return ok && c == want
}
