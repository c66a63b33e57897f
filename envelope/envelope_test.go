package envelope_test

import (
	"encoding/hex"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// Wire bytes as the gate and the game produced them before this package
// held the envelope (recorded from that code): an old peer and a new one
// must see the same bytes.
const (
	goldenLoginKick   = "08d40f12136c6f6767656420696e20656c73657768657265"                                                               // Kick.Res{RC_LOGIN_KICKED, "logged in elsewhere"}
	goldenLoginCode   = "12000d006d73672e4c6f67696e2e52657308d70f"                                                                       // frame Login.Res{RC_LOGIN_TOKEN_REVOKED}
	goldenSetEvent    = "140010006d73672e5365744576656e742e5265731004"                                                                   // frame SetEvent.Res{RC_TIMEOUT}: code is field 2
	goldenErrorDetail = "35000d006d73672e4572726f722e5265730805120c6d73672e4b69636b2e5265711a146e6f74206120636c69656e742072657175657374" // frame Error.Res{RC_API_UNKNOWN, msg.Kick.Req, detail}
	goldenEchoLimited = "1f000d006d73672e4572726f722e5265730803120c6d73672e4563686f2e526571"                                             // frame Error.Res{RC_RATE_LIMITED, msg.Echo.Req}: Echo.Res has no code
)

func frameOf(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := frame.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestPayloadBytes: the gate's own answers and kicks encode byte for byte
// as before.
func TestPayloadBytes(t *testing.T) {
	for _, c := range []struct {
		name, got, want string
	}{
		{"login kick", hex.EncodeToString(envelope.KickPayload(def.ResCode_RC_LOGIN_KICKED, "logged in elsewhere")), goldenLoginKick},
		{"login code", frameOf(t, envelope.CodeAnswer(envelope.LoginRes, envelope.LoginReq, def.ResCode_RC_LOGIN_TOKEN_REVOKED)), goldenLoginCode},
		{"set event code", frameOf(t, envelope.CodeAnswer("msg.SetEvent.Res", "msg.SetEvent.Req", def.ResCode_RC_TIMEOUT)), goldenSetEvent},
		{"error with detail", frameOf(t, envelope.ErrorAnswer(def.ResCode_RC_API_UNKNOWN, envelope.KickReq, "not a client request")), goldenErrorDetail},
		{"no code field", frameOf(t, envelope.CodeAnswer("msg.Echo.Res", envelope.EchoReq, def.ResCode_RC_RATE_LIMITED)), goldenEchoLimited},
		{"kick frame", hex.EncodeToString(envelope.KickFrame(def.ResCode_RC_LOGIN_KICKED, "logged in elsewhere")),
			frameOf(t, &msg.Kick_Res{Code: proto.Int32(int32(def.ResCode_RC_LOGIN_KICKED)), Reason: proto.String("logged in elsewhere")})},
	} {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
}

// TestAPINames: the api names are the types' full names, as clients send
// them in frames.
func TestAPINames(t *testing.T) {
	for got, want := range map[string]string{
		envelope.LoginReq: "msg.Login.Req", envelope.LoginRes: "msg.Login.Res",
		envelope.LogoutReq: "msg.Logout.Req", envelope.LogoutRes: "msg.Logout.Res",
		envelope.EchoReq: "msg.Echo.Req", envelope.KickReq: "msg.Kick.Req", envelope.KickRes: "msg.Kick.Res",
		envelope.ErrorReq: "msg.Error.Req", envelope.ErrorRes: "msg.Error.Res",
		frame.API(&msg.GetItems_Res{}): "msg.GetItems.Res",
	} {
		if got != want {
			t.Errorf("api %q, want %q", got, want)
		}
	}
}

// subscribe returns a synchronous subscription on subject, live.
func subscribe(t *testing.T, nc *nats.Conn, subject string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

func next(t *testing.T, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkHeader compares a received header with exactly the wanted one: no
// header more, none less, one value each.
func checkHeader(t *testing.T, what string, got, want nats.Header) {
	t.Helper()
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("%s: header %v, want %v", what, got, want)
	}
}

// TestRequestRoundTrip: a request crosses NATS with exactly the headers of
// the contract (Hive-User only after login, also when the pooled header
// set last carried one) and reads back as it was sent; the answer echoes
// the first Hive-Req only.
func TestRequestRoundTrip(t *testing.T) {
	n := testenv.StartNATS(t)
	reqs := subscribe(t, n.Conn, "msg.*.Req")
	answers := subscribe(t, n.Conn, "gate.g7.>")
	sent := []envelope.Request{
		{API: envelope.EchoReq, Reply: "gate.g7.3", Gate: "g7", Session: "3", User: envelope.UserHeader(10001), ID: "1", Data: []byte{8, 1}},
		{API: envelope.EchoReq, Reply: "gate.g7.3", Gate: "g7", Session: "3", User: envelope.UserHeader(0), ID: "123456789", Data: []byte{8, 2}},
		{API: envelope.LogoutReq, Gate: "g7", Session: "3", User: "42", ID: "2", Data: []byte{8, 42}},
	}
	for i := range sent {
		if err := sent[i].Publish(n.Conn); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range sent {
		m := next(t, reqs)
		wantHdr := nats.Header{"Hive-Gate": {want.Gate}, "Hive-Session": {want.Session}, "Hive-Req": {want.ID}}
		if want.User != "" {
			wantHdr["Hive-User"] = []string{want.User}
		}
		checkHeader(t, want.API, m.Header, wantHdr)
		got := envelope.ReadRequest(m)
		if got.API != want.API || got.Reply != want.Reply || got.Gate != want.Gate || got.Session != want.Session ||
			got.User != want.User || got.ID != want.ID || string(got.Data) != string(want.Data) {
			t.Errorf("request %d read back as %+v, sent %+v", i, got, want)
		}
		if got.Reply == "" {
			continue
		}
		res := &msg.Echo_Res{Val: proto.Int64(int64(i))}
		if err := got.Answer(res).Publish(n.Conn); err != nil {
			t.Fatal(err)
		}
		a := next(t, answers)
		checkHeader(t, "answer", a.Header, nats.Header{"Hive-Api": {"msg.Echo.Res"}, "Hive-Req": {want.ID}})
		in := envelope.Read(a)
		if in.API != "msg.Echo.Res" || in.Req != want.ID || in.Keep != "" {
			t.Errorf("answer read as %+v", in)
		}
		if b, _ := proto.Marshal(res); string(in.Data) != string(b) {
			t.Errorf("answer data %x, want %x", in.Data, b)
		}
	}
}

// TestUID: Hive-User is a positive decimal id or absent.
func TestUID(t *testing.T) {
	for user, want := range map[string]int64{"": 0, "1": 1, "9007199254740993": 9007199254740993} {
		r := envelope.Request{User: user}
		if got, err := r.UID(); err != nil || got != want {
			t.Errorf("UID(%q) = %d, %v", user, got, err)
		}
	}
	for _, user := range []string{"0", "-3", "x", "1 "} {
		r := envelope.Request{User: user}
		if _, err := r.UID(); err == nil {
			t.Errorf("UID(%q) accepted", user)
		}
	}
}

// TestPushAndKicks: a push, an operator kick and a login announcement on
// user.<uid> carry exactly the contract's headers and read back.
func TestPushAndKicks(t *testing.T) {
	n := testenv.StartNATS(t)
	sub := subscribe(t, n.Conn, "user.9")
	push := &msg.GetItems_Res{Code: proto.Int32(0)}
	if err := (envelope.Push{User: 9, Res: push}).Publish(n.Conn); err != nil {
		t.Fatal(err)
	}
	m := next(t, sub)
	checkHeader(t, "push", m.Header, nats.Header{"Hive-Api": {"msg.GetItems.Res"}})
	if in := envelope.Read(m); in.API != "msg.GetItems.Res" || in.Req != "" {
		t.Errorf("push read as %+v", in)
	}

	kick := envelope.Kick{User: 9, Code: def.ResCode_RC_LOGIN_KICKED, Reason: "logged in elsewhere"}
	if err := kick.Publish(n.Conn); err != nil {
		t.Fatal(err)
	}
	m = next(t, sub)
	checkHeader(t, "kick", m.Header, nats.Header{"Hive-Api": {"msg.Kick.Res"}})
	if in := envelope.Read(m); in.API != envelope.KickRes || in.Keep != "" || hex.EncodeToString(in.Data) != goldenLoginKick {
		t.Errorf("kick read as %+v", in)
	}

	kick.Keep, kick.LoginTime = "gate.g7.3", 1700000000123456789
	if err := n.Conn.PublishMsg(kick.MsgWith(envelope.KickPayload(kick.Code, kick.Reason))); err != nil {
		t.Fatal(err)
	}
	m = next(t, sub)
	checkHeader(t, "login announcement", m.Header, nats.Header{"Hive-Api": {"msg.Kick.Res"},
		"Hive-Kick-Keep": {"gate.g7.3"}, "Hive-Kick-Time": {"1700000000123456789"}})
	if in := envelope.Read(m); in.Keep != "gate.g7.3" || in.Time != "1700000000123456789" || hex.EncodeToString(in.Data) != goldenLoginKick {
		t.Errorf("login announcement read as %+v", in)
	}
}

// TestNoResponders: a request no worker subscribes to comes back to the
// gate's subject as NATS's no-responders status, which NoResponders tells
// from an answer.
func TestNoResponders(t *testing.T) {
	n := testenv.StartNATS(t)
	ch := make(chan *nats.Msg, 2)
	if _, err := n.Conn.ChanSubscribe("gate.g7.>", ch); err != nil { // a sync subscription turns the status into an error
		t.Fatal(err)
	}
	if err := n.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	r := envelope.Request{API: "msg.Nobody.Req", Reply: "gate.g7.5", Gate: "g7", Session: "5", ID: "1"}
	if err := r.Publish(n.Conn); err != nil {
		t.Fatal(err)
	}
	if m := <-ch; !envelope.NoResponders(m) {
		t.Errorf("no-responders status not recognised: %v %q", m.Header, m.Data)
	}
	if err := r.Answer(&msg.Echo_Res{}).Publish(n.Conn); err != nil {
		t.Fatal(err)
	}
	if m := <-ch; envelope.NoResponders(m) {
		t.Errorf("an answer taken for no responders: %v", m.Header)
	}
}
