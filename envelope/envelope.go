package envelope

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/proto/rescode"
)

// Headers of the envelope. The user id comes from the verified token, never
// from the client.
const (
	HdrGate    = "Hive-Gate"    // on a request: the gate id
	HdrSession = "Hive-Session" // on a request: the session id within the gate
	HdrUser    = "Hive-User"    // on a request: verified user id in decimal; absent before login
	HdrReq     = "Hive-Req"     // request id, unique per session; echoed by its answer
	HdrAPI     = "Hive-Api"     // on an answer, push or kick: full name of the Res it carries
	// HdrKickKeep, on a login announcement, names the session to keep: its
	// subject gate.<gateID>.<sessionID>.
	HdrKickKeep = "Hive-Kick-Keep"
	// HdrKickTime, on a login announcement, is that session's login time in
	// unix nanoseconds.
	HdrKickTime = "Hive-Kick-Time"
)

// API names that the gate, the game and clients treat specially, derived
// from their types by frame.API.
var (
	LoginReq  = frame.API(&msg.Login_Req{})
	LoginRes  = frame.API(&msg.Login_Res{})
	LogoutReq = frame.API(&msg.Logout_Req{})
	LogoutRes = frame.API(&msg.Logout_Res{})
	EchoReq   = frame.API(&msg.Echo_Req{})
	KickReq   = frame.API(&msg.Kick_Req{}) // exists only as Kick.Res's twin: never sent
	KickRes   = frame.API(&msg.Kick_Res{})
	ErrorReq  = frame.API(&msg.Error_Req{}) // exists only as Error.Res's twin: never sent
	ErrorRes  = frame.API(&msg.Error_Res{})
)

// Request is one client request as the gate publishes it on its api subject
// (msg.X.Req) for the game.
type Request struct {
	API     string // msg.X.Req: the subject
	Reply   string // gate.<gateID>.<sessionID>; "" for a disconnect logout
	Gate    string // Hive-Gate
	Session string // Hive-Session
	User    string // Hive-User: UserHeader(uid); "" before login (no header)
	ID      string // Hive-Req
	Data    []byte // the request protobuf as the client sent it

	idHdr []string // as received: the Hive-Req values, shared by the answer
}

// ErrBadUser is the error of a request whose Hive-User is not a positive
// decimal user id.
var ErrBadUser = errors.New("envelope: bad " + HdrUser)

// UserHeader is the Hive-User value of uid: "" (no header) for 0.
func UserHeader(uid int64) string {
	if uid == 0 {
		return ""
	}
	return strconv.FormatInt(uid, 10)
}

// UID returns the user id of a request: 0 before login, ErrBadUser when
// Hive-User is set but not a positive decimal number.
func (r *Request) UID() (int64, error) {
	if r.User == "" {
		return 0, nil
	}
	uid, err := strconv.ParseInt(r.User, 10, 64)
	if err != nil || uid <= 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadUser, r.User)
	}
	return uid, nil
}

// requestHeader is a reusable set of request headers: the map and the
// one-element value slices it holds are built once, and a publish only
// assigns the values. nats.go encodes the map inside PublishMsg and keeps no
// reference to it, so after the publish it can be reused.
type requestHeader struct {
	h                        nats.Header
	gate, session, req, user [1]string
}

// requestHeaders holds requestHeaders: no map and slice allocations per
// request on the gate's forward path.
var requestHeaders = sync.Pool{New: func() any {
	r := &requestHeader{}
	r.h = nats.Header{
		HdrGate:    r.gate[:],
		HdrSession: r.session[:],
		HdrReq:     r.req[:],
		HdrUser:    r.user[:],
	}
	return r
}}

// Publish publishes r on its api subject with its headers. Data may be a
// buffer the caller reuses: PublishMsg copies it before returning. It does
// not allocate beyond what nats.go does.
func (r *Request) Publish(nc *nats.Conn) error {
	h := requestHeaders.Get().(*requestHeader)
	h.gate[0], h.session[0], h.req[0] = r.Gate, r.Session, r.ID
	if r.User != "" {
		h.user[0] = r.User
		h.h[HdrUser] = h.user[:]
	} else {
		delete(h.h, HdrUser)
	}
	err := nc.PublishMsg(&nats.Msg{Subject: bus.RequestSubject(r.API), Reply: r.Reply, Header: h.h, Data: r.Data})
	h.gate[0], h.session[0], h.req[0], h.user[0] = "", "", "", "" // a pooled set holds no strings
	requestHeaders.Put(h)
	return err
}

// ReadRequest reads the envelope of a request message m received on
// msg.X.Req. Data is m.Data, not copied.
func ReadRequest(m *nats.Msg) Request {
	return Request{API: m.Subject, Reply: m.Reply, Gate: m.Header.Get(HdrGate),
		Session: m.Header.Get(HdrSession), User: m.Header.Get(HdrUser), ID: m.Header.Get(HdrReq), Data: m.Data,
		idHdr: m.Header[HdrReq]}
}

// Answer is the answer res to r: to its reply subject, echoing its
// Hive-Req. For a request read with ReadRequest it shares the received
// header value rather than allocating one.
func (r *Request) Answer(res proto.Message) Answer {
	req := r.idHdr
	if req == nil && r.ID != "" {
		req = []string{r.ID}
	}
	return Answer{To: r.Reply, Req: req, Res: res}
}

// Answer is a Res published to a session's subject: the answer to a request
// when Req holds its request's Hive-Req values (the first is echoed, so a
// late answer is recognised), a push to that session when Req is empty.
type Answer struct {
	To  string        // gate.<gateID>.<sessionID>: the request's reply subject
	Req []string      // the request's Hive-Req header values; shared, only read
	Res proto.Message // the msg.X.Res
}

// Publish encodes a and publishes it. The Hive-Api value and the request's
// Hive-Req slice are shared, not copied: nats.go only reads header values.
func (a Answer) Publish(nc *nats.Conn) error {
	var req []string
	if len(a.Req) > 0 && a.Req[0] != "" {
		req = a.Req[:1:1]
	}
	return publishRes(nc, a.To, a.Res, req)
}

// Push is a Res sent to every live session of a user on user.<uid>, such
// as msg.GetItems.Res after the player's items changed.
type Push struct {
	User int64
	Res  proto.Message // a msg.X.Res
}

// Publish encodes p and publishes it on user.<uid>.
func (p Push) Publish(nc *nats.Conn) error {
	return publishRes(nc, bus.UserSubject(p.User), p.Res, nil)
}

// Received is an answer, push or kick as a gate receives it, on its
// session subject or on user.<uid>.
type Received struct {
	API  string // Hive-Api
	Req  string // Hive-Req: set on an answer, absent on a push or kick
	Keep string // Hive-Kick-Keep: set on a login announcement
	Time string // Hive-Kick-Time: set on a login announcement
	Data []byte // the Res protobuf
}

// Read reads the envelope of a message a gate receives. Data is m.Data.
func Read(m *nats.Msg) Received {
	r := Received{API: m.Header.Get(HdrAPI), Req: m.Header.Get(HdrReq), Data: m.Data}
	if r.API == KickRes {
		r.Keep, r.Time = m.Header.Get(HdrKickKeep), m.Header.Get(HdrKickTime)
	}
	return r
}

// NoResponders reports whether m is the status NATS sends to a request's
// reply subject when no worker subscribes to its api ("Status: 503", for
// connections with headers, as every Hive connection has): the gate
// answers that request RC_COMMON_SERVER_NOT_READY.
func NoResponders(m *nats.Msg) bool {
	return m.Header.Get("Status") == "503"
}

// Kick ends a user's live sessions: msg.Kick.Res{Code, Reason} on
// user.<uid>. With Keep set it is a login announcement: sessions of the
// user that logged in before LoginTime are kicked, the one named Keep
// stays (package doc, Kicks).
type Kick struct {
	User      int64
	Code      def.ResCode
	Reason    string
	Keep      string // gate.<gateID>.<sessionID> of the session to keep; "" kicks all
	LoginTime int64  // unix ns, with Keep
}

// KickPayload encodes msg.Kick.Res{code, reason}.
func KickPayload(code def.ResCode, reason string) []byte {
	b, err := proto.Marshal(&msg.Kick_Res{Code: proto.Int32(int32(code)), Reason: proto.String(reason)})
	if err != nil {
		panic(fmt.Sprintf("envelope: encode msg.Kick.Res: %v", err)) // fixed message: cannot fail
	}
	return b
}

// KickFrame is the client frame of msg.Kick.Res{code, reason}, as a gate
// writes it to a socket.
func KickFrame(code def.ResCode, reason string) []byte {
	f, err := frame.AppendFrame(nil, KickRes, KickPayload(code, reason))
	if err != nil {
		panic(fmt.Sprintf("envelope: frame msg.Kick.Res: %v", err)) // a kick is tiny: cannot fail
	}
	return f
}

// Msg is the message of k, its payload encoded from Code and Reason.
func (k Kick) Msg() *nats.Msg { return k.MsgWith(KickPayload(k.Code, k.Reason)) }

// MsgWith is the message of k with payload, an encoded msg.Kick.Res (a
// gate encodes its login kick once).
func (k Kick) MsgWith(payload []byte) *nats.Msg {
	h := nats.Header{HdrAPI: {KickRes}}
	if k.Keep != "" {
		h[HdrKickKeep] = []string{k.Keep}
		h[HdrKickTime] = []string{strconv.FormatInt(k.LoginTime, 10)}
	}
	return &nats.Msg{Subject: bus.UserSubject(k.User), Header: h, Data: payload}
}

// Publish publishes k.
func (k Kick) Publish(nc *nats.Conn) error { return nc.PublishMsg(k.Msg()) }

// ErrorAnswer is msg.Error.Res{code, api, detail} (detail omitted when
// empty): the answer to a request whose own Res cannot say why.
func ErrorAnswer(code def.ResCode, api, detail string) *msg.Error_Res {
	e := &msg.Error_Res{Code: proto.Int32(int32(code)), Api: proto.String(api)}
	if detail != "" {
		e.Detail = proto.String(detail)
	}
	return e
}

// CodeAnswer is the Res named resAPI with only its result code set; if
// that Res is unknown, has no result code or has another required field,
// msg.Error.Res{code, api}.
func CodeAnswer(resAPI, api string, code def.ResCode) proto.Message {
	if mt, ok := frame.Lookup([]byte(resAPI)); ok {
		m := mt.New().Interface()
		if rescode.Set(m, code) && proto.CheckInitialized(m) == nil {
			return m
		}
	}
	return ErrorAnswer(code, api, "")
}

// publishRes marshals res into a pooled buffer and publishes it to subject
// with Hive-Api naming it and, when req is set, Hive-Req.
func publishRes(nc *nats.Conn, subject string, res proto.Message, req []string) error {
	buf := marshalBufs.Get().(*[]byte)
	defer putMarshalBuf(buf)
	data, err := proto.MarshalOptions{}.MarshalAppend((*buf)[:0], res)
	if err != nil {
		return fmt.Errorf("envelope: marshal %s: %w", frame.API(res), err)
	}
	*buf = data
	hdr := nats.Header{HdrAPI: apiHeader(res.ProtoReflect().Descriptor().FullName())}
	if req != nil {
		hdr[HdrReq] = req
	}
	return nc.PublishMsg(&nats.Msg{Subject: subject, Data: data, Header: hdr})
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
