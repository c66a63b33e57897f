package game

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/registry"
)

// sessionTTL is the election session TTL of the workers below: etcd's
// least lease with its default timing.
const sessionTTL = 2 * time.Second

// etcdWorkers starts n workers, each with its own etcd registry reached
// through its own freezable proxy, as n processes would be.
func etcdWorkers(t *testing.T, h *harness, n int) ([]*Worker, []*testenv.Proxy) {
	t.Helper()
	et := testenv.StartEtcd(t)
	target := strings.TrimPrefix(et.Endpoints[0], "http://")
	var ws []*Worker
	var ps []*testenv.Proxy
	for range n {
		p := testenv.StartProxy(t, target)
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + p.Addr}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		reg, err := registry.NewEtcd(cli, sessionTTL, nil, registry.SessionTTL(sessionTTL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		ws = append(ws, h.worker(testConfig(), func(w *Worker) { w.deps.Registry = reg }))
		ps = append(ps, p)
	}
	return ws, ps
}

// leaders counts the workers running the leader jobs.
func leaders(ws []*Worker) int {
	n := 0
	for _, w := range ws {
		if w.leading.Load() {
			n++
		}
	}
	return n
}

// Etcd frozen (no byte to or from it) past the election session's TTL: the
// leader stops its jobs on its own clock while etcd is still frozen, and
// after the thaw exactly one worker runs them. At no moment do two.
func TestLeaderStepsDownWhenEtcdFreezes(t *testing.T) {
	h := newHarness(t)
	ws, ps := etcdWorkers(t, h, 2)
	var overlap atomic.Bool
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if leaders(ws) > 1 {
				overlap.Store(true)
			}
		}
	}()
	eventually(t, "one leader", func() bool { return leaders(ws) == 1 })
	old := ws[0]
	if !old.leading.Load() {
		old = ws[1]
	}

	frozen := time.Now()
	for _, p := range ps {
		p.Freeze()
	}
	eventually(t, "the leader to stop its jobs while etcd is frozen", func() bool { return !old.leading.Load() })
	t.Logf("leader stopped its jobs %v into the freeze (session TTL %v)", time.Since(frozen).Round(10*time.Millisecond), sessionTTL)
	time.Sleep(2 * sessionTTL) // etcd expires the old session meanwhile
	thawed := time.Now()
	for _, p := range ps {
		p.Thaw()
	}

	eventually(t, "a leader after the thaw", func() bool { return leaders(ws) == 1 })
	t.Logf("a leader runs the jobs %v after the thaw", time.Since(thawed).Round(10*time.Millisecond))
	time.Sleep(2 * sessionTTL) // and it stays alone
	if n := leaders(ws); n != 1 {
		t.Fatalf("%d workers run the leader jobs after the thaw, want 1", n)
	}
	if overlap.Load() {
		t.Fatal("two workers ran the leader jobs at once")
	}
}
