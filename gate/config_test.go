package gate

import (
	"flag"
	"net"
	"strings"
	"testing"
	"time"
)

func TestFlagsSetConfig(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("hive", flag.ContinueOnError)
	cfg.Flags(fs)
	err := fs.Parse([]string{
		"--gate-listen", ":9100", "--gate-advertise", "10.0.0.1:9100", "--gate-id", "g_1",
		"--gate-login-timeout", "3s", "--gate-idle-timeout", "30s", "--gate-max-conns", "500",
		"--gate-request-timeout", "2s", "--gate-drain-timeout", "20s", "--gate-queue", "131072",
		"--gate-rate", "0", "--gate-burst", "10", "--gate-max-frame", "4096", "--gate-max-pending", "3",
		"--gate-token-issuer", "me", "--gate-token-public-key", "a.pem,b.pem", "--gate-token-public-key", "c.pem",
		"--gate-max-conns-per-ip", "7", "--gate-ip-login-rate", "0.5", "--gate-ip-login-burst", "4", "--gate-ipv6-prefix", "56",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: ":9100", Advertise: "10.0.0.1:9100", ID: "g_1", LoginTimeout: 3 * time.Second, IdleTimeout: 30 * time.Second,
		WriteTimeout: 10 * time.Second, MaxConns: 500, MaxFrame: 4096, RequestTimeout: 2 * time.Second, MaxPending: 3,
		Rate: 0, Burst: 10, QueueBytes: 131072, DrainTimeout: 20 * time.Second, ReportInterval: 3 * time.Second,
		TokenIssuer: "me", Version: "dev",
		MaxConnsPerIP: 7, LoginRatePerIP: 0.5, LoginBurstPerIP: 4, IPv6PrefixLen: 56,
	}
	if got := strings.Join(cfg.TokenPublicKeys, " "); got != "a.pem b.pem c.pem" {
		t.Fatalf("token keys %q", got)
	}
	if !configEqual(cfg, want) {
		t.Fatalf("config\n%+v\nwant\n%+v", cfg, want)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
}

// configEqual compares every field but TokenPublicKeys.
func configEqual(a, b Config) bool {
	return a.Listen == b.Listen && a.Advertise == b.Advertise && a.ID == b.ID && a.LoginTimeout == b.LoginTimeout &&
		a.IdleTimeout == b.IdleTimeout && a.WriteTimeout == b.WriteTimeout && a.MaxConns == b.MaxConns && a.MaxFrame == b.MaxFrame &&
		a.RequestTimeout == b.RequestTimeout && a.MaxPending == b.MaxPending && a.Rate == b.Rate && a.Burst == b.Burst &&
		a.QueueBytes == b.QueueBytes && a.DrainTimeout == b.DrainTimeout && a.ReportInterval == b.ReportInterval &&
		a.TokenIssuer == b.TokenIssuer && a.Version == b.Version &&
		a.MaxConnsPerIP == b.MaxConnsPerIP && a.LoginRatePerIP == b.LoginRatePerIP &&
		a.LoginBurstPerIP == b.LoginBurstPerIP && a.IPv6PrefixLen == b.IPv6PrefixLen
}

func TestConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"dot in id":                func(c *Config) { c.ID = "gate.1" },
		"empty id":                 func(c *Config) { c.ID = "" },
		"wildcard in id":           func(c *Config) { c.ID = "g*" },
		"bad listen":               func(c *Config) { c.Listen = "9000" },
		"zero idle":                func(c *Config) { c.IdleTimeout = 0 },
		"negative rate":            func(c *Config) { c.Rate = -1 },
		"rate without burst":       func(c *Config) { c.Burst = 0 },
		"queue too small":          func(c *Config) { c.QueueBytes = 1000 },
		"negative per-ip cap":      func(c *Config) { c.MaxConnsPerIP = -1 },
		"negative login rate":      func(c *Config) { c.LoginRatePerIP = -1 },
		"login rate without burst": func(c *Config) { c.LoginBurstPerIP = 0 },
		"ipv6 prefix 0":            func(c *Config) { c.IPv6PrefixLen = 0 },
		"ipv6 prefix 129":          func(c *Config) { c.IPv6PrefixLen = 129 },
		"frame too large":          func(c *Config) { c.MaxFrame = 70000 },
		"no conns":                 func(c *Config) { c.MaxConns = 0 },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (func() *Config { c := DefaultConfig(); return &c }()).validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}

func TestDefaultIDIsASubjectToken(t *testing.T) {
	a, b := DefaultID(), DefaultID()
	if !idPattern.MatchString(a) || strings.Contains(a, ".") {
		t.Fatalf("DefaultID() = %q", a)
	}
	if a == b {
		t.Fatalf("two default ids are equal: %q", a)
	}
}

func TestAdvertiseAddr(t *testing.T) {
	for listen, want := range map[string]string{
		"0.0.0.0:9000":   "127.0.0.1:9000",
		"[::]:9000":      "127.0.0.1:9000",
		"10.1.2.3:9000":  "10.1.2.3:9000",
		"127.0.0.1:9001": "127.0.0.1:9001",
	} {
		addr, _ := net.ResolveTCPAddr("tcp", listen)
		c := Config{}
		if got := c.advertiseAddr(addr); got != want {
			t.Errorf("advertise for %s = %s, want %s", listen, got, want)
		}
	}
	c := Config{Advertise: "gate.example:9000"}
	if got := c.advertiseAddr(&net.TCPAddr{Port: 1}); got != "gate.example:9000" {
		t.Errorf("explicit advertise ignored: %s", got)
	}
}
