package registry

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/token"
)

// eventually polls cond every 20ms until it holds or 15s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// newClient opens a separate etcd client, as another process would.
func newClient(t *testing.T, e *testenv.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func newEtcd(t *testing.T, cli *clientv3.Client, ttl time.Duration, opts ...EtcdOption) *Etcd {
	t.Helper()
	r, err := NewEtcd(cli, ttl, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func gateByID(gs []Gate, id string) (Gate, bool) {
	for _, g := range gs {
		if g.ID == id {
			return g, true
		}
	}
	return Gate{}, false
}

func TestEtcdRegisterListUpdateRevoke(t *testing.T) {
	e := testenv.StartEtcd(t)
	gateReg := newEtcd(t, newClient(t, e), 5*time.Second)
	ucReg := newEtcd(t, newClient(t, e), 5*time.Second) // a reader in another process
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	started := time.Now().UTC().Truncate(time.Second)
	lease, err := gateReg.Register(ctx, Gate{ID: "g1", Addr: "127.0.0.1:9000", Capacity: 100, Version: "v1", Started: started})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "g1 listed by the other registry", func() bool {
		g, ok := gateByID(ucReg.Gates(), "g1")
		return ok && g.Addr == "127.0.0.1:9000" && g.Capacity == 100 && g.Started.Equal(started)
	})
	// The value is the JSON of DESIGN §6, readable by anyone.
	resp, err := e.Client.Get(ctx, GatesPrefix+"g1")
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("raw entry = %v, %v; want one key on a lease", resp, err)
	}

	// Update changes the load but not the id.
	if err := lease.Update(ctx, Gate{ID: "other", Addr: "127.0.0.1:9000", Conns: 42, Capacity: 100}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "g1 load updated", func() bool {
		g, ok := gateByID(ucReg.Gates(), "g1")
		return ok && g.Conns == 42
	})
	if _, ok := gateByID(ucReg.Gates(), "other"); ok {
		t.Fatal("Update renamed the gate")
	}
	var p Picker
	if best, ok := p.Pick(ucReg.Gates()); !ok || best.ID != "g1" {
		t.Fatalf("Pick = %v, %v", best, ok)
	}

	// A second gate, then revoke the first: it is gone at once, not after the TTL.
	if _, err := gateReg.Register(ctx, Gate{ID: "g2", Addr: "127.0.0.1:9001"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two gates", func() bool { return len(ucReg.Gates()) == 2 })
	if err := lease.Revoke(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err = e.Client.Get(ctx, GatesPrefix+"g1")
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("revoked entry still in etcd: %v, %v", resp, err)
	}
	eventually(t, "g1 gone from the watch", func() bool {
		gs := ucReg.Gates()
		return len(gs) == 1 && gs[0].ID == "g2"
	})
	if err := lease.Update(ctx, Gate{Conns: 1}); err == nil {
		t.Fatal("Update after Revoke succeeded")
	}
}

func TestEtcdKilledGateVanishes(t *testing.T) {
	e := testenv.StartEtcd(t)
	ucReg := newEtcd(t, newClient(t, e), 2*time.Second)
	killed, err := NewEtcd(newClient(t, e), 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := killed.Register(ctx, Gate{ID: "dead", Addr: "127.0.0.1:9000"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gate listed", func() bool { _, ok := gateByID(ucReg.Gates(), "dead"); return ok })

	// Keep-alives keep it past several TTLs while the process lives.
	time.Sleep(3 * time.Second)
	if _, ok := gateByID(ucReg.Gates(), "dead"); !ok {
		t.Fatal("live gate expired despite keep-alives")
	}

	// Stop keep-alives without revoking: what a killed process does.
	killedAt := time.Now()
	killed.Close()
	eventually(t, "killed gate's key to expire", func() bool { _, ok := gateByID(ucReg.Gates(), "dead"); return !ok })
	t.Logf("key vanished %v after the kill (TTL 2s)", time.Since(killedAt).Round(100*time.Millisecond))
	resp, err := e.Client.Get(ctx, GatesPrefix+"dead")
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("expired entry still in etcd: %v, %v", resp, err)
	}
}

func TestEtcdKeys(t *testing.T) {
	e := testenv.StartEtcd(t)
	uc := newEtcd(t, newClient(t, e), 0)
	gate := newEtcd(t, newClient(t, e), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kid, pem := publishedPEM(t, time.Time{})
	if _, ok, err := gate.Key(ctx, kid); ok || err != nil {
		t.Fatalf("Key before publish = %v, %v", ok, err)
	}
	if err := uc.PublishKey(ctx, kid, pem); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the key through the watch", func() bool {
		got, ok, err := gate.Key(ctx, kid)
		return err == nil && ok && string(got) == string(pem)
	})
	if err := uc.PublishKey(ctx, "a/b", pem); err == nil {
		t.Fatal("PublishKey accepted a kid with a slash")
	}
	if err := uc.PublishKey(ctx, "k1", []byte("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n")); err == nil {
		t.Fatal("PublishKey accepted a PEM that is no key")
	}
}

func TestEtcdCampaignExclusive(t *testing.T) {
	e := testenv.StartEtcd(t)
	a := newEtcd(t, newClient(t, e), 2*time.Second)
	b := newEtcd(t, newClient(t, e), 2*time.Second)

	actx, aresign := context.WithCancel(context.Background())
	defer aresign()
	alost, err := a.Campaign(actx, "gate-reaper")
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(context.Background())
	defer bcancel()
	bwon := make(chan error, 1)
	go func() { _, err := b.Campaign(bctx, "gate-reaper"); bwon <- err }()

	// While a leads, b must not win (checked over a few keep-alive periods).
	select {
	case err := <-bwon:
		t.Fatalf("b won while a leads (err %v)", err)
	case <-time.After(3 * time.Second):
	}
	// Another job is independent.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Campaign(ctx, "other-job"); err != nil {
		t.Fatal(err)
	}
	aresign()
	select {
	case <-alost:
	case <-time.After(15 * time.Second):
		t.Fatal("resigning did not close lost")
	}
	select {
	case err := <-bwon:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("b did not win after a resigned")
	}

	// A campaign whose context ends while waiting returns its error.
	cctx, ccancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer ccancel()
	if _, err := a.Campaign(cctx, "gate-reaper"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting campaign err = %v, want deadline exceeded", err)
	}
}

func TestEtcdLeaderDiesHandsOver(t *testing.T) {
	e := testenv.StartEtcd(t)
	a, err := NewEtcd(newClient(t, e), 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newEtcd(t, newClient(t, e), 2*time.Second)
	alost, err := a.Campaign(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	bwon := make(chan error, 1)
	go func() { _, err := b.Campaign(context.Background(), "job"); bwon <- err }()
	a.Close() // the leader's process ends
	select {
	case <-alost:
	default:
		t.Fatal("Close left lost open")
	}
	select {
	case err := <-bwon:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("b did not take over from a closed leader")
	}
}

// publishedPEM is a public key PEM with an Expires header.
func publishedPEM(t *testing.T, expires time.Time) (string, []byte) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := token.EncodePublishedKey(pub, expires)
	if err != nil {
		t.Fatal(err)
	}
	return token.KeyID(pub), b
}

// TestEtcdKeysWatchedAndExpire: keys published by one process are seen by
// another through its watch, Key reads nothing from etcd, an expired key is
// not returned even while still stored, and etcd removes it on its own.
func TestEtcdKeysWatchedAndExpire(t *testing.T) {
	e := testenv.StartEtcd(t)
	ucReg := newEtcd(t, newClient(t, e), 5*time.Second)
	gateReg := newEtcd(t, newClient(t, e), 5*time.Second)
	ctx := context.Background()

	kid, pem := publishedPEM(t, time.Now().Add(time.Hour))
	if err := ucReg.PublishKey(ctx, kid, pem); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the key at the gate", func() bool {
		_, ok, _ := gateReg.Key(ctx, kid)
		return ok
	})
	if len(gateReg.Keys()) != 1 {
		t.Fatalf("Keys() = %v", gateReg.Keys())
	}

	// Expiring in 2s: etcd deletes it once its lease ends.
	short, spem := publishedPEM(t, time.Now().Add(2*time.Second))
	if err := ucReg.PublishKey(ctx, short, spem); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the short key at the gate", func() bool {
		_, ok, _ := gateReg.Key(ctx, short)
		return ok
	})
	eventually(t, "etcd to remove the expired key", func() bool {
		r, err := e.Client.Get(ctx, KeysPrefix+short)
		return err == nil && len(r.Kvs) == 0
	})
	if _, ok, _ := gateReg.Key(ctx, short); ok {
		t.Fatal("expired key still returned")
	}

	// A stored key past its expiry (nobody removed it) is not returned.
	gone, gpem := publishedPEM(t, time.Now().Add(-time.Minute))
	if _, err := e.Client.Put(ctx, KeysPrefix+gone, string(gpem)); err != nil {
		t.Fatal(err)
	}
	live, lpem := publishedPEM(t, time.Time{})
	if _, err := e.Client.Put(ctx, KeysPrefix+live, string(lpem)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the later put at the gate", func() bool {
		_, ok, _ := gateReg.Key(ctx, live)
		return ok
	})
	if _, ok, _ := gateReg.Key(ctx, gone); ok {
		t.Fatal("stored key past its expiry returned")
	}
	if _, ok := gateReg.Keys()[gone]; ok {
		t.Fatal("Keys() lists a key past its expiry")
	}
	// Publishing an already expired key deletes it.
	if err := ucReg.PublishKey(ctx, gone, gpem); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.Client.Get(ctx, KeysPrefix+gone); len(r.Kvs) != 0 {
		t.Fatal("publishing an expired key left it stored")
	}
}

func TestMemoryKeysExpire(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	kid, pem := publishedPEM(t, time.Now().Add(-time.Second))
	old, opem := publishedPEM(t, time.Time{})
	if err := m.PublishKey(ctx, kid, pem); err != nil {
		t.Fatal(err)
	}
	if err := m.PublishKey(ctx, old, opem); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Key(ctx, kid); ok {
		t.Fatal("expired key returned")
	}
	if _, ok, _ := m.Key(ctx, old); !ok {
		t.Fatal("key without expiry not returned")
	}
	if err := m.PublishKey(ctx, "x", []byte("junk")); err == nil {
		t.Fatal("junk PEM published")
	}
}
