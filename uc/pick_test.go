package uc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/registry"
)

// A burst of logins faster than the gates report their load spreads over
// the live gates instead of piling onto the one that looked least loaded.
func TestLoginBurstSpreadsOverGates(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CreateLimit = 0 })
	g2 := registry.Gate{ID: "g2", Addr: "127.0.0.1:9001", Capacity: testGate.Capacity}
	if _, err := e.reg.Register(context.Background(), g2); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i := range 40 {
		got[e.guest(fmt.Sprintf("burst-%d", i)).str("addr")]++
	}
	for _, addr := range []string{testGate.Addr, g2.Addr} {
		if n := got[addr]; n < 18 || n > 22 {
			t.Fatalf("40 logins over two idle gates: %v; want 20±2 each", got)
		}
	}
}

// A gate that dies without draining (its keep-alives stop, nothing is
// revoked) drops out of uc's answers once its lease expires: logins then
// name the other gate, although the dead one looked less loaded.
func TestDeadGateNoLongerHandedOut(t *testing.T) {
	et := testenv.StartEtcd(t)
	const ttl = registry.DefaultGateTTL
	open := func() (*registry.Etcd, *clientv3.Client) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: et.Endpoints, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		r, err := registry.NewEtcd(cli, ttl, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r, cli
	}
	ucReg, _ := open()
	deadReg, deadCli := open()
	liveReg, _ := open()
	ctx := context.Background()
	dead := registry.Gate{ID: "dead", Addr: "127.0.0.1:9100", Capacity: 1000}
	live := registry.Gate{ID: "live", Addr: "127.0.0.1:9101", Conns: 500, Capacity: 1000}
	if _, err := deadReg.Register(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if _, err := liveReg.Register(ctx, live); err != nil {
		t.Fatal(err)
	}
	e := newEnvDeps(t, cache.NewMemory(), func(c *Config) { c.CreateLimit = 0 }, func(d *Deps) { d.Registry = ucReg })
	waitFor(t, "uc to see both gates", func() bool { return len(ucReg.Gates()) == 2 })
	if addr := e.guest("before").str("addr"); addr != dead.Addr {
		t.Fatalf("login before the crash named %s, want the less loaded %s", addr, dead.Addr)
	}

	killed := time.Now()
	deadReg.Close() // keep-alives stop, the lease is not revoked: a crash
	deadCli.Close()
	i := 0
	waitFor(t, "logins to name the live gate", func() bool {
		i++
		return e.guest(fmt.Sprintf("after-%d", i)).str("addr") == live.Addr
	})
	t.Logf("dead gate out of rotation %v after the crash (lease TTL %v)", time.Since(killed).Round(100*time.Millisecond), ttl)
	for j := range 10 {
		if addr := e.guest(fmt.Sprintf("later-%d", j)).str("addr"); addr != live.Addr {
			t.Fatalf("login after the dead gate expired named %s", addr)
		}
	}
	if strings.Contains(fmt.Sprint(ucReg.Gates()), dead.ID) {
		t.Fatalf("uc still lists the dead gate: %v", ucReg.Gates())
	}
}

// waitFor polls cond until it holds, failing the test after 15s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
