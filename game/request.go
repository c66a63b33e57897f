package game

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// request is what a handler knows of one msg.*.Req besides its message.
type request struct {
	api     string // msg.X.Req
	resAPI  string // msg.X.Res
	uid     int64  // from Hive-User (the verified token); 0 = not logged in
	gate    string
	session string
	cmd     events.Cmd
	now     int64 // unix seconds: the time decide gives events
}

// handler is one route: the api it serves and how.
type handler struct {
	api    string // the request's full proto name, msg.X.Req
	resAPI string // the response's, msg.X.Res
	// public handlers run before login (no Hive-User).
	public bool
	// local handlers answer without I/O, so they need no deadline: a
	// context.WithTimeout is a timer and three allocations per request.
	local bool
	// new returns an empty request message; fn runs the typed handler on it.
	new func() proto.Message
	fn  func(ctx context.Context, r *request, req proto.Message) (proto.Message, error)
}

// routeOpt marks a route (public, local).
type routeOpt func(*handler)

func public(h *handler) { h.public = true }
func local(h *handler)  { h.local = true }

// route declares the route of one api from its handler: the api and answer
// names are the full proto names of the handler's request and response
// types, and the handler gets its request decoded into its own type.
func route[Req any, Res proto.Message, P interface {
	*Req
	proto.Message
}](fn func(ctx context.Context, r *request, req P) (Res, error), opts ...routeOpt) *handler {
	var res Res
	h := &handler{
		api:    string(P(new(Req)).ProtoReflect().Descriptor().FullName()),
		resAPI: string(res.ProtoReflect().Descriptor().FullName()),
		new:    func() proto.Message { return P(new(Req)) },
		fn: func(ctx context.Context, r *request, req proto.Message) (proto.Message, error) {
			return fn(ctx, r, req.(P)) // req is new()'s: always a P
		},
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// routes lists every api a worker serves, one line each.
func (w *Worker) routes() map[string]*handler {
	return table(
		route(w.login, public),
		route(w.echo, public, local),
		route(w.logout),
		route(w.getUser),
		route(w.getItems),
		route(w.giftItems),
		route(w.setEvent),
		route(w.getMails),
		route(w.readMail),
		route(w.claimMail),
		route(w.deleteMail),
		route(w.getRank),
	)
}

// table indexes routes by api; an api routed twice is a programming error.
func table(hs ...*handler) map[string]*handler {
	m := make(map[string]*handler, len(hs))
	for _, h := range hs {
		if m[h.api] != nil {
			panic("game: two routes for " + h.api)
		}
		m[h.api] = h
	}
	return m
}

// decode parses a request payload with frame.Decode's rules and errors
// (frame.ErrBadPayload: it does not parse; frame.ErrMissingRequired: a
// required field is absent, the message is returned), without its registry
// lookup and reflection.
func (h *handler) decode(payload []byte) (proto.Message, error) {
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
	res := w.answer(m, h, start)
	w.send(m.Reply, res, m.Header[bus.HdrReq])
	api := m.Subject
	if h == nil {
		api = "unknown" // anyone on the bus can publish msg.X.Req: bound the label values
	}
	w.m.observe(api, res, time.Since(start))
}

// answer runs m's handler h (nil: an api this worker does not serve),
// started at start.
func (w *Worker) answer(m *nats.Msg, h *handler, start time.Time) proto.Message {
	api := m.Subject
	if h == nil {
		return &msg.Error_Res{Code: proto.Int32(int32(def.ResCode_RC_API_UNKNOWN)), Api: proto.String(api)}
	}
	resAPI := h.resAPI
	dec, err := h.decode(m.Data)
	switch {
	case errors.Is(err, frame.ErrMissingRequired):
		return codeRes(resAPI, def.ResCode_RC_BAD_REQUEST)
	case err != nil:
		return &msg.Error_Res{Code: proto.Int32(int32(def.ResCode_RC_BAD_REQUEST)), Api: proto.String(api), Detail: proto.String("payload does not parse")}
	}
	r := &request{api: api, resAPI: resAPI, now: start.Unix(),
		gate: m.Header.Get(bus.HdrGate), session: m.Header.Get(bus.HdrSession)}
	if u := m.Header.Get(bus.HdrUser); u != "" {
		if r.uid, err = strconv.ParseInt(u, 10, 64); err != nil || r.uid <= 0 {
			return codeRes(resAPI, def.ResCode_RC_BAD_REQUEST)
		}
	}
	if r.uid == 0 && !h.public {
		return codeRes(resAPI, def.ResCode_RC_LOGIN_REQUIRED)
	}
	r.cmd = commandID(r.uid, r.gate, r.session, m.Header.Get(bus.HdrReq))
	ctx := context.Background()
	if !h.local {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.cfg.RequestTimeout)
		defer cancel()
	}
	res, err := h.fn(ctx, r, dec)
	if err != nil {
		code := def.ResCode_RC_SERVER_INTERNAL_ERROR
		if errors.Is(err, context.DeadlineExceeded) {
			code = def.ResCode_RC_TIMEOUT
		}
		w.log.Error("game: request failed", "api", api, "user", r.uid, "req", r.cmd.Corr, "err", err)
		return codeRes(resAPI, code)
	}
	return res
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

// codeRes builds the Res named resAPI with only its code set. A Res without
// a code field (none served here) becomes msg.Error.Res.
func codeRes(resAPI string, code def.ResCode) proto.Message {
	mt, ok := frame.Lookup([]byte(resAPI))
	if ok {
		m := mt.New()
		if f := m.Descriptor().Fields().ByName("code"); f != nil && f.Kind() == protoreflect.Int32Kind {
			m.Set(f, protoreflect.ValueOfInt32(int32(code)))
			return m.Interface()
		}
	}
	return &msg.Error_Res{Code: proto.Int32(int32(code)), Api: proto.String(resAPI)}
}

// reply publishes a push (a Res no request waits for) to subject.
func (w *Worker) reply(subject string, res proto.Message) { w.send(subject, res, nil) }

// send publishes a Res to subject with the Hive-Api header naming it, the
// way the gate expects answers and pushes. An answer carries the request's
// Hive-Req (its first value, req being the request's header values), so the
// gate can drop one that arrives after its timeout.
func (w *Worker) send(subject string, res proto.Message, req []string) {
	if subject == "" || res == nil {
		return
	}
	buf := marshalBufs.Get().(*[]byte)
	defer putMarshalBuf(buf)
	data, err := proto.MarshalOptions{}.MarshalAppend((*buf)[:0], res)
	if err != nil {
		w.log.Error("game: marshal answer", "type", res.ProtoReflect().Descriptor().FullName(), "err", err)
		return
	}
	*buf = data
	// The header values are shared, never copied: nats.go only reads them
	// (it encodes the header block per publish).
	hdr := nats.Header{bus.HdrAPI: apiHeader(res.ProtoReflect().Descriptor().FullName())}
	if len(req) > 0 && req[0] != "" {
		hdr[bus.HdrReq] = req[:1:1]
	}
	if err := w.deps.NC.PublishMsg(&nats.Msg{Subject: subject, Data: data, Header: hdr}); err != nil {
		w.log.Warn("game: publish answer", "subject", subject, "err", err)
	}
}

// marshalBufs holds buffers to marshal a Res into: nats.go copies the data
// into its write buffer before PublishMsg returns.
var marshalBufs = sync.Pool{New: func() any { return new([]byte) }}

func putMarshalBuf(b *[]byte) {
	if cap(*b) <= 64<<10 { // a rare huge answer is not kept
		marshalBufs.Put(b)
	}
}

// apiHeaders caches the Hive-Api header value of each Res type.
var apiHeaders sync.Map // protoreflect.FullName -> []string

// apiHeader returns the Hive-Api header value naming a Res type (shared:
// do not modify).
func apiHeader(name protoreflect.FullName) []string {
	if v, ok := apiHeaders.Load(name); ok {
		return v.([]string)
	}
	v, _ := apiHeaders.LoadOrStore(name, []string{string(name)})
	return v.([]string)
}

// code returns the Res's result code, for metrics.
func resCode(res proto.Message) int32 {
	m := res.ProtoReflect()
	if f := m.Descriptor().Fields().ByName("code"); f != nil && f.Kind() == protoreflect.Int32Kind {
		return int32(m.Get(f).Int())
	}
	return 0
}
