package gate

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// A worker that stops answering mid-load (it holds the requests it took,
// then its connection dies, as a killed process's does) costs no client an
// error: the gate sends each unanswered request again, with the same
// Hive-Req, and the other worker answers it. Every client request gets
// exactly one answer.
func TestRetryReachesAnotherWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) {
		c.RequestTimeout = 20 * time.Second // far beyond the test's waits: a timeout would be the defect
		c.RetryAfter = 100 * time.Millisecond
	})
	hung := startGame(t, e.nats.ConnectAs(t, bus.RoleGame))
	var held atomic.Int64
	var heldIDs sync.Map // session/Hive-Req -> true
	silent := func(m *nats.Msg, _ proto.Message) proto.Message {
		held.Add(1)
		heldIDs.Store(m.Header.Get(envelope.HdrSession)+"/"+m.Header.Get(envelope.HdrReq), true)
		return nil
	}

	const clients, rounds = 4, 40
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = e.dial(g)
		cs[i].login(e.token(int64(i+1)), int64(i+1))
	}
	for round := range rounds {
		if round == rounds/4 {
			hung.handle("msg.GetItems.Req", silent)
			// Killed soon after, while the load goes on: whatever it held is
			// gone, and NATS stops routing to it.
			time.AfterFunc(200*time.Millisecond, hung.nc.Close)
		}
		for _, c := range cs {
			c.send(&msg.GetItems_Req{})
		}
		for _, c := range cs {
			expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_OK)
		}
	}
	if held.Load() == 0 {
		t.Fatal("the hung worker held no request: the test proved nothing")
	}
	// Each held request reached the healthy worker under the same id.
	answered := map[string]bool{}
	for _, m := range e.game.requests("msg.GetItems.Req") {
		answered[m.Header.Get(envelope.HdrSession)+"/"+m.Header.Get(envelope.HdrReq)] = true
	}
	heldIDs.Range(func(k, _ any) bool {
		if !answered[k.(string)] {
			t.Errorf("held request %s never re-sent to the healthy worker", k)
		}
		return true
	})
	if v := metricValue(g.m.requests.WithLabelValues("timeout")); v != 0 {
		t.Fatalf("timeouts = %v, want 0", v)
	}
	if v := metricValue(g.m.resends); v < float64(held.Load()) {
		t.Fatalf("re-sends = %v, want at least the %d held", v, held.Load())
	}
	// Nothing else is waiting to be read: one answer per request.
	for _, c := range cs {
		if m, err := c.tryNext(50 * time.Millisecond); err == nil {
			t.Fatalf("extra frame %v", m)
		}
	}
}

// With re-sends off the same hung worker costs its requests a timeout: the
// setting is what saves them.
func TestRetryOffTimesOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) {
		c.RequestTimeout = 300 * time.Millisecond
		c.Retries = 0
	})
	e.game.handle("msg.GetItems.Req", func(*nats.Msg, proto.Message) proto.Message { return nil })
	c := e.dial(g)
	c.login(e.token(1), 1)
	c.send(&msg.GetItems_Req{})
	expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_TIMEOUT)
	if n := len(e.game.requests("msg.GetItems.Req")); n != 1 {
		t.Fatalf("game saw %d copies, want 1", n)
	}
}

// A request that finds no worker subscribed (workers restarting, or still
// reconnecting after a NATS restart) is sent again at once and then on the
// re-send schedule, so a worker that subscribes meanwhile answers it; the
// client never sees RC_COMMON_SERVER_NOT_READY.
func TestNoRespondersWaitsForAWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) {
		c.RequestTimeout = time.Minute // a timeout cannot be what answers
		c.RetryAfter = 200 * time.Millisecond
	})
	c := e.dial(g)
	c.login(e.token(1), 1)
	e.game.stop()
	c.send(&msg.GetItems_Req{})
	// The immediate re-send happened: both copies found nobody.
	eventually(t, "the re-send after no responders", func() bool { return metricValue(g.m.resends) >= 1 })
	startGame(t, e.nats.ConnectAs(t, bus.RoleGame))
	expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_OK)
	if v := metricValue(g.m.requests.WithLabelValues("no_responders")); v != 0 {
		t.Fatalf("no_responders = %v, want 0", v)
	}
}
