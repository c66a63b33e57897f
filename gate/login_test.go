package gate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

func TestLoginForwardsVerifiedUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	c := e.dial(g)
	c.login(e.token(10001), 10001)

	logins := e.game.requests(envelope.LoginReq)
	if len(logins) != 1 {
		t.Fatalf("game saw %d logins, want 1", len(logins))
	}
	h := logins[0].Header
	if h.Get(envelope.HdrUser) != "10001" || h.Get(envelope.HdrGate) != g.ID() || h.Get(envelope.HdrSession) == "" || h.Get(envelope.HdrReq) == "" {
		t.Fatalf("login headers %v", h)
	}
	sid, _ := strconv.ParseUint(h.Get(envelope.HdrSession), 10, 64)
	if logins[0].Reply != bus.SessionSubject(g.ID(), sid) {
		t.Fatalf("reply subject %q, want the session subject", logins[0].Reply)
	}

	// After login Echo goes to the game, with the user id on it.
	c.echo(7)
	echoes := e.game.requests(envelope.EchoReq)
	if len(echoes) != 1 || echoes[0].Header.Get(envelope.HdrUser) != "10001" {
		t.Fatalf("game echoes %v", echoes)
	}
	if echoes[0].Header.Get(envelope.HdrReq) == h.Get(envelope.HdrReq) {
		t.Fatal("two requests of one session share a Hive-Req")
	}
	// A second Login on the session is refused by the gate.
	c.send(&msg.Login_Req{Token: proto.String(e.token(10001))})
	expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_BAD_REQUEST)
	if n := len(e.game.requests(envelope.LoginReq)); n != 1 {
		t.Fatalf("second login reached the game (%d logins)", n)
	}
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	unknownSigner := token.NewSigner(otherKey, "", time.Hour)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	expiredSigner := token.NewSigner(key, "", -time.Hour)
	pem, _ := token.EncodePublicKey(expiredSigner.PublicKey())
	if err := e.reg.PublishKey(context.Background(), expiredSigner.KeyID(), pem); err != nil {
		t.Fatal(err)
	}
	wrongIssuer := token.NewSigner(key, "someone-else", time.Hour)
	sign := func(s *token.Signer) string {
		tok, _, err := s.Sign(10001, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := e.token(10001)
	cases := []struct {
		name, tok string
		code      def.ResCode
	}{
		{"garbage", "not-a-jwt", def.ResCode_RC_LOGIN_TOKEN_INVALID},
		{"empty", "", def.ResCode_RC_LOGIN_TOKEN_INVALID},
		{"unknown kid", sign(unknownSigner), def.ResCode_RC_LOGIN_TOKEN_INVALID},
		{"bad signature", valid[:len(valid)-4] + "AAAA", def.ResCode_RC_LOGIN_TOKEN_INVALID},
		{"wrong issuer", sign(wrongIssuer), def.ResCode_RC_LOGIN_TOKEN_INVALID},
		{"expired", sign(expiredSigner), def.ResCode_RC_LOGIN_TOKEN_EXPIRED},
	}
	for _, tc := range cases {
		c := e.dial(g)
		c.send(&msg.Login_Req{Token: proto.String(tc.tok)})
		m := c.next()
		if apiOf(m) != envelope.LoginRes || codeOf(m) != int32(tc.code) {
			t.Errorf("%s: got %v, want Login.Res code %v", tc.name, m, tc.code)
			continue
		}
		// Still logged out and open: a request needs login, Echo works.
		c.send(&msg.GetItems_Req{})
		expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_LOGIN_REQUIRED)
	}
	if n := len(e.game.requests(envelope.LoginReq)); n != 0 {
		t.Fatalf("%d refused logins reached the game", n)
	}
	if got := metricValue(g.m.loginFails.WithLabelValues("token_invalid")); got != 5 {
		t.Fatalf("token_invalid failures = %v, want 5", got)
	}

	// The game refusing the login is relayed; the session stays logged out.
	e.game.handle(envelope.LoginReq, func(*nats.Msg, proto.Message) proto.Message {
		return &msg.Login_Res{Code: proto.Int32(int32(def.ResCode_RC_LOGIN_USER_CREATE_FAILED))}
	})
	c := e.dial(g)
	c.send(&msg.Login_Req{Token: proto.String(valid)})
	expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_LOGIN_USER_CREATE_FAILED)
	c.send(&msg.GetItems_Req{})
	expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_LOGIN_REQUIRED)
}

func TestLoginKeyFromFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer := token.NewSigner(key, "", time.Hour)
	pem, _ := token.EncodePublicKey(signer.PublicKey())
	path := filepath.Join(t.TempDir(), "uc.pub")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	g := e.startGate(func(c *Config) { c.TokenPublicKeys = []string{path} })
	tok, _, _ := signer.Sign(42, 0)
	e.dial(g).login(tok, 42)
	// The registry's key still works alongside.
	e.dial(g).login(e.token(43), 43)

	if _, err := New(func() Config { c := DefaultConfig(); c.TokenPublicKeys = []string{"/nonexistent"}; return c }(),
		Deps{NC: e.nats.Conn, Registry: registry.NewMemory()}); err == nil {
		t.Fatal("New accepted a missing key file")
	}
}

func TestLoginDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.LoginTimeout = 300 * time.Millisecond })
	c := e.dial(g)
	// Pre-login heartbeats do not extend the login deadline.
	c.send(&msg.Echo_Req{Val: proto.Int64(1)})
	if m := c.next(); apiOf(m) != "msg.Echo.Res" {
		t.Fatalf("pre-login echo: %v", m)
	}
	got := c.expectClosed()
	if len(got) != 1 {
		t.Fatalf("frames before close %v, want one kick", got)
	}
	expectRes(t, got[0], envelope.KickRes, def.ResCode_RC_LOGIN_REQUIRED)
	eventually(t, "session gone", func() bool { return g.Conns() == 0 })
	if v := metricValue(g.m.disconnects.WithLabelValues(closeLoginTimeout)); v != 1 {
		t.Fatalf("login_timeout disconnects = %v", v)
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.IdleTimeout = 800 * time.Millisecond })
	idle := e.dial(g)
	idle.login(e.token(1), 1)
	alive := e.dial(g)
	alive.login(e.token(2), 2)

	// Heartbeats keep the other session open past several idle timeouts.
	beats := make(chan error, 1)
	go func() {
		for i := range 12 {
			alive.send(&msg.Echo_Req{Val: proto.Int64(int64(i))})
			m, err := alive.tryNext(waitFor)
			if err == nil && apiOf(m) != "msg.Echo.Res" {
				err = fmt.Errorf("heartbeat %d answered %s %v", i, apiOf(m), m)
			}
			if err != nil {
				beats <- err
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		beats <- nil
	}()

	start := time.Now()
	got := idle.expectClosed()
	if len(got) != 1 {
		t.Fatalf("frames before close %v, want one kick", got)
	}
	expectRes(t, got[0], envelope.KickRes, def.ResCode_RC_TIMEOUT)
	if time.Since(start) < 500*time.Millisecond {
		t.Fatalf("idle session closed after %v, before its timeout", time.Since(start))
	}
	if err := <-beats; err != nil {
		t.Fatal(err)
	}
	// The idle session's player is reported offline to the game.
	select {
	case m := <-e.game.logouts:
		if m.Header.Get(envelope.HdrUser) != "1" {
			t.Fatalf("disconnect logout for %q, want user 1", m.Header.Get(envelope.HdrUser))
		}
	case <-time.After(waitFor):
		t.Fatal("no disconnect logout for the idle session")
	}
}

func TestLogoutReturnsToLoggedOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	c := e.dial(g)
	c.login(e.token(5), 5)
	c.send(&msg.Logout_Req{Account: proto.Int64(5)})
	expectRes(t, c.next(), envelope.LogoutRes, def.ResCode_RC_OK)
	c.send(&msg.GetItems_Req{})
	expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_LOGIN_REQUIRED)
	// Pushes to the user no longer reach this connection.
	pushItems(t, e, 5)
	c.send(&msg.Echo_Req{Val: proto.Int64(9)}) // answered by the gate now
	if m := c.next(); apiOf(m) != "msg.Echo.Res" {
		t.Fatalf("after logout got %v, want only the echo (no push)", m)
	}
	// It can log in again.
	c.login(e.token(5), 5)
}

// pushItems publishes msg.GetItems.Res to user uid as the game does.
func pushItems(t *testing.T, e *env, uid int64) {
	t.Helper()
	data, _ := proto.Marshal(&msg.GetItems_Res{Code: proto.Int32(0), Items: []*def.Item{{
		Id: proto.Int64(1), Idx: proto.Int32(100), Num: proto.Int64(1000), CreateTime: proto.Int64(1), UpdateTime: proto.Int64(1)}}})
	if err := e.nats.Conn.PublishMsg(&nats.Msg{Subject: bus.UserSubject(uid), Header: nats.Header{envelope.HdrAPI: {"msg.GetItems.Res"}}, Data: data}); err != nil {
		t.Fatal(err)
	}
	if err := e.nats.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
}
