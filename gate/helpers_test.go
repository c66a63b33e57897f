package gate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// waitFor is the generous bound of every "eventually" in these tests.
const waitFor = 15 * time.Second

// env is one test's world: embedded NATS, a token signer whose key is
// published in an in-process registry, and a fake game.
type env struct {
	t      *testing.T
	nats   *testenv.NATS
	reg    registry.Registry
	signer *token.Signer
	game   *fakeGame
}

func newEnv(t *testing.T) *env {
	t.Helper()
	n := testenv.StartNATS(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := token.NewSigner(key, "", time.Hour)
	reg := registry.NewMemory()
	pem, err := token.EncodePublicKey(signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.PublishKey(context.Background(), signer.KeyID(), pem); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, nats: n, reg: reg, signer: signer}
	e.game = startGame(t, n.ConnectAs(t, bus.RoleGame))
	return e
}

// token signs a valid token for uid.
func (e *env) token(uid int64) string {
	e.t.Helper()
	tok, _, err := e.signer.Sign(uid, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// testLogger logs warnings and errors only, so failures show what the gate saw.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startGate starts a gate on a loopback port with its own NATS connection
// (as a separate process would have) and shuts it down at the end.
func (e *env) startGate(mod func(*Config)) *Server {
	e.t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DrainTimeout = 5 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg, Deps{NC: e.nats.ConnectAs(e.t, bus.RoleGate), Registry: e.reg, Logger: testLogger(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return g
}

// answerFunc builds the game's answer to one request; nil means no answer.
type answerFunc func(m *nats.Msg, req proto.Message) proto.Message

// fakeGame is a test peer on the real bus: a queue subscriber on msg.*.Req
// that answers as a game worker does (Res protobuf to the reply subject,
// Hive-Api header, Hive-Req copied). Per-api behaviour can be replaced.
type fakeGame struct {
	t   *testing.T
	nc  *nats.Conn
	sub *nats.Subscription

	mu       sync.Mutex
	handlers map[string]answerFunc
	seen     []*nats.Msg    // every request received
	logouts  chan *nats.Msg // Logout.Req without a reply: disconnect logouts
}

func startGame(t *testing.T, nc *nats.Conn) *fakeGame {
	g := &fakeGame{t: t, nc: nc, handlers: map[string]answerFunc{}, logouts: make(chan *nats.Msg, 100)}
	sub, err := nc.QueueSubscribe(bus.RequestWildcard, bus.GameQueue, g.serve)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	g.sub = sub
	return g
}

// handle replaces the answer to api.
func (g *fakeGame) handle(api string, f answerFunc) {
	g.mu.Lock()
	g.handlers[api] = f
	g.mu.Unlock()
}

// stop unsubscribes the game: no responders from now on.
func (g *fakeGame) stop() {
	if err := g.sub.Unsubscribe(); err != nil {
		g.t.Fatal(err)
	}
	if err := g.nc.Flush(); err != nil {
		g.t.Fatal(err)
	}
}

// requests returns the requests of api received so far.
func (g *fakeGame) requests(api string) []*nats.Msg {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*nats.Msg
	for _, m := range g.seen {
		if m.Subject == api {
			out = append(out, m)
		}
	}
	return out
}

func (g *fakeGame) serve(m *nats.Msg) {
	g.mu.Lock()
	g.seen = append(g.seen, m)
	h := g.handlers[m.Subject]
	g.mu.Unlock()
	req, err := frame.Decode([]byte(m.Subject), m.Data)
	if err != nil {
		g.t.Errorf("game: %s: %v", m.Subject, err)
		return
	}
	if m.Reply == "" {
		if m.Subject == envelope.LogoutReq {
			g.logouts <- m
		}
		return
	}
	var res proto.Message
	if h != nil {
		res = h(m, req)
	} else {
		res = defaultAnswer(m, req)
	}
	if res != nil {
		g.reply(m, res)
	}
}

// reply sends res to the request's reply subject as a worker does.
func (g *fakeGame) reply(m *nats.Msg, res proto.Message) {
	api, data, err := frame.Encode(res)
	if err != nil {
		g.t.Errorf("game: encode %T: %v", res, err)
		return
	}
	out := &nats.Msg{Subject: m.Reply, Header: nats.Header{envelope.HdrAPI: {api}}, Data: data}
	if id := m.Header.Get(envelope.HdrReq); id != "" {
		out.Header.Set(envelope.HdrReq, id)
	}
	if err := g.nc.PublishMsg(out); err != nil {
		g.t.Errorf("game: reply: %v", err)
	}
}

// defaultAnswer: Login creates the user named by Hive-User, Echo echoes,
// everything else succeeds with an empty Res.
func defaultAnswer(m *nats.Msg, req proto.Message) proto.Message {
	switch r := req.(type) {
	case *msg.Login_Req:
		uid, _ := strconv.ParseInt(m.Header.Get(envelope.HdrUser), 10, 64)
		return &msg.Login_Res{Code: proto.Int32(0), User: testUser(uid)}
	case *msg.Echo_Req:
		return &msg.Echo_Res{Val: r.Val, Ct: r.Ct}
	case *msg.SetEvent_Req:
		return &msg.SetEvent_Res{Code: proto.Int32(0)}
	}
	mt, _ := frame.Lookup([]byte(frame.ResponseAPI(m.Subject)))
	res := mt.New()
	res.Set(res.Descriptor().Fields().ByName("code"), protoreflect.ValueOfInt32(0))
	return res.Interface()
}

func testUser(uid int64) *def.User {
	return &def.User{Id: proto.Int64(uid), Account: proto.Int64(uid), Status: proto.Int32(1),
		CreateTime: proto.Int64(1700000000), UpdateTime: proto.Int64(1700000000)}
}

// client is a raw TCP client of the gate.
type client struct {
	t *testing.T
	c net.Conn
	r *frame.Reader
}

func (e *env) dial(g *Server) *client {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", g.Addr(), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &client{t: e.t, c: c, r: frame.NewReader(c, frame.MaxSize)}
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) send(m proto.Message) {
	c.t.Helper()
	b, err := frame.AppendMessage(nil, m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
}

// next reads one frame and decodes it; it fails the test on any error.
func (c *client) next() proto.Message {
	c.t.Helper()
	m, err := c.tryNext(waitFor)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *client) tryNext(d time.Duration) (proto.Message, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	api, payload, err := c.r.Next()
	if err != nil {
		return nil, err
	}
	return frame.Decode(api, payload)
}

// expectClosed reads until the gate closes the connection; frames before
// that are returned.
func (c *client) expectClosed() []proto.Message {
	c.t.Helper()
	var got []proto.Message
	for {
		m, err := c.tryNext(waitFor)
		if err == nil {
			got = append(got, m)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v (frames %v)", waitFor, got)
		}
		if !errors.Is(err, io.EOF) && !isReset(err) {
			c.t.Fatalf("read: %v, want the gate to close", err)
		}
		return got
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

// login logs in as uid and checks the answer.
func (c *client) login(tok string, uid int64) {
	c.t.Helper()
	c.send(&msg.Login_Req{Token: proto.String(tok)})
	res, ok := c.next().(*msg.Login_Res)
	if !ok || res.GetCode() != 0 || res.GetUser().GetId() != uid {
		c.t.Fatalf("login: %v, want code 0 for user %d", res, uid)
	}
}

// echo does one echo round trip.
func (c *client) echo(val int64) {
	c.t.Helper()
	c.send(&msg.Echo_Req{Val: proto.Int64(val)})
	res, ok := c.next().(*msg.Echo_Res)
	if !ok || res.GetVal() != val {
		c.t.Fatalf("echo: %v, want val %d", res, val)
	}
}

// codeOf reads the code field of any Res (0 if absent).
func codeOf(m proto.Message) int32 {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("code")
	if fd == nil || !r.Has(fd) {
		return 0
	}
	return int32(r.Get(fd).Int())
}

func apiOf(m proto.Message) string { return string(m.ProtoReflect().Descriptor().FullName()) }

// expectRes checks m is the Res api with code.
func expectRes(t *testing.T, m proto.Message, api string, code def.ResCode) {
	t.Helper()
	if apiOf(m) != api || codeOf(m) != int32(code) {
		t.Fatalf("got %s %v, want %s code %d (%v)", apiOf(m), m, api, code, code)
	}
}

// eventually polls cond every 10ms until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// metricValue reads a counter or gauge (a single metric: a plain one or one
// child of a vector).
func metricValue(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var d dto.Metric
	if err := (<-ch).Write(&d); err != nil {
		panic(err)
	}
	return d.GetCounter().GetValue() + d.GetGauge().GetValue()
}
