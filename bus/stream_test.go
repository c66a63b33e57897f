package bus_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
)

func TestEnsureStoreIsIdempotent(t *testing.T) {
	n := testenv.StartNATS(t) // already ran EnsureStore once
	if err := bus.EnsureStore(context.Background(), n.JS, bus.StoreConfig{}); err != nil {
		t.Fatalf("second EnsureStore: %v", err)
	}
}

func TestEventsCannotBeDeleted(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	ack, err := n.JS.Publish(ctx, bus.PlayerSubject(1), []byte("e"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(ctx, ack.Sequence); err == nil {
		t.Fatal("deleted an event from a DenyDelete stream")
	}
	if err := s.Purge(ctx); err == nil {
		t.Fatal("purged a DenyPurge stream")
	}
}

func TestNextIDIsUniqueUnderContention(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	kv, err := n.JS.KeyValue(ctx, bus.CountersBucket)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				id, err := bus.NextID(ctx, kv, "account", 10001)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("id %d handed out twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for id := int64(10001); id < 10001+workers*each; id++ {
		if !seen[id] {
			t.Fatalf("id %d skipped; got %d ids", id, len(seen))
		}
	}
}

func TestEmbeddedFailsFastWhenPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: l.Addr().String()})
	if err == nil {
		srv.Shutdown()
		t.Fatal("started on a taken port")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v, want it to say the address is in use", err)
	}
	// Not the 30s readiness timeout: the listen error itself ends the wait.
	if time.Since(start) > 20*time.Second {
		t.Fatalf("took %v to report a taken port", time.Since(start))
	}
}
