package gate

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// TestNATSNoRespondersOnCustomReply pins the NATS behaviour the gate relies
// on: a request published with our own reply subject (not a request inbox)
// and no subscriber for its subject gets a "Status: 503" message on the
// reply subject.
func TestNATSNoRespondersOnCustomReply(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	nc := n.Connect(t, "gate")
	ch := make(chan *nats.Msg, 1)
	if _, err := nc.ChanSubscribe("gate.g1.>", ch); err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishMsg(&nats.Msg{Subject: "msg.GetItems.Req", Reply: "gate.g1.5", Header: nats.Header{envelope.HdrReq: {"1"}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ch:
		if m.Subject != "gate.g1.5" || !envelope.NoResponders(m) || len(m.Data) != 0 {
			t.Fatalf("got %q %v %q, want a 503 status on the reply subject", m.Subject, m.Header, m.Data)
		}
	case <-time.After(waitFor):
		t.Fatal("no 503 for a request without responders")
	}
}

func TestNoResponders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A long timeout: a fast answer can only come from the 503 path.
	g := e.startGate(func(c *Config) { c.RequestTimeout = time.Minute })
	c := e.dial(g)
	c.login(e.token(1), 1)
	e.game.stop()
	start := time.Now()
	c.send(&msg.GetItems_Req{})
	expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_COMMON_SERVER_NOT_READY)
	c.send(&msg.Echo_Req{})
	expectRes(t, c.next(), envelope.ErrorRes, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("answered after %v: the timeout, not no-responders", d)
	}
	// Login without a game: the token is fine, the game is not there.
	c2 := e.dial(g)
	c2.send(&msg.Login_Req{Token: proto.String(e.token(2))})
	expectRes(t, c2.next(), envelope.LoginRes, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	c2.send(&msg.GetItems_Req{})
	expectRes(t, c2.next(), "msg.GetItems.Res", def.ResCode_RC_LOGIN_REQUIRED)
	if v := metricValue(g.m.requests.WithLabelValues("no_responders")); v != 3 {
		t.Fatalf("no_responders = %v, want 3", v)
	}
}

func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.RequestTimeout = 300 * time.Millisecond })
	stalled := make(chan *nats.Msg, 4)
	e.game.handle("msg.GetUser.Req", func(m *nats.Msg, _ proto.Message) proto.Message {
		stalled <- m // never answered in time
		return nil
	})
	c := e.dial(g)
	c.login(e.token(1), 1)
	c.send(&msg.GetUser_Req{Id: proto.Int64(0)})
	// A request sent behind the stalled one waits past half its deadline:
	// answered at once, unsent; the next is served.
	c.send(&msg.Echo_Req{Val: proto.Int64(11)})
	expectRes(t, c.next(), "msg.GetUser.Res", def.ResCode_RC_TIMEOUT)
	if m, ok := c.next().(*msg.Error_Res); !ok || m.GetCode() != int32(def.ResCode_RC_COMMON_SERVER_NOT_READY) || m.GetApi() != envelope.EchoReq {
		t.Fatalf("queued echo = %v", m)
	}
	c.echo(12)

	// The game's late answer (it carries Hive-Req) is dropped, not taken
	// for the answer of the next GetUser.
	late := <-stalled
	e.game.handle("msg.GetUser.Req", nil)
	e.game.reply(late, &msg.GetUser_Res{Code: proto.Int32(int32(def.ResCode_RC_USER_NOT_FOUND))})
	eventually(t, "late answer dropped", func() bool { return metricValue(g.m.unroutable) == 1 })
	c.send(&msg.GetUser_Req{Id: proto.Int64(0)})
	expectRes(t, c.next(), "msg.GetUser.Res", def.ResCode_RC_OK)
	if v := metricValue(g.m.requests.WithLabelValues("timeout")); v != 1 {
		t.Fatalf("timeouts = %v", v)
	}
}
