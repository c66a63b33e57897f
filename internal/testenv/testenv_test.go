package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/qeetap/hive/bus"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestNATSJetStream(t *testing.T) {
	n := StartNATS(t)
	ctx := context.Background()
	ack, err := n.JS.Publish(ctx, bus.PlayerSubject(7), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	// The expected-sequence check is what the event store relies on.
	_, err = n.JS.Publish(ctx, bus.PlayerSubject(7), []byte("y"), jetstream.WithExpectLastSequencePerSubject(0))
	if ack.Sequence != 1 {
		t.Fatalf("first sequence = %d", ack.Sequence)
	}
	if err == nil || !bus.IsConflict(err) {
		t.Fatalf("stale expected sequence: err = %v, want a conflict", err)
	}
	// A second connection over TCP sees the same stream.
	nc := n.Connect(t, "second")
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().State.Msgs; got != 1 {
		t.Fatalf("msgs = %d, want 1", got)
	}
}

func TestEtcd(t *testing.T) {
	e := StartEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lease, err := e.Client.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Put(ctx, "/hive/test", "v", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	resp, err := e.Client.Get(ctx, "/hive/test")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get = %v, %v", resp, err)
	}
	if _, err := e.Client.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	resp, _ = e.Client.Get(ctx, "/hive/test")
	if len(resp.Kvs) != 0 {
		t.Fatal("key survived its revoked lease")
	}
}

func TestRedis(t *testing.T) {
	r := StartRedis(t)
	ctx := context.Background()
	if err := r.Client.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Client.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("get = %q, %v", got, err)
	}
}
