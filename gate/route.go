package gate

import (
	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/bus"
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
	if m.Header.Get(statusHdr) == noRespondersStatus {
		sess.noResponders()
		return
	}
	api := m.Header.Get(bus.HdrAPI)
	if !isResponseName(api) {
		s.m.unroutable.Inc()
		s.log.Debug("dropping message without a known Hive-Api", "subject", m.Subject, "api", api)
		return
	}
	sess.onAnswer(api, m.Header.Get(bus.HdrReq), m.Data)
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

// statusHdr and noRespondersStatus: the header NATS puts on the message it
// sends to the reply subject when a request had no subscriber (for clients
// with headers, as every Hive connection has).
const (
	statusHdr          = "Status"
	noRespondersStatus = "503"
)

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
	api := m.Header.Get(bus.HdrAPI)
	if api == apiKickRes {
		if keep := m.Header.Get(HdrKickKeep); keep != "" {
			sess.onLoginKick(keep, m.Header.Get(HdrKickTime), m.Data)
		} else {
			sess.kick(m.Data, closeKicked, kickPushed, false)
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
