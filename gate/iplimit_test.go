package gate

import (
	"net"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// TestIPLimitsKeyAndSweep: IPv6 addresses of one /64 are one client
// address, IPv4 ones are each their own; an address that drained its login
// bucket is remembered after its connections close (reconnecting buys no
// new budget) until the bucket has refilled.
func TestIPLimitsKeyAndSweep(t *testing.T) {
	var now int64
	cfg := DefaultConfig()
	cfg.MaxConnsPerIP, cfg.LoginRatePerIP, cfg.LoginBurstPerIP = 1, 1, 1
	l := newIPLimits(cfg, func() int64 { return now })
	key := func(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 1} }

	a, _ := l.key(key("2001:db8:1:2::1"))
	b, _ := l.key(key("2001:db8:1:2:ffff::9"))
	c, _ := l.key(key("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Fatalf("/64 grouping: %v %v %v", a, b, c)
	}
	v4a, _ := l.key(key("192.0.2.1"))
	v4b, _ := l.key(key("::ffff:192.0.2.2"))
	if v4a == v4b || v4a.Bits() != 32 || v4b.Bits() != 32 {
		t.Fatalf("IPv4: %v %v", v4a, v4b)
	}
	if !l.open(a) || l.open(b) {
		t.Fatal("second connection of one /64 allowed past a cap of 1")
	}
	if !l.login(a) || l.login(b) {
		t.Fatal("login bucket of 1 allowed two")
	}
	l.close(a)
	l.sweep()
	if l.size() != 1 {
		t.Fatal("an address with a drained bucket was forgotten")
	}
	if !l.open(a) || l.login(a) {
		t.Fatal("reconnecting bought a new login budget")
	}
	l.close(a)
	now += 2e9 // the bucket refills
	l.sweep()
	if l.size() != 0 {
		t.Fatalf("%d idle addresses kept", l.size())
	}
}

// TestConnectionsPerIPCapped: past --gate-max-conns-per-ip a connection from
// the same address gets msg.Kick.Res{RC_RATE_LIMITED} and is closed; when one
// closes, the address may connect again.
func TestConnectionsPerIPCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.MaxConnsPerIP = 3 })
	var open []*client
	for i := range 3 {
		c := e.dial(g)
		c.send(&msg.Echo_Req{Val: proto.Int64(int64(i))})
		if _, ok := c.next().(*msg.Echo_Res); !ok {
			t.Fatalf("connection %d not served", i)
		}
		open = append(open, c)
	}
	extra := e.dial(g)
	expectKicked(t, extra, def.ResCode_RC_RATE_LIMITED)
	if v := metricValue(g.m.ipConnsRefused); v != 1 {
		t.Fatalf("per-IP refusals = %v, want 1", v)
	}
	open[0].c.Close()
	eventually(t, "a slot freed by a closed connection", func() bool { return g.Conns() == 2 })
	again := e.dial(g)
	again.echo(9)
}

// TestLoginAttemptsPerIPLimited: login attempts past the per-IP bucket are
// answered RC_RATE_LIMITED, on any connection of that address, before the
// token is even looked at.
func TestLoginAttemptsPerIPLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A bucket of 2 refilling once in 1000 s: the third attempt is over it
	// however slow the test runs.
	g := e.startGate(func(c *Config) { c.LoginRatePerIP = 0.001; c.LoginBurstPerIP = 2 })
	c := e.dial(g)
	for range 2 {
		c.send(&msg.Login_Req{Token: proto.String("not-a-jwt")})
		expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_LOGIN_TOKEN_INVALID)
	}
	c.send(&msg.Login_Req{Token: proto.String(e.token(10001))})
	expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_RATE_LIMITED)
	other := e.dial(g) // a new connection does not get a new budget
	other.send(&msg.Login_Req{Token: proto.String(e.token(10001))})
	expectRes(t, other.next(), envelope.LoginRes, def.ResCode_RC_RATE_LIMITED)
	if n := len(e.game.requests(envelope.LoginReq)); n != 0 {
		t.Fatalf("%d rate-limited logins reached the game", n)
	}
	if v := metricValue(g.m.ipLoginsLimited); v != 2 {
		t.Fatalf("per-IP login refusals = %v, want 2", v)
	}
}
