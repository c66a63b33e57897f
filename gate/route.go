package gate

import (
	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
)

// onGateMsg routes a message on gate.<id>.<session>: an answer to the
// session's in-flight request, a push, or a no-responders status.
func (s *Server) onGateMsg(m *nats.Msg) {
	_, sid, err := bus.ParseSessionSubject(m.Subject)
	if err != nil {
		s.m.unroutable.Inc()
		return
	}
	v, ok := s.sessions.Load(sid)
	if !ok {
		s.m.unroutable.Inc() // the session ended; a late answer
		return
	}
	sess := v.(*session)
	if envelope.NoResponders(m) {
		sess.noResponders()
		return
	}
	in := envelope.Read(m)
	if !isResponseName(in.API) {
		s.m.unroutable.Inc()
		s.log.Debug("dropping message without a known Hive-Api", "subject", m.Subject, "api", in.API)
		return
	}
	sess.onAnswer(in.API, in.Req, in.Data)
}

// backlogged reports whether messages from NATS wait for the gate's
// callbacks: answers behind the one being handled (nats.go counts the one
// in its callback as pending too), or user messages.
func (s *Server) backlogged() bool {
	if len(s.userCh) > 0 {
		return true
	}
	n, _, err := s.gateSub.Pending()
	return err == nil && n > 1
}

// dispatchUser handles the messages of every user.<uid> subscription: kicks
// and pushes.
func (s *Server) dispatchUser() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case m := <-s.userCh:
			s.onUserMsg(m)
		}
	}
}

func (s *Server) onUserMsg(m *nats.Msg) {
	v, ok := s.userSubs.Load(m.Sub)
	if !ok {
		return // the session logged out or closed since
	}
	sess := v.(*session)
	in := envelope.Read(m)
	api := in.API
	if api == envelope.KickRes {
		if in.Keep != "" {
			sess.onLoginKick(in.Keep, in.Time, in.Data)
		} else {
			sess.kick(in.Data, closeKicked, kickPushed, false)
		}
		return
	}
	if !isResponseName(api) {
		s.m.unroutable.Inc()
		return
	}
	if !sess.loggedIn() {
		// user.<uid> is subscribed while the login is checked and at the
		// game (for kicks); pushes wait for the Login.Res.
		s.m.unroutable.Inc()
		return
	}
	sess.push(api, m.Data)
}
