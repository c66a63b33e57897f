package gate

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// TestPhaseMoves: the lifecycle table allows the moves a session makes and
// refuses the rest, so a second kick, a drain of a session already going
// or a close of a closed one changes nothing.
func TestPhaseMoves(t *testing.T) {
	allowed := map[[2]phase]bool{
		{phaseOpen, phaseDraining}: true, {phaseOpen, phaseKicking}: true, {phaseOpen, phaseShedding}: true, {phaseOpen, phaseClosed}: true,
		{phaseDraining, phaseKicking}: true, {phaseDraining, phaseShedding}: true, {phaseDraining, phaseClosed}: true,
		{phaseKicking, phaseKickSent}: true, {phaseKicking, phaseClosed}: true,
		{phaseKickSent, phaseClosed}: true,
		{phaseShedding, phaseClosed}: true,
	}
	for from := range numPhases {
		for to := range numPhases {
			s := &session{phase: from}
			got := s.toLocked(to)
			if want := allowed[[2]phase{from, to}]; got != want {
				t.Errorf("%v -> %v: moved %v, want %v", from, to, got, want)
			}
			if want := from; !got && s.phase != want {
				t.Errorf("%v -> %v refused but phase is now %v", from, to, s.phase)
			}
		}
	}
	for p := range numPhases {
		s := &session{phase: p}
		if want := p >= phaseKicking; s.stoppingLocked() != want {
			t.Errorf("%v: stopping %v, want %v", p, !want, want)
		}
	}
}

// TestLoginMoves: a login goes new -> logging in -> logged in (or back to
// new), a newer login elsewhere replaces a logged-in session, a logout
// returns to new; nothing else.
func TestLoginMoves(t *testing.T) {
	allowed := map[[2]loginState]bool{
		{stateNew, stateLoggingIn}: true,
		{stateLoggingIn, stateNew}: true, {stateLoggingIn, stateLoggedIn}: true,
		{stateLoggedIn, stateNew}: true, {stateLoggedIn, stateReplaced}: true,
		{stateReplaced, stateNew}: true,
	}
	for from := range numLoginStates {
		for to := range numLoginStates {
			s := &session{state: from}
			if got, want := s.loginToLocked(to), allowed[[2]loginState{from, to}]; got != want {
				t.Errorf("%v -> %v: moved %v, want %v", from, to, got, want)
			}
		}
	}
}

// TestOutcomeLabels: the outcomes keep the hive_gate_requests_total labels
// dashboards already use.
func TestOutcomeLabels(t *testing.T) {
	want := map[outcome]string{outcomeAnswered: "ok", outcomeTimeout: "timeout", outcomeNoResponders: "no_responders", outcomePublishError: "publish_error", outcomeExpired: "expired"}
	for o := range numOutcomes {
		if o.String() != want[o] {
			t.Errorf("outcome %d: label %q, want %q", o, o.String(), want[o])
		}
	}
}

// TestLoginSubscribeFailure: when user.<uid> cannot be subscribed the login
// fails closed: answered RC_COMMON_SERVER_NOT_READY, counted as a login
// failure "subscribe", never forwarded nor counted as an answered request,
// and the session stays open and logged out.
func TestLoginSubscribeFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	c := e.dial(g)
	c.echo(1) // the session is served before the gate loses NATS
	g.nc.Close()

	c.send(&msg.Login_Req{Token: proto.String(e.token(10001))})
	expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	if got := metricValue(g.m.loginFails.WithLabelValues("subscribe")); got != 1 {
		t.Fatalf("subscribe login failures = %v, want 1", got)
	}
	if got := metricValue(g.m.results[outcomeAnswered]); got != 0 {
		t.Fatalf("a failed subscribe counted as %v answered requests", got)
	}
	if n := len(e.game.requests(envelope.LoginReq)); n != 0 {
		t.Fatalf("%d logins reached the game", n)
	}
	c.send(&msg.GetItems_Req{})
	expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_LOGIN_REQUIRED)
}

// TestLogoutAnswerKeepsLaterLogin: a Logout answered while the next login
// waits behind it does not undo that login: the session ends logged in.
// (Logout, Logout, then Login once the first Logout is answered.)
func TestLogoutAnswerKeepsLaterLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	c := e.dial(g)
	c.login(e.token(5), 5)
	sess := func() *session {
		var s *session
		g.sessions.Range(func(_, v any) bool { s = v.(*session); return false })
		return s
	}()

	release := make(chan struct{})
	e.game.handle(envelope.LogoutReq, func(*nats.Msg, proto.Message) proto.Message {
		<-release
		return &msg.Logout_Res{Code: proto.Int32(0)}
	})
	c.send(&msg.Logout_Req{Account: proto.Int64(5)})
	c.send(&msg.Logout_Req{Account: proto.Int64(5)})
	release <- struct{}{}
	expectRes(t, c.next(), envelope.LogoutRes, def.ResCode_RC_OK)
	// The second Logout is at the game now; the login queues behind it.
	c.send(&msg.Login_Req{Token: proto.String(e.token(5))})
	eventually(t, "the login waiting behind the second Logout", func() bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return len(sess.waiting) == 1 && sess.waiting[0].login
	})
	release <- struct{}{}
	expectRes(t, c.next(), envelope.LogoutRes, def.ResCode_RC_OK)
	expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_OK)
	sess.mu.Lock()
	state := sess.state
	sess.mu.Unlock()
	if state != stateLoggedIn {
		t.Fatalf("login answered OK but the session is %v", state)
	}
	c.send(&msg.GetItems_Req{})
	expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_OK)
}
