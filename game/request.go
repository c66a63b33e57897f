package game

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
)

// Request is what a handler knows of one msg.*.Req besides its message.
type Request struct {
	api     string // msg.X.Req
	resAPI  string // msg.X.Res
	uid     int64  // from Hive-User (the verified token); 0 = not logged in
	gate    string
	session string
	cmd     events.Cmd
	now     int64 // unix seconds: the time decide gives events
}

// User is the requesting player's account id, from the token the gate
// verified; 0 before login (only a Public route sees that).
func (r *Request) User() int64 { return r.uid }

// Now is the request's time in unix seconds: the time a decide gives the
// events it emits, so that replaying them gives the same state.
func (r *Request) Now() int64 { return r.now }

// Handler is one route: the api it serves and how. Route makes one.
type Handler struct {
	api    string // the request's full proto name, msg.X.Req
	resAPI string // the response's, msg.X.Res
	// public handlers run before login (no Hive-User).
	public bool
	// local handlers answer without I/O, so they need no deadline: a
	// context.WithTimeout is a timer and three allocations per request.
	local bool
	// new returns an empty request message; fn runs the typed handler on it.
	new func() proto.Message
	fn  func(ctx context.Context, r *Request, req proto.Message) (proto.Message, error)
}

// RouteOpt marks a route: Public, Local.
type RouteOpt func(*Handler)

// Public marks a route served before login: its handler may see User 0.
func Public(h *Handler) { h.public = true }

// Local marks a route that answers without I/O, so it runs without the
// request deadline (--game-request-timeout).
func Local(h *Handler) { h.local = true }

// Route declares the route of one api from its handler: the api and answer
// names are the full proto names of the handler's request and response
// types, and the handler gets its request decoded into its own type. Every
// route is declared this way: the game's own (routes) and a studio's
// (Deps.Routes).
func Route[Req any, Res proto.Message, P interface {
	*Req
	proto.Message
}](fn func(ctx context.Context, r *Request, req P) (Res, error), opts ...RouteOpt) *Handler {
	var res Res
	h := &Handler{
		api:    frame.API(P(new(Req))),
		resAPI: frame.API(res),
		new:    func() proto.Message { return P(new(Req)) },
		fn: func(ctx context.Context, r *Request, req proto.Message) (proto.Message, error) {
			return fn(ctx, r, req.(P)) // req is new()'s: always a P
		},
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// routes lists every api the game serves, one line each.
func (w *Worker) routes() []*Handler {
	return []*Handler{
		Route(w.login, Public),
		Route(w.echo, Public, Local),
		Route(w.logout),
		Route(w.getUser),
		Route(w.getItems),
		Route(w.giftItems),
		Route(w.setEvent),
		Route(w.getMails),
		Route(w.readMail),
		Route(w.claimMail),
		Route(w.deleteMail),
		Route(w.getRank),
	}
}

// table indexes routes by api; an api routed twice is refused.
func table(hs ...*Handler) (map[string]*Handler, error) {
	m := make(map[string]*Handler, len(hs))
	for _, h := range hs {
		if m[h.api] != nil {
			return nil, fmt.Errorf("game: two routes for %s", h.api)
		}
		m[h.api] = h
	}
	return m, nil
}

// decode parses a request payload with frame.Decode's rules and errors
// (frame.ErrBadPayload: it does not parse; frame.ErrMissingRequired: a
// required field is absent, the message is returned), without its registry
// lookup and reflection.
func (h *Handler) decode(payload []byte) (proto.Message, error) {
	m := h.new()
	err := frame.DecodeInto(m, payload)
	if errors.Is(err, frame.ErrBadPayload) {
		return nil, err
	}
	return m, err
}

// handle answers one request message, always: a Res on msg.Reply with the
// Hive-Api header naming it.
func (w *Worker) handle(m *nats.Msg) {
	start := time.Now()
	h := w.handlers[m.Subject]
	in := envelope.ReadRequest(m)
	res := w.answer(&in, h, start)
	w.send(in.Answer(res))
	api := m.Subject
	if h == nil {
		api = "unknown" // anyone on the bus can publish msg.X.Req: bound the label values
	}
	w.m.observe(api, res, time.Since(start))
}

// answer runs m's handler h (nil: an api this worker does not serve),
// started at start.
func (w *Worker) answer(m *envelope.Request, h *Handler, start time.Time) proto.Message {
	api := m.API
	if h == nil {
		return envelope.ErrorAnswer(def.ResCode_RC_API_UNKNOWN, api, "")
	}
	resAPI := h.resAPI
	dec, err := h.decode(m.Data)
	switch {
	case errors.Is(err, frame.ErrMissingRequired):
		return envelope.CodeAnswer(resAPI, resAPI, def.ResCode_RC_BAD_REQUEST)
	case err != nil:
		return envelope.ErrorAnswer(def.ResCode_RC_BAD_REQUEST, api, "payload does not parse")
	}
	r := &Request{api: api, resAPI: resAPI, now: start.Unix(), gate: m.Gate, session: m.Session}
	if r.uid, err = m.UID(); err != nil {
		return envelope.CodeAnswer(resAPI, resAPI, def.ResCode_RC_BAD_REQUEST)
	}
	if r.uid == 0 && !h.public {
		return envelope.CodeAnswer(resAPI, resAPI, def.ResCode_RC_LOGIN_REQUIRED)
	}
	r.cmd = commandID(r.uid, r.gate, r.session, m.ID)
	if h.local {
		res, _ := h.fn(context.Background(), r, dec) // no I/O: no error to see
		return res
	}
	res, err := w.run(h, r, dec, start.Add(w.cfg.RequestTimeout))
	if err != nil {
		code := def.ResCode_RC_SERVER_INTERNAL_ERROR
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			code = def.ResCode_RC_TIMEOUT
		case errors.Is(err, bus.ErrConnectionLost), errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
			code = def.ResCode_RC_COMMON_SERVER_NOT_READY
		}
		w.log.Error("game: request failed", "api", api, "user", r.uid, "req", r.cmd.Corr, "err", err)
		return envelope.CodeAnswer(resAPI, resAPI, code)
	}
	return res
}

// maxReruns bounds the runs of one request again after NATS connection
// drops (a flapping connection cannot hold a worker for long).
const maxReruns = 3

// rerunPause is the wait before running a request again that JetStream did
// not answer (no responders: a server shutting down or starting up).
const rerunPause = 100 * time.Millisecond

// run runs handler h until deadline, again when a NATS drop or an absent
// JetStream cut it (untilLinked). Running it again is safe as a gate's
// re-send is: a command keeps its id and is applied once.
func (w *Worker) run(h *Handler, r *Request, req proto.Message, deadline time.Time) (res proto.Message, err error) {
	err = w.untilLinked(context.Background(), deadline, func(ctx context.Context) (err error) {
		res, err = h.fn(ctx, r, req)
		return err
	}, "api", r.api, "user", r.uid, "req", r.cmd.Corr)
	return res, err
}

// untilLinked runs fn until deadline or the end of parent. fn's calls end at once when the NATS
// connection drops (their replies would never come); fn then runs again,
// its calls buffered until the connection is back. A call that found no
// JetStream responder (a server going down or still starting) runs again
// after a short pause. fn must be safe to run again (its commands keep
// their ids); attrs say what it is in the log.
func (w *Worker) untilLinked(parent context.Context, deadline time.Time, fn func(ctx context.Context) error, attrs ...any) error {
	for reruns := 0; ; reruns++ {
		link := bus.Link(w.deps.NC)
		ctx, cancel := context.WithDeadline(link, deadline)
		stop := func() bool { return false }
		if parent.Done() != nil { // a request's parent never ends: spare it the AfterFunc
			stop = context.AfterFunc(parent, cancel)
		}
		err := fn(ctx)
		stop()
		cancel()
		if parent.Err() != nil {
			return parent.Err()
		}
		dropped, absent := link.Err() != nil, errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
		if err != nil && dropped {
			err = fmt.Errorf("%w (%w)", err, context.Cause(link))
		}
		if err == nil || !(dropped || absent) || reruns == maxReruns || time.Until(deadline) <= rerunPause {
			return err
		}
		if absent && !dropped {
			time.Sleep(rerunPause)
		}
		w.m.reruns.Inc()
		w.log.Info("game: nats connection dropped or jetstream absent during a call: running it again", append(attrs, "err", err)...)
	}
}

// commandID names a request for idempotency: the same request id on the same
// session of the same user is the same command. Without a request id every
// delivery is a new command.
func commandID(uid int64, gate, session, req string) events.Cmd {
	if req == "" {
		return events.Cmd{ID: "n/" + nuid.Next()}
	}
	var num [20]byte
	u := strconv.AppendInt(num[:0], uid, 10)
	var b strings.Builder
	b.Grow(len(u) + 3 + len(gate) + len(session) + len(req)) // one allocation
	b.Write(u)
	for _, s := range [...]string{gate, session, req} {
		b.WriteByte('/')
		b.WriteString(s)
	}
	return events.Cmd{ID: b.String(), Corr: req}
}

// reply publishes a push (a Res no request waits for) to every session of
// user uid.
func (w *Worker) reply(uid int64, res proto.Message) {
	if err := (envelope.Push{User: uid, Res: res}).Publish(w.deps.NC); err != nil {
		w.log.Warn("game: publish push", "user", uid, "api", frame.API(res), "err", err)
	}
}

// send publishes an answer, the way the gate expects it (package envelope).
func (w *Worker) send(a envelope.Answer) {
	if a.To == "" || a.Res == nil {
		return
	}
	if err := a.Publish(w.deps.NC); err != nil {
		w.log.Warn("game: publish answer", "subject", a.To, "err", err)
	}
}
