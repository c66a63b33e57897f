package bus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
)

// Two writers starting at once on a fresh three-node cluster (as two game
// workers do) both get the replicated stream and buckets: neither hangs
// on the other's create, nor on a meta group still electing its leader.
func TestEnsureStoreConcurrentOnFreshCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three-node cluster")
	}
	srvs := testenv.StartNATSNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, n := range []string{"n0", "n1"} {
		nc, err := bus.Connect(srvs[n].ClientURL(), "writer-"+n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = bus.EnsureStore(ctx, js, bus.StoreConfig{Replicas: 3})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	nc, err := bus.Connect(srvs["n2"].ClientURL(), "reader")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, b := range []string{bus.AccountsBucket, bus.SnapshotsBucket, bus.NamesBucket, bus.CountersBucket, bus.PresenceBucket, bus.TokenVersionsBucket} {
		kv, err := js.KeyValue(ctx, b)
		if err != nil {
			t.Fatalf("bucket %s: %v", b, err)
		}
		st, err := kv.Status(ctx)
		if err != nil || st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 3 {
			t.Errorf("bucket %s: %v, want 3 replicas", b, err)
		}
	}
	s, err := js.Stream(ctx, bus.EventsStream)
	if err != nil || s.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("stream %s: %v", bus.EventsStream, err)
	}
}
