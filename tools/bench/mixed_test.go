package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/client/clienttest"
	"github.com/qeetap/hive/game"
	"github.com/qeetap/hive/gate"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
	"github.com/qeetap/hive/tools/internal/tooltest"
	"github.com/qeetap/hive/uc"
)

// hive is a real Hive in the test's process: embedded NATS with
// permissions, uc, one game worker and one gate, wired as `hive dev` wires
// them, with the per-address and per-session limits off as a bench needs.
type hive struct {
	nats       *testenv.NATS
	uc         string // base URL
	adminToken string
}

type shutdowner interface{ Shutdown(context.Context) error }

func startHive(t *testing.T) *hive {
	t.Helper()
	n := testenv.StartNATS(t)
	reg, c := registry.NewMemory(), cache.NewMemory()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &hive{nats: n, adminToken: "bench-test-admin"}
	stop := func(s shutdowner) {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.Shutdown(ctx)
		})
	}
	js := func(r bus.Role) (*jetstreamConn, error) {
		nc := n.ConnectAs(t, r)
		j, err := jetstream.New(nc)
		return &jetstreamConn{nc: nc, js: j}, err
	}

	ucc, err := js(bus.RoleUC)
	if err != nil {
		t.Fatal(err)
	}
	ucCfg := uc.DefaultConfig()
	ucCfg.Listen, ucCfg.IPRate, ucCfg.CreateLimit, ucCfg.SMSLogCodes = "127.0.0.1:0", 0, 0, true
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	u, err := uc.New(ucCfg, uc.Deps{NC: ucc.nc, JS: ucc.js, Registry: reg, Cache: c, Logger: log,
		Signer: token.NewSigner(key, ucCfg.TokenIssuer, ucCfg.TokenTTL)})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	stop(u)
	h.uc = "http://" + u.Addr()

	gc, err := js(bus.RoleGame)
	if err != nil {
		t.Fatal(err)
	}
	gameCfg := game.DefaultConfig()
	gameCfg.AdminToken = h.adminToken
	w, err := game.New(gameCfg, game.Deps{NC: gc.nc, JS: gc.js, Cache: c, Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	stop(w)

	gateCfg := gate.DefaultConfig()
	gateCfg.Listen, gateCfg.ID = "127.0.0.1:0", "bench-test"
	gateCfg.MaxConnsPerIP, gateCfg.LoginRatePerIP, gateCfg.Rate = 0, 0, 0
	g, err := gate.New(gateCfg, gate.Deps{NC: n.ConnectAs(t, bus.RoleGate), Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	stop(g)
	return h
}

type jetstreamConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// The mixed scenario against a real Hive: every api of the mix is sent and
// answered without an error, the CCU reaches every connection, the report
// has a row per api and CPU figures; a mail with attachments sent to every
// player is claimed once by each, and only once.
func TestBenchMixed(t *testing.T) {
	h := startHive(t)
	const conns = 4
	prefix := "bench-mixed-test-players-"
	opt := Options{UC: h.uc, Conns: conns, Duration: 2 * time.Second, Scenario: ScenarioMixed, Prefix: prefix,
		RatePerConn: 20, RampRate: 4, Mix: "getuser=1,getitems=1,mail=1,gift=1,relogin=1"} // a 1 s ramp
	var out, progress tooltest.Buffer
	opt.Out, opt.Progress = &out, &progress
	res, err := Run(tooltest.Ctx(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Failed() || res.Scenario != ScenarioMixed || res.Conns != conns || res.Ramp == nil || res.Ramp.Errors != 0 {
		t.Fatalf("result %+v, errors %v", res, res.ErrorsByCode)
	}
	for _, api := range []string{apiLogin, apiLogout, apiGetUser, apiGetItems, apiGetMails, apiGift} {
		a := res.APIs[api]
		if a == nil || a.Requests == 0 || a.Errors != 0 || a.P50ms <= 0 || a.P99ms < a.P50ms {
			t.Errorf("api %s: %+v", api, a)
		}
	}
	if res.APIs[apiClaimMail] != nil {
		t.Errorf("claims without mail: %+v", res.APIs[apiClaimMail])
	}
	// Logins: one per connection, and one after each logout, but the end
	// of the run may cut off a player's login after its logout. The first
	// player logs in at the ramp's start; a slow start may push a later
	// one past its end.
	if got, out := sent(res, apiLogin), sent(res, apiLogout); got > conns+out || got < out || got < conns || res.Ramp.APIs[apiLogin] == nil {
		t.Errorf("%d logins (in the ramp: %+v) after %d logouts on %d connections", got, res.Ramp.APIs[apiLogin], out, conns)
	}
	if res.CCU == nil || res.CCU.Target != conns || res.CCU.Max < 1 || res.CCU.Max > conns || res.CCU.Samples == 0 {
		t.Errorf("ccu %+v", res.CCU)
	}
	if c := res.CPU; c == nil || c.BenchPID != os.Getpid() || c.ServerPID != os.Getpid() || c.SteadyS <= 0 || c.BenchS <= 0 {
		t.Errorf("cpu %+v", res.CPU)
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("final line %q: %v", out.Bytes(), err)
	}
	for _, k := range []string{"apis", "ccu", "cpu", "ramp"} {
		if _, ok := line[k]; !ok {
			t.Errorf("final line lacks %s: %s", k, out.Bytes())
		}
	}
	if !strings.Contains(progress.String(), `"ccu":`) {
		t.Errorf("progress %q", progress.String())
	}

	// The same players again, after a mail with gold to each: each claims it
	// once (a claimed mail is not claimed again).
	ctx := tooltest.Ctx(t)
	mr, err := game.SendMail(ctx, h.nats.Conn, h.adminToken, game.MailRequest{All: true, Title: "gift",
		Items: []game.Amount{{Idx: int32(def.ItemType_ITEM_GOLD), Num: 5}}})
	if err != nil || mr.Delivered != conns {
		t.Fatalf("mail: %+v, %v", mr, err)
	}
	opt.Mix, opt.Out, opt.Progress = "mail=1", nil, nil
	res, err = Run(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Ramp.Errors != 0 || sent(res, apiGetMails) == 0 || sent(res, apiClaimMail) != conns {
		t.Fatalf("result %+v, apis %+v, ramp %+v, errors %v", res, res.APIs, res.Ramp, res.ErrorsByCode)
	}
	// Nobody logs out in this mix: every connection stays logged in.
	if c := res.CCU; c.Min != conns || c.Max != conns || c.Mean != conns {
		t.Errorf("ccu %+v, want %d throughout", c, conns)
	}
}

// sent is how many requests of api a mixed run sent, in its ramp and after.
func sent(res *Result, api string) (n int64) {
	for _, apis := range []map[string]*APIResult{res.APIs, res.Ramp.APIs} {
		if a := apis[api]; a != nil {
			n += a.Requests
		}
	}
	return n
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix(DefaultMix)
	if err != nil || m != (Mix{30, 40, 25, 3, 2}) {
		t.Fatalf("ParseMix(DefaultMix) = %v, %v", m, err)
	}
	if m, err := ParseMix(" gift=1 "); err != nil || m != (Mix{actGift: 1}) {
		t.Fatalf("ParseMix(gift=1) = %v, %v", m, err)
	}
	for _, bad := range []string{"", "getuser", "getuser=x", "getuser=-1", "dance=1", "gift=0,mail=0"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q): no error", bad)
		}
	}
}

// A push waiting on the connection when a mixed player sends a request
// (here a GetItems.Res refusing, pushed right after the login) is read and
// dropped first, not taken for the answer to the player's next GetItems.
func TestMixedSkipsPushes(t *testing.T) {
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m protoMessage) {
		clienttest.DefaultHandler(p, api, m)
		if api == "msg.Login.Req" {
			p.Send(&msg.GetItems_Res{Code: proto.Int32(int32(def.ResCode_RC_ITEM_INVALID))})
		}
	})
	ctx := tooltest.Ctx(t)
	opt := Options{Timeout: 10 * time.Second}
	players := []*benchPlayer{{opt: opt, token: "good", addr: g.Addr(), id: 1}}
	defer players[0].close()
	st := newMixedStats()
	items, err := newBenchReq(&msg.GetItems_Req{Idx: proto.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMixedPlayer(0, opt, Mix{actGetItems: 1}, players, st, &mixedShared{getItems: items})
	if err != nil {
		t.Fatal(err)
	}
	m.connect(ctx)
	c := &players[0].bc
	for deadline := time.Now().Add(10 * time.Second); c.conn != nil && c.r.Buffered() == 0 && inQueue(c.conn) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the push never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.do(ctx, apiGetItems, items); err != nil {
		t.Fatalf("GetItems after a push: %v", err)
	}
	if st.errs.Load() != 0 || st.ccu.Load() != 1 {
		t.Fatalf("errors %d, ccu %d", st.errs.Load(), st.ccu.Load())
	}
}

// A player whose logins are refused backs off (from 1 s, doubling) instead
// of trying again at every tick of its rate.
func TestMixedBacksOffRefusedLogins(t *testing.T) {
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m protoMessage) {
		if api == "msg.Login.Req" {
			p.Send(&msg.Login_Res{Code: proto.Int32(int32(def.ResCode_RC_COMMON_SERVER_NOT_READY))})
			return
		}
		clienttest.DefaultHandler(p, api, m)
	})
	opt := Options{Timeout: 10 * time.Second}
	players := []*benchPlayer{{opt: opt, token: "good", addr: g.Addr(), id: 1}}
	defer players[0].close()
	st := newMixedStats()
	m, err := newMixedPlayer(0, opt, Mix{actGetItems: 1}, players, st, &mixedShared{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tooltest.Ctx(t), 2500*time.Millisecond)
	defer cancel()
	m.run(ctx, time.Now(), 20*time.Millisecond) // 50 ticks a second
	// Attempts at 0, then at least 0.5 s, 1 s and 2 s apart: at most 3 in
	// 2.5 s (a try at every tick would be ~125).
	if n := st.apis[apiLogin].requests; n < 1 || n > 3 || st.ccu.Load() != 0 {
		t.Fatalf("%d login attempts in 2.5 s, ccu %d", n, st.ccu.Load())
	}
}

// Requests sent during the ramp are counted apart from the steady part's,
// whatever their api.
func TestMixedRampCountedApart(t *testing.T) {
	st := newMixedStats()
	st.steadyFrom = time.Now()
	st.record(apiLogin, st.steadyFrom.Add(-time.Millisecond), nil, time.Second)
	st.record(apiGetItems, st.steadyFrom.Add(-time.Millisecond), errors.New("refused"), time.Second)
	st.record(apiGetItems, st.steadyFrom, nil, time.Second)
	res := mixedResult(Options{}, st, &CPUResult{}, usage{}, usage{}, nil, 1)
	if res.Requests != 1 || res.Errors != 0 || res.APIs[apiGetItems].Requests != 1 || res.APIs[apiLogin] != nil {
		t.Fatalf("steady part: %+v, apis %+v", res, res.APIs)
	}
	if r := res.Ramp; r == nil || r.Requests != 2 || r.Errors != 1 || r.APIs[apiLogin].Requests != 1 || r.ErrorsByCode[ErrOther] != 1 {
		t.Fatalf("ramp %+v", res.Ramp)
	}
	if !res.Failed() {
		t.Fatal("1 failure in 3 requests is not a failed run")
	}
}
