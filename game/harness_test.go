package game

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/rescode"
	"github.com/qeetap/hive/registry"
)

// harness is a real bus (embedded NATS+JetStream), a cache and a registry
// that workers and fake gates share.
type harness struct {
	t     *testing.T
	n     *testenv.NATS
	cache cache.Cache
	reg   *registry.Memory
	redis *testenv.Redis // set by withRedis
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, testenv.StartNATS(t))
}

// newHarnessOn is newHarness on n: a store of partitions, a cluster.
func newHarnessOn(t *testing.T, n *testenv.NATS) *harness {
	return &harness{t: t, n: n, cache: cache.NewMemory(), reg: registry.NewMemory()}
}

// withRedis switches the harness to a real redis cache.
func (h *harness) withRedis() *harness {
	h.t.Helper()
	r := testenv.StartRedis(h.t)
	c, err := cache.NewRedis(r.Addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	h.cache, h.redis = c, r
	return h
}

func testConfig() Config {
	c := DefaultConfig()
	c.Workers = 8
	c.AdminToken = "s3cret"
	c.PresenceInterval = 50 * time.Millisecond
	return c
}

// worker starts a worker on its own NATS connection (as its own process
// would), stopped at the end of the test. mod may adjust it before Start.
func (h *harness) worker(cfg Config, mod ...func(*Worker)) *Worker {
	h.t.Helper()
	nc := h.n.ConnectAs(h.t, bus.RoleGame)
	js, err := jetstream.New(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	w, err := New(cfg, Deps{NC: nc, JS: js, Cache: h.cache, Registry: h.reg})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, f := range mod {
		f(w)
	}
	if err := w.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	return w
}

// player is a fake gate session: it sends requests as the gate does, with
// Hive-Gate, Hive-Session, Hive-User and Hive-Req, and reads answers by
// their Hive-Api header.
type player struct {
	t       testing.TB
	nc      *nats.Conn
	gate    string
	session uint64
	uid     int64
	req     atomic.Int64
	// resendAfter, if set, sends a request again (same Hive-Req) while no
	// answer came within it, as the gate does, for at most budget in all.
	resendAfter, budget time.Duration
}

var sessions atomic.Uint64

func (h *harness) player(uid int64, gate string) *player {
	return &player{t: h.t, nc: h.n.Conn, gate: gate, session: sessions.Add(1), uid: uid}
}

// send makes a request with request id reqID and returns the answer.
func (p *player) sendID(req proto.Message, reqID string) (proto.Message, error) {
	api := string(req.ProtoReflect().Descriptor().FullName())
	data, err := proto.MarshalOptions{AllowPartial: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(bus.RequestSubject(api))
	m.Data = data
	m.Header.Set(envelope.HdrGate, p.gate)
	m.Header.Set(envelope.HdrSession, strconv.FormatUint(p.session, 10))
	if p.uid != 0 {
		m.Header.Set(envelope.HdrUser, strconv.FormatInt(p.uid, 10))
	}
	m.Header.Set(envelope.HdrReq, reqID)
	resp, err := p.request(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", api, err)
	}
	resAPI := resp.Header.Get(envelope.HdrAPI)
	if resAPI == "" {
		return nil, fmt.Errorf("%s: answer without %s", api, envelope.HdrAPI)
	}
	if got := resp.Header.Get(envelope.HdrReq); got != reqID {
		return nil, fmt.Errorf("%s: answer carries %s %q, want %q", api, envelope.HdrReq, got, reqID)
	}
	return frame.Decode([]byte(resAPI), resp.Data)
}

// request sends m and waits 20 s for the answer, or, with resendAfter set,
// sends m again every resendAfter (also after a no-responders status) until
// budget has passed.
func (p *player) request(m *nats.Msg) (*nats.Msg, error) {
	if p.resendAfter == 0 {
		return p.nc.RequestMsg(m, 20*time.Second)
	}
	for deadline := time.Now().Add(p.budget); ; {
		resp, err := p.nc.RequestMsg(m, min(p.resendAfter, max(time.Until(deadline), time.Millisecond)))
		if errors.Is(err, nats.ErrNoResponders) { // no worker (yet): ask again in a while
			time.Sleep(p.resendAfter)
		} else if !errors.Is(err, nats.ErrTimeout) {
			return resp, err
		}
		if time.Now().After(deadline) {
			return resp, err
		}
	}
}

// call sends req with a fresh request id; any transport failure fails the test.
func (p *player) call(req proto.Message) proto.Message {
	p.t.Helper()
	res, err := p.sendID(req, strconv.FormatInt(p.req.Add(1), 10))
	if err != nil {
		p.t.Fatal(err)
	}
	return res
}

// code is a Res's result code.
func code(res proto.Message) def.ResCode { c, _ := rescode.Get(res); return c }

// eventually polls cond until it holds or 15 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// natsMsg is an event message as the store writes it (without Msg-Id).
func natsMsg(subject string, data []byte, typ string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(bus.HdrEvent, typ)
	m.Header.Set(bus.HdrCmd, "seed")
	return m
}
