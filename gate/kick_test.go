package gate

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// expectKicked checks the connection gets exactly one msg.Kick.Res with
// code and is then closed.
func expectKicked(t *testing.T, c *client, code def.ResCode) {
	t.Helper()
	got := c.expectClosed()
	if len(got) == 0 {
		t.Fatalf("closed without a kick, want Kick.Res %v", code)
	}
	expectRes(t, got[len(got)-1], envelope.KickRes, code)
}

func TestSecondLoginKicksFirstSameGate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	first := e.dial(g)
	first.login(e.token(7), 7)
	other := e.dial(g)
	other.login(e.token(8), 8) // another account is not affected
	second := e.dial(g)
	second.login(e.token(7), 7)

	expectKicked(t, first, def.ResCode_RC_LOGIN_KICKED)
	second.echo(1)
	other.echo(2)
	if v := metricValue(g.m.kicks.WithLabelValues(kickLoginElsewhere)); v != 1 {
		t.Fatalf("login_elsewhere kicks = %v", v)
	}
	// Pushes now reach only the second session.
	pushItems(t, e, 7)
	if m := second.next(); apiOf(m) != "msg.GetItems.Res" {
		t.Fatalf("push = %v", m)
	}
	// The kicked session's player is not reported offline: it is online elsewhere.
	select {
	case m := <-e.game.logouts:
		t.Fatalf("disconnect logout for %s after a kick", m.Header.Get(envelope.HdrUser))
	case <-time.After(300 * time.Millisecond):
	}
}

func TestSecondLoginKicksFirstAcrossGates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g1 := e.startGate(nil)
	g2 := e.startGate(nil)
	first := e.dial(g1)
	first.login(e.token(7), 7)
	second := e.dial(g2)
	second.login(e.token(7), 7)
	expectKicked(t, first, def.ResCode_RC_LOGIN_KICKED)
	second.echo(1)
	eventually(t, "g1 empty", func() bool { return g1.Conns() == 0 })

	// A third login, back on the first gate, kicks the second.
	third := e.dial(g1)
	third.login(e.token(7), 7)
	expectKicked(t, second, def.ResCode_RC_LOGIN_KICKED)
	third.echo(2)
}

// TestRacingLoginsLeaveOne: two logins of one account on two gates at the
// same moment end with exactly one session open.
func TestRacingLoginsLeaveOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g1 := e.startGate(nil)
	g2 := e.startGate(nil)
	for round := range 5 {
		uid := int64(100 + round)
		a, b := e.dial(g1), e.dial(g2)
		var wg sync.WaitGroup
		for _, c := range []*client{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.send(&msg.Login_Req{Token: proto.String(e.token(uid))})
			}()
		}
		wg.Wait()
		for _, c := range []*client{a, b} {
			expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_OK)
		}
		eventually(t, "one session left", func() bool { return g1.Conns()+g2.Conns() == 1 })
		// The survivor is served; the other got a kick.
		for _, c := range []*client{a, b} {
			c.send(&msg.Echo_Req{Val: proto.Int64(1)})
			m, err := c.tryNext(waitFor)
			if err != nil {
				continue // the kicked one: closed (its kick may be read before)
			}
			if apiOf(m) == envelope.KickRes {
				expectRes(t, m, envelope.KickRes, def.ResCode_RC_LOGIN_KICKED)
				c.expectClosed()
				continue
			}
			if apiOf(m) != "msg.Echo.Res" {
				t.Fatalf("round %d: survivor got %v", round, m)
			}
		}
		a.c.Close()
		b.c.Close()
		eventually(t, "both closed", func() bool { return g1.Conns()+g2.Conns() == 0 })
	}
}

func TestPushesAndPushedKick(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	c := e.dial(g)
	c.login(e.token(9), 9)

	pushItems(t, e, 9)
	if m, ok := c.next().(*msg.GetItems_Res); !ok || len(m.GetItems()) != 1 {
		t.Fatalf("push = %v", m)
	}
	// A push on the session subject (no Hive-Req) is delivered too.
	sid := g.nextID.Load()
	data, _ := proto.Marshal(&msg.GetMails_Res{Code: proto.Int32(0)})
	if err := e.nats.Conn.PublishMsg(&nats.Msg{Subject: bus.SessionSubject(g.ID(), sid), Header: nats.Header{envelope.HdrAPI: {"msg.GetMails.Res"}}, Data: data}); err != nil {
		t.Fatal(err)
	}
	if m := c.next(); apiOf(m) != "msg.GetMails.Res" {
		t.Fatalf("session push = %v", m)
	}
	// Junk on the user subject is dropped, not written.
	if err := e.nats.Conn.PublishMsg(&nats.Msg{Subject: bus.UserSubject(9), Header: nats.Header{envelope.HdrAPI: {"msg.GetItems.Req"}}, Data: nil}); err != nil {
		t.Fatal(err)
	}
	c.echo(3)

	// An operator's kick (no keep header) closes the session with its payload.
	kick, _ := proto.Marshal(&msg.Kick_Res{Code: proto.Int32(int32(def.ResCode_RC_FORBIDDEN)), Reason: proto.String("banned")})
	if err := e.nats.Conn.PublishMsg(&nats.Msg{Subject: bus.UserSubject(9), Header: nats.Header{envelope.HdrAPI: {envelope.KickRes}}, Data: kick}); err != nil {
		t.Fatal(err)
	}
	got := c.expectClosed()
	if len(got) != 1 {
		t.Fatalf("frames %v", got)
	}
	if k := got[0].(*msg.Kick_Res); k.GetCode() != int32(def.ResCode_RC_FORBIDDEN) || k.GetReason() != "banned" {
		t.Fatalf("kick = %v", k)
	}
	if v := metricValue(g.m.kicks.WithLabelValues(kickPushed)); v != 1 {
		t.Fatalf("pushed kicks = %v", v)
	}
}
