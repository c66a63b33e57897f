package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/qeetap/hive/internal/testenv"
)

// A leader cut off from etcd (its connection stalls while etcd and the
// other candidate run on) ends its leadership before the other candidate
// is elected, and campaigning again once etcd answers it only waits.
func TestEtcdLeaderCutOffStepsDownFirst(t *testing.T) {
	e := testenv.StartEtcd(t)
	p := testenv.StartProxy(t, strings.TrimPrefix(e.Endpoints[0], "http://"))
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + p.Addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	const ttl = 2 * time.Second
	a := newEtcd(t, cli, ttl, SessionTTL(ttl))
	b := newEtcd(t, newClient(t, e), ttl, SessionTTL(ttl))

	alost, err := a.Campaign(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	bwon := make(chan error, 1)
	go func() { _, err := b.Campaign(context.Background(), "job"); bwon <- err }()
	// Renewals keep a leading across several TTLs.
	select {
	case <-alost:
		t.Fatal("leadership lost while etcd answers")
	case err := <-bwon:
		t.Fatalf("b elected while a leads (err %v)", err)
	case <-time.After(2 * ttl):
	}

	p.Freeze()
	select {
	case <-alost:
	case <-time.After(15 * time.Second):
		t.Fatal("the cut-off leader never stepped down")
	}
	select {
	case err := <-bwon:
		t.Fatalf("b was elected before a stepped down (err %v)", err)
	default:
	}
	select {
	case err := <-bwon:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("b not elected after a's session expired")
	}

	p.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 2*ttl)
	defer cancel()
	if _, err := a.Campaign(ctx, "job"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a campaigning again while b leads: err %v, want to wait", err)
	}
}
