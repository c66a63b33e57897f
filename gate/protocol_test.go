package gate

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// vector is one case of the shared test vectors (proto/frame/testdata).
type vector struct {
	Name     string `json:"name"`
	API      string `json:"api"`
	FrameHex string `json:"frame_hex"`
	Expect   string `json:"expect"`
	Note     string `json:"note"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile("../proto/frame/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func (v vector) frame(t *testing.T) []byte {
	b, err := hex.DecodeString(v.FrameHex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectorsThroughGate sends every vector to a gate, before and after
// login, and checks the gate does what the vector expects: close only that
// connection, answer RC_API_UNKNOWN / RC_BAD_REQUEST and stay open, or
// forward the request's bytes unchanged to the game.
func TestVectorsThroughGate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	bystander := e.dial(g)
	bystander.login(e.token(1), 1)

	for _, v := range loadVectors(t) {
		for _, loggedIn := range []bool{false, true} {
			f := v.frame(t)
			c := e.dial(g)
			if loggedIn {
				c.login(e.token(2), 2)
			}
			before := len(e.game.requests(v.API))
			c.sendRaw(f)
			switch v.Expect {
			case "close":
				if got := c.expectClosed(); len(got) != 0 {
					t.Errorf("%s (logged in %v): frames %v before close, want none", v.Name, loggedIn, got)
				}
			case "error:5":
				m := c.next()
				e5, ok := m.(*msg.Error_Res)
				if !ok || e5.GetCode() != int32(def.ResCode_RC_API_UNKNOWN) || e5.GetApi() == "" {
					t.Errorf("%s: got %v, want msg.Error.Res{RC_API_UNKNOWN, api}", v.Name, m)
				}
				c.echo(3) // still open
			case "res:2":
				want := def.ResCode_RC_BAD_REQUEST
				m := c.next()
				if apiOf(m) != frame.ResponseAPI(v.API) && apiOf(m) != "msg.GiftItems.Res" || codeOf(m) != int32(want) {
					t.Errorf("%s: got %s %v, want X.Res{RC_BAD_REQUEST}", v.Name, apiOf(m), m)
				}
				c.echo(3)
			case "decode":
				checkDecodeVector(t, e, c, v, f, loggedIn, before)
			}
			c.c.Close()
		}
		bystander.echo(4) // every case left the other connection alone
	}
	if v := metricValue(g.m.disconnects.WithLabelValues(closeMalformed)); v == 0 {
		t.Fatal("no malformed disconnects counted")
	}
}

// checkDecodeVector: a valid request is forwarded byte for byte after login
// (Login always); before login only Login and Echo are served.
func checkDecodeVector(t *testing.T, e *env, c *client, v vector, f []byte, loggedIn bool, before int) {
	t.Helper()
	isReq := frame.IsRequest([]byte(v.API))
	switch {
	case !isReq: // a Res sent by a client
		expectRes(t, c.next(), envelope.ErrorRes, def.ResCode_RC_API_UNKNOWN)
	case v.API == envelope.LoginReq:
		// The vector's token is not a real one.
		m := c.next()
		want := def.ResCode_RC_LOGIN_TOKEN_INVALID
		if loggedIn {
			want = def.ResCode_RC_BAD_REQUEST
		}
		expectRes(t, m, envelope.LoginRes, want)
	case !loggedIn && v.API != envelope.EchoReq:
		expectRes(t, c.next(), frame.ResponseAPI(v.API), def.ResCode_RC_LOGIN_REQUIRED)
	case !loggedIn: // Echo before login: answered by the gate
		if m := c.next(); apiOf(m) != "msg.Echo.Res" {
			t.Fatalf("%s: got %v", v.Name, m)
		}
	default:
		m := c.next()
		if apiOf(m) != frame.ResponseAPI(v.API) {
			t.Fatalf("%s: got %v", v.Name, m)
		}
		reqs := e.game.requests(v.API)
		if len(reqs) != before+1 {
			t.Fatalf("%s: game saw %d requests, want %d", v.Name, len(reqs), before+1)
		}
		payload := f[frame.HeaderSize+len(v.API):]
		if got := reqs[len(reqs)-1].Data; !bytes.Equal(got, payload) {
			t.Fatalf("%s: game got % x, want % x", v.Name, got, payload)
		}
	}
}

func TestMalformedFrames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.MaxFrame = 1024 })
	bystander := e.dial(g)
	bystander.login(e.token(1), 1)
	big, _ := frame.AppendFrame(nil, "msg.Echo.Req", make([]byte, 2000))
	valid, _ := frame.AppendMessage(nil, &msg.Echo_Req{Val: proto.Int64(1)})
	cases := map[string][]byte{
		"over max frame":       big,
		"truncated then EOF":   valid[:len(valid)-2],
		"api_size 65535":       append([]byte{0x10, 0x00, 0xff, 0xff}, "msg.Echo.Req.."...),
		"bad payload in login": append([]byte{0x10, 0x00, 0x0d, 0x00}, append([]byte("msg.Login.Req"), 0xff)...),
	}
	for name, f := range cases {
		c := e.dial(g)
		c.sendRaw(f)
		if name == "truncated then EOF" {
			_ = c.c.(interface{ CloseWrite() error }).CloseWrite()
		}
		if got := c.expectClosed(); len(got) != 0 {
			t.Errorf("%s: frames %v before close", name, got)
		}
		bystander.echo(2)
	}
	eventually(t, "only the bystander left", func() bool { return g.Conns() == 1 })
}

func TestPreLoginRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	c := e.dial(g)
	cases := []struct {
		req proto.Message
		res string
	}{
		{&msg.GetItems_Req{}, "msg.GetItems.Res"},
		{&msg.GetUser_Req{Id: proto.Int64(0)}, "msg.GetUser.Res"},
		{&msg.SetEvent_Req{Event: &def.Event{Oper: proto.Int32(1001), ArgStr: proto.String("x")}}, "msg.SetEvent.Res"}, // code is field 2
		{&msg.Logout_Req{Account: proto.Int64(1)}, envelope.LogoutRes},
		{&msg.ReadMail_Req{}, "msg.ReadMail.Res"},
	}
	for _, tc := range cases {
		c.send(tc.req)
		expectRes(t, c.next(), tc.res, def.ResCode_RC_LOGIN_REQUIRED)
	}
	// Echo is answered by the gate itself before login.
	c.send(&msg.Echo_Req{Val: proto.Int64(5), Ct: proto.Int64(6)})
	if m, ok := c.next().(*msg.Echo_Res); !ok || m.GetVal() != 5 || m.GetCt() != 6 {
		t.Fatalf("pre-login echo = %v", m)
	}
	// Server-only requests and unknown names: RC_API_UNKNOWN.
	for _, api := range []string{"msg.Kick.Req", "msg.Error.Req", "msg.NoSuch.Req", "def.User"} {
		f, _ := frame.AppendFrame(nil, api, nil)
		c.sendRaw(f)
		m, ok := c.next().(*msg.Error_Res)
		if !ok || m.GetCode() != int32(def.ResCode_RC_API_UNKNOWN) || m.GetApi() != api {
			t.Fatalf("%s: got %v, want msg.Error.Res{RC_API_UNKNOWN, %s}", api, m, api)
		}
	}
	if n := len(e.game.requests(envelope.EchoReq)) + len(e.game.requests("msg.GetItems.Req")); n != 0 {
		t.Fatalf("%d pre-login requests reached the game", n)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.Rate = 0.01; c.Burst = 4 }) // no refill within the test
	c := e.dial(g)
	c.login(e.token(1), 1) // takes one token
	const n = 6
	var batch []byte
	for range n {
		batch, _ = frame.AppendMessage(batch, &msg.GetItems_Req{})
	}
	c.sendRaw(batch)
	codes := map[int32]int{}
	for range n {
		m := c.next()
		if apiOf(m) != "msg.GetItems.Res" {
			t.Fatalf("got %v", m)
		}
		codes[codeOf(m)]++
	}
	if codes[0] != 3 || codes[int32(def.ResCode_RC_RATE_LIMITED)] != 3 {
		t.Fatalf("codes %v, want 3 OK and 3 RC_RATE_LIMITED", codes)
	}
	// Echo.Res has no code: the limit is reported with msg.Error.Res.
	c.send(&msg.Echo_Req{})
	if m, ok := c.next().(*msg.Error_Res); !ok || m.GetCode() != int32(def.ResCode_RC_RATE_LIMITED) || m.GetApi() != envelope.EchoReq {
		t.Fatalf("limited echo = %v", m)
	}
	if v := metricValue(g.m.rateLimited); v != 4 {
		t.Fatalf("rate_limited = %v, want 4", v)
	}
}

func TestPendingQueueBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.MaxPending = 2 })
	release := make(chan struct{})
	var mu sync.Mutex
	var order []int32
	e.game.handle("msg.GetItems.Req", func(m *nats.Msg, req proto.Message) proto.Message {
		<-release
		mu.Lock()
		order = append(order, req.(*msg.GetItems_Req).GetIdx())
		mu.Unlock()
		return &msg.GetItems_Res{Code: proto.Int32(0)}
	})
	c := e.dial(g)
	c.login(e.token(1), 1)
	var batch []byte
	for i := range 5 {
		batch, _ = frame.AppendMessage(batch, &msg.GetItems_Req{Idx: proto.Int32(int32(i + 1))})
	}
	c.sendRaw(batch)
	// One in flight, two waiting: the last two are refused at once.
	for range 2 {
		expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_RATE_LIMITED)
	}
	close(release)
	for range 3 {
		expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_OK)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 3 {
		t.Fatalf("game handled %v, want [1 2 3] in order", order)
	}
}

func TestMaxConns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.MaxConns = 1 })
	first := e.dial(g)
	first.login(e.token(1), 1)
	second := e.dial(g)
	got := second.expectClosed()
	if len(got) != 1 {
		t.Fatalf("refused connection got %v", got)
	}
	expectRes(t, got[0], envelope.KickRes, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	first.echo(1)
	if v := metricValue(g.m.refused); v != 1 {
		t.Fatalf("refused = %v", v)
	}
}

// TestSlowReaderDisconnected: a client that stops reading while pushes pile
// up is disconnected; another session carries on meanwhile.
func TestSlowReaderDisconnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.QueueBytes = 2 + frame.MaxSize + 1000; c.WriteTimeout = time.Minute })
	slow := e.dial(g)
	_ = slow.c.(interface{ SetReadBuffer(int) error }).SetReadBuffer(4096)
	slow.login(e.token(1), 1)
	other := e.dial(g)
	other.login(e.token(2), 2)

	big, _ := proto.Marshal(&msg.Error_Res{Code: proto.Int32(0), Detail: proto.String(string(make([]byte, 60000)))})
	pub := e.nats.Connect(t, "pusher")
	deadline := time.Now().Add(waitFor)
	for i := 0; metricValue(g.m.queueDrops) == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("slow reader not disconnected after %d pushes", i)
		}
		if err := pub.PublishMsg(&nats.Msg{Subject: "user.1", Header: nats.Header{"Hive-Api": {envelope.ErrorRes}}, Data: big}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			pub.Flush()
			other.echo(int64(i)) // the other session is served meanwhile
		}
	}
	other.echo(-1)
	eventually(t, "slow session closed", func() bool { return g.Conns() == 1 })
	if v := metricValue(g.m.disconnects.WithLabelValues(closeSlowReader)); v != 1 {
		t.Fatalf("slow_reader disconnects = %v", v)
	}
}
