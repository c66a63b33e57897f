package gate

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// setTokenVersion writes an account's token version as uc does.
func setTokenVersion(t *testing.T, e *env, uid, ver int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := e.nats.JS.KeyValue(ctx, bus.TokenVersionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, strconv.FormatInt(uid, 10), []byte(strconv.FormatInt(ver, 10))); err != nil {
		t.Fatal(err)
	}
}

// TestTokenOlderThanAccountRefused: after uc raised the account's token
// version to 1, a token of version 0 gets RC_LOGIN_TOKEN_REVOKED and never
// reaches the game; tokens of version 1 (or newer) log in.
func TestTokenOlderThanAccountRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	const uid = 10001
	old := e.token(uid)
	e.dial(g).login(old, uid) // no version yet: 0 is current
	setTokenVersion(t, e, uid, 1)

	c := e.dial(g)
	c.send(&msg.Login_Req{Token: proto.String(old)})
	expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_LOGIN_TOKEN_REVOKED)
	if n := len(e.game.requests(envelope.LoginReq)); n != 1 {
		t.Fatalf("game saw %d logins, want only the first", n)
	}
	if v := metricValue(g.m.loginFails.WithLabelValues("token_revoked")); v != 1 {
		t.Fatalf("token_revoked failures = %v", v)
	}
	for _, ver := range []int64{1, 2} {
		tok, _, err := e.signer.Sign(uid, ver)
		if err != nil {
			t.Fatal(err)
		}
		e.dial(g).login(tok, uid)
	}
}

// TestLoginRacingRevocationDoesNotSurvive: uc raises the version and kicks
// the account while a login of the old token is at the game. The session
// must not end up logged in.
func TestLoginRacingRevocationDoesNotSurvive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	const uid = 10002
	uc := e.nats.Connect(t, "uc")
	e.game.handle(envelope.LoginReq, func(m *nats.Msg, req proto.Message) proto.Message {
		// What uc does on a password change, between the gate's check and
		// the game's answer.
		setTokenVersion(t, e, uid, 1)
		b, _ := proto.Marshal(&msg.Kick_Res{Code: proto.Int32(int32(def.ResCode_RC_LOGIN_KICKED)), Reason: proto.String("password changed")})
		k := nats.NewMsg(bus.UserSubject(uid))
		k.Header.Set(envelope.HdrAPI, envelope.KickRes)
		k.Data = b
		if err := uc.PublishMsg(k); err != nil {
			t.Error(err)
		}
		if err := uc.Flush(); err != nil {
			t.Error(err)
		}
		return defaultAnswer(m, req)
	})
	c := e.dial(g)
	c.send(&msg.Login_Req{Token: proto.String(e.token(uid))})
	got := c.expectClosed()
	if len(got) == 0 || apiOf(got[len(got)-1]) != envelope.KickRes {
		t.Fatalf("session ended with %v, want a Kick.Res last", got)
	}
	eventually(t, "no session left", func() bool { return g.Conns() == 0 })
}
