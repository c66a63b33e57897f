package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
)

// The partition of a player is nats-server's own {{partition(n,1)}} of its id.
func TestPlayerPartitionIsTheServersPartitionMapping(t *testing.T) {
	for _, n := range []int{2, 3, 4, 16} {
		tr, err := server.NewSubjectTransform("evt.player.*", fmt.Sprintf("{{partition(%d,1)}}", n))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for id := int64(10001); id < 10201; id++ {
			want, err := tr.Match(bus.PlayerSubject(id))
			if err != nil {
				t.Fatal(err)
			}
			got := bus.PlayerPartition(id, n)
			if strconv.Itoa(got) != want {
				t.Fatalf("PlayerPartition(%d, %d) = %d, server maps to %s", id, n, got, want)
			}
			seen[got] = true
		}
		if len(seen) != n {
			t.Errorf("200 players over %d partitions reach only %d", n, len(seen))
		}
	}
	if p := bus.PlayerPartition(10001, 1); p != 0 {
		t.Errorf("one partition: got %d", p)
	}
}

// A player's events published to its partition are stored on its own
// subject in that partition's stream, with the expected last subject
// sequence checked there.
func TestPartitionStoresThePlayersSubject(t *testing.T) {
	const n = 4
	nt := testenv.StartNATSStore(t, bus.StoreConfig{Partitions: n})
	ctx := context.Background()
	if got, err := bus.StorePartitions(ctx, nt.JS); err != nil || got != n {
		t.Fatalf("StorePartitions = %d, %v; want %d", got, err, n)
	}
	id := int64(10001)
	for bus.PlayerPartition(id, n) == 0 {
		id++
	}
	p := bus.PlayerPartition(id, n)
	subj := bus.PlayerSubject(id)
	ingest := bus.IngestSubject(subj, n)
	if ingest == subj {
		t.Fatalf("IngestSubject(%s) is the subject itself in partition %d", subj, p)
	}
	ack, err := nt.JS.Publish(ctx, ingest, []byte("first"), jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != bus.EventsStreamFor(p) {
		t.Fatalf("stored in %s, want %s", ack.Stream, bus.EventsStreamFor(p))
	}
	s, err := nt.JS.Stream(ctx, ack.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatalf("last of %s in %s: %v", subj, ack.Stream, err)
	}
	if m.Sequence != ack.Sequence || string(m.Data) != "first" {
		t.Fatalf("got seq %d %q", m.Sequence, m.Data)
	}
	// The expected sequence is the stored subject's.
	if _, err := nt.JS.Publish(ctx, ingest, []byte("stale"), jetstream.WithExpectLastSequencePerSubject(0)); !bus.IsConflict(err) {
		t.Fatalf("stale append: got %v, want a conflict", err)
	}
	if _, err := nt.JS.Publish(ctx, ingest, []byte("second"), jetstream.WithExpectLastSequencePerSubject(ack.Sequence)); err != nil {
		t.Fatalf("append after seq %d: %v", ack.Sequence, err)
	}
	// Nothing of it is in EVENTS.
	ev, err := nt.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.GetLastMsgForSubject(ctx, subj); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("EVENTS holds %s: %v", subj, err)
	}
}

// The number of partitions is fixed at creation: another is refused with
// ErrPartitionsMismatch, and the store is left as it was.
func TestEnsureStoreRefusesAnotherNumberOfPartitions(t *testing.T) {
	ctx := context.Background()
	one := testenv.StartNATS(t) // a store of before partitions: 1
	if err := bus.EnsureStore(ctx, one.JS, bus.StoreConfig{Partitions: 4}); !errors.Is(err, bus.ErrPartitionsMismatch) {
		t.Fatalf("4 partitions on a store of 1: got %v, want ErrPartitionsMismatch", err)
	}
	if _, err := one.JS.Stream(ctx, bus.EventsStreamFor(1)); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the refused start made %s: %v", bus.EventsStreamFor(1), err)
	}
	four := testenv.StartNATSStore(t, bus.StoreConfig{Partitions: 4})
	for _, n := range []int{1, 2} {
		if err := bus.EnsureStore(ctx, four.JS, bus.StoreConfig{Partitions: n}); !errors.Is(err, bus.ErrPartitionsMismatch) {
			t.Fatalf("%d partitions on a store of 4: got %v, want ErrPartitionsMismatch", n, err)
		}
	}
	if err := bus.EnsureStore(ctx, four.JS, bus.StoreConfig{Partitions: 4}); err != nil {
		t.Fatalf("the same number again: %v", err)
	}
	if err := bus.EnsureStore(ctx, four.JS, bus.StoreConfig{Partitions: bus.MaxPartitions + 1}); err == nil {
		t.Fatal("more than MaxPartitions accepted")
	}
}

// A game worker may publish to every partition; a tool may read every
// partition's stream and publish to none.
func TestRolesReachEveryPartition(t *testing.T) {
	const n = 3
	nt := testenv.StartNATSStore(t, bus.StoreConfig{Partitions: n})
	ctx := context.Background()
	game, _ := jetstream.New(nt.ConnectAs(t, bus.RoleGame))
	for id := int64(10001); id < 10031; id++ {
		subj := bus.PlayerSubject(id)
		if _, err := game.Publish(ctx, bus.IngestSubject(subj, n), []byte("e")); err != nil {
			t.Fatalf("game appends %s: %v", subj, err)
		}
	}
	tools, _ := jetstream.New(nt.ConnectAs(t, bus.RoleTools))
	for p := range n {
		s, err := tools.Stream(ctx, bus.EventsStreamFor(p))
		if err != nil {
			t.Fatalf("tools read %s: %v", bus.EventsStreamFor(p), err)
		}
		if s.CachedInfo().State.Msgs == 0 {
			t.Errorf("%s holds nothing of 30 players", bus.EventsStreamFor(p))
		}
	}
	a := connectAttacker(t, nt, bus.RoleTools)
	subj := bus.IngestSubject(bus.PlayerSubject(10002), n)
	_ = a.nc.Publish(subj, []byte("minted"))
	a.wantDenied(t, "tools append", subj)
}
