package client

import (
	"errors"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/proto/rescode"
)

// read is the session's reading goroutine: it settles requests with their
// answers and hands everything else to the push handler.
func (s *Session) read() {
	defer close(s.readerDone)
	defer s.r.Release()
	for {
		api, payload, err := s.r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed by server")
			} else if errors.Is(err, frame.ErrFrameTooShort) || errors.Is(err, frame.ErrEmptyAPI) ||
				errors.Is(err, frame.ErrAPISize) || errors.Is(err, frame.ErrFrameTooLarge) {
				err = &ProtocolError{Msg: "bad frame", Err: err}
			}
			s.end(err)
			return
		}
		m, err := frame.Decode(api, payload)
		switch {
		case errors.Is(err, frame.ErrUnknownAPI):
			continue // sent by a newer server; nothing here knows what it means
		case errors.Is(err, frame.ErrMissingRequired):
			// Lenient: the message parsed; missing fields read as zero.
		case err != nil:
			s.end(&ProtocolError{Msg: "bad payload", Err: err})
			return
		}
		if s.dispatch(string(api), m) {
			return
		}
	}
}

// dispatch routes one received message and reports whether the session
// ended because of it.
func (s *Session) dispatch(api string, m proto.Message) (ended bool) {
	if api == envelope.KickRes {
		k := m.(*msg.Kick_Res)
		s.pushTo(api, m)
		s.end(&Error{Code: def.ResCode(k.GetCode()), Op: "kick", Detail: k.GetReason()})
		return true
	}
	s.mu.Lock()
	p := s.pending
	var a answer
	switch {
	case p == nil:
	case api == p.resAPI:
		a = answer{m: m}
		if code, ok := rescode.Get(m); ok && code != def.ResCode_RC_OK {
			a.err = &Error{Code: code, Op: p.reqAPI}
		}
	case api == envelope.ErrorRes && errorFor(m.(*msg.Error_Res), p):
		e := m.(*msg.Error_Res)
		a = answer{m: m, err: &Error{Code: def.ResCode(e.GetCode()), Op: p.reqAPI, Detail: e.GetDetail()}}
	default:
		p = nil
	}
	if p != nil {
		s.settle(p, a)
	}
	s.mu.Unlock()
	if p == nil {
		s.pushTo(api, m)
	}
	return false
}

// errorFor reports whether msg.Error.Res e answers request p: it names p's
// request or response api, or none.
func errorFor(e *msg.Error_Res, p *pending) bool {
	a := e.GetApi()
	return a == "" || a == p.reqAPI || a == p.resAPI
}

// settle answers p and frees the turn. Called with s.mu held and p pending.
func (s *Session) settle(p *pending, a answer) {
	s.pending = nil
	p.ch <- a
	<-s.turn
}

// pushTo calls the push handler, if any.
func (s *Session) pushTo(api string, m proto.Message) {
	s.mu.Lock()
	h := s.push
	s.mu.Unlock()
	if h != nil {
		h(api, m)
	}
}
