package gate

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// transport is one way a client reaches the gate.
type transport struct {
	name string
	dial func(e *env, g *Server) *client
}

// transports: every case of TestTransports runs over each, against the
// same gate code.
var transports = []transport{{"tcp", (*env).dial}, {"ws", (*env).dialWS}}

// wsCloseCode is the close code the gate sent to c, once c has read to the
// end; -1 for a TCP client, which has none.
func wsCloseCode(c *client) int {
	if w, ok := c.c.(*wsClient); ok {
		return w.closeCode
	}
	return -1
}

// transportCase is one behaviour both transports must show: run drives the
// gate and returns the client the gate closed (nil: none closed), and
// wsCode is the close code that client must then have read over WebSocket.
type transportCase struct {
	name   string
	config func(*Config)
	run    func(t *testing.T, e *env, g *Server, dial func() *client) *client
	wsCode int
}

var transportCases = []transportCase{
	{name: "login then a request answered", run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		c := dial()
		c.echo(1) // answered by the gate before login
		c.login(e.token(1), 1)
		c.send(&msg.GetItems_Req{})
		expectRes(t, c.next(), "msg.GetItems.Res", def.ResCode_RC_OK)
		c.echo(2) // answered by the game
		if n := len(e.game.requests(envelope.EchoReq)); n != 1 {
			t.Fatalf("%d echoes reached the game, want the one after login", n)
		}
		return nil
	}},
	{name: "malformed frame", run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		c := dial()
		c.sendRaw(append([]byte{0x10, 0x00, 0xff, 0xff}, "msg.Echo.Req.."...)) // api_size past the frame
		if got := c.expectClosed(); len(got) != 0 {
			t.Fatalf("frames %v before close", got)
		}
		eventually(t, "malformed disconnect counted", func() bool {
			return metricValue(g.m.disconnects.WithLabelValues(closeMalformed)) == 1
		})
		return c
	}, wsCode: websocket.CloseInvalidFramePayloadData},
	{name: "undecodable payload", run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		c := dial()
		c.sendRaw(append([]byte{0x10, 0x00, 0x0d, 0x00}, append([]byte("msg.Login.Req"), 0xff)...))
		if got := c.expectClosed(); len(got) != 0 {
			t.Fatalf("frames %v before close", got)
		}
		return c
	}, wsCode: websocket.CloseInvalidFramePayloadData},
	{name: "oversize frame", config: func(c *Config) { c.MaxFrame = 1024 }, run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		bystander := dial()
		c := dial()
		big, _ := frame.AppendFrame(nil, envelope.EchoReq, make([]byte, 2000))
		c.sendRaw(big)
		if got := c.expectClosed(); len(got) != 0 {
			t.Fatalf("frames %v before close", got)
		}
		bystander.echo(1)
		return c
	}, wsCode: websocket.CloseMessageTooBig},
	{name: "rate limit", config: func(c *Config) { c.Rate = 0.01; c.Burst = 4 }, run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		c := dial()
		c.login(e.token(1), 1) // takes one token
		const n = 6
		for range n {
			c.send(&msg.GetItems_Req{})
		}
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
		return nil
	}},
	{name: "second login kicks the first", run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		first := dial()
		first.login(e.token(7), 7)
		second := dial()
		second.login(e.token(7), 7)
		expectKicked(t, first, def.ResCode_RC_LOGIN_KICKED)
		second.echo(1)
		return first
	}, wsCode: websocket.CloseNormalClosure},
	{name: "pushed to the player", run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		c := dial()
		c.login(e.token(5), 5)
		pushItems(t, e, 5)
		if m := c.next(); apiOf(m) != "msg.GetItems.Res" {
			t.Fatalf("push = %v", m)
		}
		return nil
	}},
	{name: "drain", run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		c := dial()
		c.login(e.token(1), 1)
		go g.Shutdown(context.Background())
		expectKicked(t, c, def.ResCode_RC_GATE_DRAINING)
		return c
	}, wsCode: websocket.CloseGoingAway},
	{name: "gate full", config: func(c *Config) { c.MaxConns = 1 }, run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		first := dial()
		first.login(e.token(1), 1)
		second := dial()
		expectKicked(t, second, def.ResCode_RC_COMMON_SERVER_NOT_READY)
		first.echo(1)
		if v := metricValue(g.m.refused); v != 1 {
			t.Fatalf("refused = %v", v)
		}
		return second
	}, wsCode: websocket.CloseTryAgainLater},
	{name: "login timeout", config: func(c *Config) { c.LoginTimeout = 300 * time.Millisecond }, run: func(t *testing.T, e *env, g *Server, dial func() *client) *client {
		c := dial()
		expectKicked(t, c, def.ResCode_RC_LOGIN_REQUIRED)
		return c
	}, wsCode: websocket.CloseNormalClosure},
}

// TestTransports runs the same cases over TCP and WebSocket: the rules,
// limits, kicks, pushes and drain are the gate's, whatever carries the
// frames. Over WebSocket the close code must match too.
func TestTransports(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			for _, tc := range transportCases {
				t.Run(tc.name, func(t *testing.T) {
					g := e.startGate(func(c *Config) {
						c.WSListen = "127.0.0.1:0"
						if tc.config != nil {
							tc.config(c)
						}
					})
					closed := tc.run(t, e, g, func() *client { return tr.dial(e, g) })
					if closed != nil && tr.name == "ws" {
						if got := wsCloseCode(closed); got != tc.wsCode {
							t.Fatalf("close code %d, want %d", got, tc.wsCode)
						}
					}
				})
			}
		})
	}
}

// wsGate starts a gate serving WebSocket with cfg changes.
func (e *env) wsGate(mod func(*Config)) *Server {
	return e.startGate(func(c *Config) {
		c.WSListen = "127.0.0.1:0"
		if mod != nil {
			mod(c)
		}
	})
}

// A message that is not exactly one binary frame closes the connection
// with the documented code; the gate's other sessions go on.
func TestWSMessageNotOneFrame(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.wsGate(func(c *Config) { c.MaxFrame = 1024 })
	bystander := e.dialWS(g)
	bystander.login(e.token(1), 1)
	echo, _ := frame.AppendMessage(nil, &msg.Echo_Req{Val: proto.Int64(1)})
	// answered: the message starts with a whole frame, which is handled
	// before the rest of the message is read.
	cases := []struct {
		name     string
		typ      int
		data     []byte
		code     int
		answered bool
	}{
		{"text message", websocket.TextMessage, []byte("hello"), websocket.CloseUnsupportedData, false},
		{"text message holding a frame", websocket.TextMessage, echo, websocket.CloseUnsupportedData, false},
		{"empty message", websocket.BinaryMessage, nil, websocket.CloseInvalidFramePayloadData, false},
		{"one byte", websocket.BinaryMessage, echo[:1], websocket.CloseInvalidFramePayloadData, false},
		{"ends inside the frame", websocket.BinaryMessage, echo[:len(echo)-1], websocket.CloseInvalidFramePayloadData, false},
		{"a byte past the frame", websocket.BinaryMessage, append(append([]byte{}, echo...), 0), websocket.CloseInvalidFramePayloadData, true},
		{"two frames", websocket.BinaryMessage, append(append([]byte{}, echo...), echo...), websocket.CloseInvalidFramePayloadData, true},
		{"size field over the max", websocket.BinaryMessage, []byte{0x00, 0x10, 0x01, 0x00}, websocket.CloseMessageTooBig, false},
		{"message over the max", websocket.BinaryMessage, make([]byte, 2000), websocket.CloseMessageTooBig, false},
	}
	for _, tc := range cases {
		c := e.dialWS(g)
		if err := c.c.(*wsClient).WriteMessage(tc.typ, tc.data); err != nil {
			t.Fatal(err)
		}
		got := c.expectClosed()
		if tc.answered {
			if len(got) != 1 || apiOf(got[0]) != "msg.Echo.Res" {
				t.Errorf("%s: frames %v before close, want the echo", tc.name, got)
			}
		} else if len(got) != 0 {
			t.Errorf("%s: frames %v before close", tc.name, got)
		}
		if code := wsCloseCode(c); code != tc.code {
			t.Errorf("%s: close code %d, want %d", tc.name, code, tc.code)
		}
		bystander.echo(2)
	}
	eventually(t, "only the bystander left", func() bool { return g.Conns() == 1 })
	if v := metricValue(g.m.disconnects.WithLabelValues(closeMalformed)); v != float64(len(cases)) {
		t.Errorf("malformed disconnects %v, want %d", v, len(cases))
	}
}

// The Origin check: no Origin (not a browser) and the gate's own host pass
// by default; another origin gets 403 unless --gate-ws-origins lists it.
func TestWSOrigins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	plain := e.wsGate(nil)
	listed := e.wsGate(func(c *Config) { c.WSOrigins = []string{"https://play.example.com"} })
	all := e.wsGate(func(c *Config) { c.WSOrigins = []string{"*"} })
	host := func(g *Server) string { return "http://" + g.WSAddr() }
	cases := []struct {
		g      *Server
		origin string
		ok     bool
	}{
		{plain, "", true},
		{plain, host(plain), true},
		{plain, "https://evil.example.com", false},
		{listed, "https://play.example.com", true},
		{listed, "HTTPS://PLAY.EXAMPLE.COM", true},
		{listed, "https://evil.example.com", false},
		{listed, host(listed), false},
		{listed, "", true},
		{all, "https://anywhere.example.com", true},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		ws, res, err := dialWSURL(tc.g.WSURL(), h)
		if tc.ok {
			if err != nil {
				t.Errorf("origin %q: %v, want the upgrade", tc.origin, err)
				continue
			}
			c := &client{t: t, c: ws, r: frame.NewReader(ws, frame.MaxSize)}
			c.echo(1)
			ws.Close()
			continue
		}
		if err == nil {
			ws.Close()
			t.Errorf("origin %q upgraded, want 403", tc.origin)
		} else if res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v (%v), want HTTP 403", tc.origin, err, res)
		}
	}
}

// Paths: / and /ws upgrade, others are 404.
func TestWSPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.wsGate(nil)
	if !strings.HasSuffix(g.WSURL(), "/ws") {
		t.Fatalf("ws url %q, want .../ws", g.WSURL())
	}
	for path, want := range map[string]int{"/": http.StatusSwitchingProtocols, "/ws": http.StatusSwitchingProtocols, "/other": http.StatusNotFound} {
		ws, res, err := dialWSURL("ws://"+g.WSAddr()+path, nil)
		if err == nil {
			ws.Close()
		}
		if res == nil || res.StatusCode != want {
			t.Errorf("%s: %v (%v), want %d", path, err, res, want)
		}
	}
}

// A logged-in client that sends no frame but answers the gate's pings
// stays connected past several idle timeouts; one that does not answer is
// closed by the idle timeout.
func TestWSPongsKeepSessionAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const idle = 600 * time.Millisecond
	g := e.wsGate(func(c *Config) { c.IdleTimeout = idle })
	ponging := e.dialWS(g)
	ponging.login(e.token(1), 1)
	silent := e.dialWS(g)
	silent.c.(*wsClient).SetPingHandler(func(string) error { return nil }) // no pongs
	silent.login(e.token(2), 2)

	// The ponging client reads (which answers pings) in the background.
	frames := make(chan proto.Message, 4)
	go func() {
		for {
			m, err := ponging.tryNext(time.Minute)
			if err != nil {
				close(frames)
				return
			}
			frames <- m
		}
	}()
	// The silent one is closed by the idle timeout, kicked with RC_TIMEOUT.
	expectKicked(t, silent, def.ResCode_RC_TIMEOUT)
	if code := wsCloseCode(silent); code != websocket.CloseNormalClosure {
		t.Errorf("idle close code %d, want 1000", code)
	}
	// By then, and several idle timeouts later, the ponging one is open.
	time.Sleep(3 * idle)
	ponging.send(&msg.Echo_Req{Val: proto.Int64(9)})
	select {
	case m, ok := <-frames:
		if !ok || apiOf(m) != "msg.Echo.Res" {
			t.Fatalf("ponging session: %v (open %v), want its echo", m, ok)
		}
	case <-time.After(waitFor):
		t.Fatal("no echo on the ponging session")
	}
	eventually(t, "the silent session ends", func() bool { return g.Conns() == 1 })
	if v := metricValue(g.m.disconnects.WithLabelValues(closeIdle)); v != 1 {
		t.Errorf("idle disconnects %v, want 1 (the silent client only)", v)
	}
}

// The registry entry and the default URL carry the WebSocket; a gate
// without one publishes none.
func TestWSURLPublished(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	plain := e.startGate(nil)
	ws := e.wsGate(nil)
	adv := e.wsGate(func(c *Config) { c.WSAdvertise = "wss://play.example.com/ws" })
	urls := map[string]string{}
	for _, gt := range e.reg.Gates() {
		urls[gt.ID] = gt.WSURL
	}
	want := map[string]string{plain.ID(): "", ws.ID(): "ws://" + ws.WSAddr() + "/ws", adv.ID(): "wss://play.example.com/ws"}
	for id, u := range want {
		if got, ok := urls[id]; !ok || got != u {
			t.Errorf("gate %s: ws_url %q (listed %v), want %q", id, got, ok, u)
		}
	}
}
