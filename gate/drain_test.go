package gate

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
)

func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	if gs := e.reg.Gates(); len(gs) != 1 || gs[0].ID != g.ID() || gs[0].Addr != g.Addr() {
		t.Fatalf("registry = %v, want this gate at %s", gs, g.Addr())
	}
	idle := e.dial(g)
	idle.login(e.token(1), 1)
	busy := e.dial(g)
	busy.login(e.token(2), 2)

	// busy has a request at the game when the drain starts.
	started, release := make(chan struct{}), make(chan struct{})
	e.game.handle("msg.GetItems.Req", func(*nats.Msg, proto.Message) proto.Message {
		close(started)
		<-release
		return &msg.GetItems_Res{Code: proto.Int32(0)}
	})
	busy.send(&msg.GetItems_Req{})
	<-started

	if err := g.Ready(); err != nil {
		t.Fatalf("serving gate not ready: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Shutdown(context.Background()) }()

	expectKicked(t, idle, def.ResCode_RC_GATE_DRAINING)
	if g.Ready() == nil {
		t.Fatal("draining gate reports ready")
	}
	if gs := e.reg.Gates(); len(gs) != 0 {
		t.Fatalf("drained gate still registered: %v", gs)
	}
	// No new connections: the listener is closed before sessions are kicked.
	if c, err := net.DialTimeout("tcp", g.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("a drained gate accepted a connection")
	}
	// A new request from the busy session is refused; the in-flight one is answered.
	busy.send(&msg.GetUser_Req{Id: proto.Int64(0)})
	expectRes(t, busy.next(), "msg.GetUser.Res", def.ResCode_RC_GATE_DRAINING)
	close(release)
	expectRes(t, busy.next(), "msg.GetItems.Res", def.ResCode_RC_OK)
	expectKicked(t, busy, def.ResCode_RC_GATE_DRAINING)

	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Shutdown did not return")
	}
	// Both players are reported offline to the game.
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case m := <-e.game.logouts:
			seen[m.Header.Get("Hive-User")] = true
		case <-time.After(waitFor):
			t.Fatalf("disconnect logouts %v, want users 1 and 2", seen)
		}
	}
}

// TestShutdownDrainTimeout: a client that never closes its end is closed
// when the drain timeout passes.
func TestShutdownDrainTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.DrainTimeout = 500 * time.Millisecond; c.RequestTimeout = time.Minute })
	c := e.dial(g)
	c.login(e.token(1), 1)
	e.game.handle("msg.GetItems.Req", func(*nats.Msg, proto.Message) proto.Message { return nil })
	c.send(&msg.GetItems_Req{}) // never answered: the session cannot drain
	start := time.Now()
	err := g.Shutdown(context.Background())
	if err == nil {
		t.Fatal("Shutdown reported a clean drain with a session forced closed")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	if g.Conns() != 0 {
		t.Fatalf("%d sessions left", g.Conns())
	}
}

// TestGateInEtcd: with the etcd registry the gate's key appears with its
// address and load, and a drain deletes it at once.
func TestGateInEtcd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	et := testenv.StartEtcd(t)
	reg, err := registry.NewEtcd(et.Client, 2*time.Second, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	pem, _, _ := e.reg.Key(context.Background(), e.signer.KeyID())
	if err := reg.PublishKey(context.Background(), e.signer.KeyID(), pem); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen, cfg.Advertise, cfg.ReportInterval = "127.0.0.1:0", "10.0.0.7:9000", 100*time.Millisecond
	g, err := New(cfg, Deps{NC: e.nats.Connect(t, "gate"), Registry: reg, Logger: testLogger(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	// Keys come from etcd here, through the registry's watch.
	eventually(t, "the key through the watch", func() bool {
		_, ok, _ := reg.Key(context.Background(), e.signer.KeyID())
		return ok
	})
	c := e.dial(g)
	c.login(e.token(1), 1)
	eventually(t, "gate listed with one connection", func() bool {
		gs := reg.Gates()
		return len(gs) == 1 && gs[0].ID == cfg.ID && gs[0].Addr == "10.0.0.7:9000" && gs[0].Conns == 1 && gs[0].Capacity == cfg.MaxConns
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := et.Client.Get(ctx, registry.GatesPrefix+cfg.ID)
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("drained gate's key still in etcd: %v, %v", resp, err)
	}
}

// TestKilledGateKeyVanishes: a gate whose process dies (registry stops
// without revoking) drops out of the etcd registry when its lease expires.
func TestKilledGateKeyVanishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	et := testenv.StartEtcd(t)
	watcher, err := registry.NewEtcd(et.Client, 2*time.Second, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	gateReg, err := registry.NewEtcd(et.Client, 2*time.Second, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	g, err := New(cfg, Deps{NC: e.nats.Connect(t, "gate"), Registry: gateReg, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gate listed", func() bool { return len(watcher.Gates()) == 1 })
	gateReg.Close() // the process dies: keep-alives stop, nothing is revoked
	eventually(t, "killed gate's key expired", func() bool { return len(watcher.Gates()) == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	g.Shutdown(ctx) // clean up the listener (revoking the expired lease may fail)
}
