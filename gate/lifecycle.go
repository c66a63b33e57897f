package gate

// A session's state is two small machines, each changed only through its
// transition table here, always with the session's mu held:
//
//   - phase: the connection's lifecycle, from serving to closed. Once a
//     session is stopping (kicked, shedding a slow reader, closed) it takes
//     no more requests and queues no more frames.
//   - loginState: who the session speaks for.
//
// Each request carries a reqState of its own (request.state).

// phase is where a session's connection is in its lifecycle.
type phase uint8

const (
	// phaseOpen: serving the client.
	phaseOpen phase = iota
	// phaseDraining: the gate is shutting down and requests are in flight
	// or waiting; the session is kicked once they are answered.
	phaseDraining
	// phaseKicking: a msg.Kick.Res is queued as the last frame; the write
	// side is shut once it is out.
	phaseKicking
	// phaseKickSent: the kick is written and the write side shut; the
	// reader lingers for the client to close.
	phaseKickSent
	// phaseShedding: the outgoing queue overflowed (slow reader); the
	// connection is being closed without a kick.
	phaseShedding
	// phaseClosed: the connection is closed.
	phaseClosed
	numPhases
)

var phaseNames = [numPhases]string{"open", "draining", "kicking", "kick_sent", "shedding", "closed"}

func (p phase) String() string {
	if p < numPhases {
		return phaseNames[p]
	}
	return "phase?"
}

// phaseMoves[from] holds a bit per phase the session may move to from
// there. A move not listed is refused: a second kick, a drain of a session
// already going, a close of a closed one.
var phaseMoves = [numPhases]uint8{
	phaseOpen:     1<<phaseDraining | 1<<phaseKicking | 1<<phaseShedding | 1<<phaseClosed,
	phaseDraining: 1<<phaseKicking | 1<<phaseShedding | 1<<phaseClosed,
	phaseKicking:  1<<phaseKickSent | 1<<phaseClosed,
	phaseKickSent: 1 << phaseClosed,
	phaseShedding: 1 << phaseClosed,
	phaseClosed:   0,
}

// toLocked moves the session to phase next if the table allows it and
// reports whether it did. Called with s.mu held.
func (s *session) toLocked(next phase) bool {
	if phaseMoves[s.phase]&(1<<next) == 0 {
		return false
	}
	s.phase = next
	return true
}

// stoppingLocked reports whether the session is on its way out: it takes
// no more requests and queues no more frames. Called with s.mu held.
func (s *session) stoppingLocked() bool { return s.phase >= phaseKicking }

// loginState is who a session speaks for.
type loginState uint8

const (
	// stateNew: connected, not logged in.
	stateNew loginState = iota
	// stateLoggingIn: token verified, user.<uid> subscribed, Login.Req at
	// the game.
	stateLoggingIn
	// stateLoggedIn: Login.Res OK relayed; user.<uid> subscribed.
	stateLoggedIn
	// stateReplaced: logged in, but a newer login of the account was
	// announced; the session is kicked and its end publishes no logout,
	// since the account lives on in the newer session.
	stateReplaced
	numLoginStates
)

var loginStateNames = [numLoginStates]string{"new", "logging_in", "logged_in", "replaced"}

func (l loginState) String() string {
	if l < numLoginStates {
		return loginStateNames[l]
	}
	return "login?"
}

// loginMoves[from] holds a bit per login state reachable from there.
var loginMoves = [numLoginStates]uint8{
	stateNew:       1 << stateLoggingIn,
	stateLoggingIn: 1<<stateNew | 1<<stateLoggedIn,
	stateLoggedIn:  1<<stateNew | 1<<stateReplaced,
	stateReplaced:  1 << stateNew,
}

// loginToLocked moves the session to login state next if the table allows
// it and reports whether it did. Called with s.mu held.
func (s *session) loginToLocked(next loginState) bool {
	if loginMoves[s.state]&(1<<next) == 0 {
		return false
	}
	s.state = next
	return true
}

// speaksForUser reports whether the session is logged in, replaced or not:
// it takes pushes and requests for its account.
func (l loginState) speaksForUser() bool { return l == stateLoggedIn || l == stateReplaced }

// reqState is where a forwarded request is.
type reqState uint8

const (
	// reqWaiting: queued behind the in-flight request.
	reqWaiting reqState = iota
	// reqInFlight: sent to the game, its timeout armed.
	reqInFlight
	// reqConfirming: a login the game accepted, being completed by
	// confirmLogin; the timeout and late answers no longer apply.
	reqConfirming
)

// outcome is how a forwarded request ended (label of
// hive_gate_requests_total).
type outcome uint8

const (
	// outcomeAnswered: the game's answer was relayed (whatever its code).
	outcomeAnswered outcome = iota
	// outcomeTimeout: no answer within --gate-request-timeout.
	outcomeTimeout
	// outcomeNoResponders: NATS reported no worker for the api.
	outcomeNoResponders
	// outcomePublishError: the request could not be published.
	outcomePublishError
	// outcomeExpired: it waited behind the in-flight one past half its
	// deadline and was answered RC_COMMON_SERVER_NOT_READY without being sent.
	outcomeExpired
	numOutcomes
)

// outcomeNames are the metric labels; "ok" is the answered outcome's label
// since the metric's start.
var outcomeNames = [numOutcomes]string{"ok", "timeout", "no_responders", "publish_error", "expired"}

func (o outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "outcome?"
}
