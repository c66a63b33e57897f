package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/evt"
)

// counter is a minimal aggregate: the sum of ItemsGranted amounts, with a
// guard that it never goes negative (ItemsUsed subtracts).
type counter struct{ N int64 }

var counterAgg = events.Aggregate[*counter]{
	Kind: "test",
	Init: func(int64) *counter { return &counter{} },
	Apply: func(s *counter, e *events.Event) (*counter, error) {
		switch m := e.Msg.(type) {
		case *evt.ItemsGranted:
			for _, it := range m.Items {
				s.N += it.GetNum()
			}
		case *evt.ItemsUsed:
			s.N -= m.GetNum()
			if s.N < 0 {
				return nil, fmt.Errorf("negative")
			}
		default:
			return nil, fmt.Errorf("unexpected %T", m)
		}
		return s, nil
	},
	Marshal: func(s *counter) ([]byte, error) { return []byte(strconv.FormatInt(s.N, 10)), nil },
	Unmarshal: func(b []byte) (*counter, error) {
		n, err := strconv.ParseInt(string(b), 10, 64)
		return &counter{n}, err
	},
}

func grant(n int64) proto.Message {
	return &evt.ItemsGranted{Items: []*evt.ItemDelta{{Idx: proto.Int32(1), Num: proto.Int64(n)}}}
}

func use(n int64) proto.Message { return &evt.ItemsUsed{Idx: proto.Int32(1), Num: proto.Int64(n)} }

type env struct {
	n     *testenv.NATS
	cache *cache.Memory
	store *events.Store
	repo  *events.Repo[*counter]
}

func newEnv(t *testing.T, opt events.Options) *env {
	t.Helper()
	n := testenv.StartNATS(t)
	return newEnvOn(t, n, cache.NewMemory(), opt)
}

// bytesOnly is a Memory seen as a cache of bytes only, as redis is: the
// store then encodes and decodes every snapshot.
type bytesOnly struct{ cache.Cache }

// newEnvBytes is newEnv with the cache seen as bytes only (bytesOnly).
func newEnvBytes(t *testing.T, opt events.Options) *env {
	t.Helper()
	n := testenv.StartNATS(t)
	c := cache.NewMemory()
	return newEnvWith(t, n, c, bytesOnly{c}, opt)
}

func newEnvOn(t testing.TB, n *testenv.NATS, c *cache.Memory, opt events.Options) *env {
	t.Helper()
	var cc cache.Cache
	if c != nil {
		cc = c
	}
	return newEnvWith(t, n, c, cc, opt)
}

// newEnvWith is an env whose store uses cc; c is the Memory behind it, if any.
func newEnvWith(t testing.TB, n *testenv.NATS, c *cache.Memory, cc cache.Cache, opt events.Options) *env {
	t.Helper()
	if n == nil {
		n = testenv.StartNATS(t)
	}
	s, err := events.NewStore(context.Background(), n.JS, cc, opt)
	if err != nil {
		t.Fatal(err)
	}
	return &env{n: n, cache: c, store: s, repo: events.NewRepo(s, counterAgg)}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// add grants n to aggregate id under command cmd.
func (e *env) add(t *testing.T, id int64, cmd string, n int64) *events.Outcome[*counter] {
	t.Helper()
	out, err := e.repo.Exec(ctx(t), events.Cmd{ID: cmd, Corr: "r-" + cmd}, []int64{id},
		func([]*events.Snapshot[*counter]) []events.Emit { return []events.Emit{{ID: id, Event: grant(n)}} })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExecAppendsWithHeadersAndLoads(t *testing.T) {
	e := newEnv(t, events.Options{})
	out := e.add(t, 7, "c1", 5)
	if len(out.Events) != 1 || out.States[0].State.N != 5 || out.States[0].Version != out.Events[0].Seq {
		t.Fatalf("outcome = %+v", out)
	}
	e.add(t, 7, "c2", 3)
	e.add(t, 8, "c3", 100) // another aggregate interleaves in the stream

	s, err := e.n.JS.Stream(ctx(t), bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetLastMsgForSubject(ctx(t), "evt.test.7")
	if err != nil {
		t.Fatal(err)
	}
	if raw.Header.Get(bus.HdrEvent) != "evt.ItemsGranted" || raw.Header.Get(bus.HdrCmd) != "c2" ||
		raw.Header.Get(bus.HdrCorr) != "r-c2" || raw.Header.Get("Nats-Msg-Id") == "" {
		t.Fatalf("headers = %v", raw.Header)
	}
	ev, err := events.DecodeRaw(raw)
	if err != nil || ev.Msg.(*evt.ItemsGranted).GetItems()[0].GetNum() != 3 {
		t.Fatalf("decode = %+v, %v", ev, err)
	}

	// A second store with an empty cache folds the same state from the stream.
	other := newEnvOn(t, e.n, cache.NewMemory(), events.Options{})
	snap, err := other.repo.Load(ctx(t), 7)
	if err != nil {
		t.Fatal(err)
	}
	if snap.State.N != 8 || snap.Version != raw.Sequence || !snap.HasCmd("c1") || !snap.HasCmd("c2") || snap.Count != 2 {
		t.Fatalf("loaded = %+v", snap)
	}
	if missing, _ := other.repo.Load(ctx(t), 9); missing.Exists() || missing.State.N != 0 {
		t.Fatalf("absent aggregate = %+v", missing)
	}
}

func TestConcurrentExecNeverLosesAnUpdate(t *testing.T) {
	n := testenv.StartNATS(t)
	// Two stores (two workers) with separate caches race on one aggregate.
	a := newEnvOn(t, n, cache.NewMemory(), events.Options{MaxAttempts: 200})
	b := newEnvOn(t, n, cache.NewMemory(), events.Options{MaxAttempts: 200})
	const each = 25
	var wg sync.WaitGroup
	for w, e := range []*env{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := e.repo.Exec(ctx(t), events.Cmd{ID: fmt.Sprintf("w%d-%d", w, i)}, []int64{1},
					func([]*events.Snapshot[*counter]) []events.Emit { return []events.Emit{{ID: 1, Event: grant(1)}} }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, e := range []*env{a, b} {
		snap, err := e.repo.Load(ctx(t), 1)
		if err != nil {
			t.Fatal(err)
		}
		if snap.State.N != 4*each {
			t.Fatalf("N = %d, want %d", snap.State.N, 4*each)
		}
	}
}

func TestDuplicateCommandAppliesOnce(t *testing.T) {
	e := newEnv(t, events.Options{})
	e.add(t, 1, "same", 10)
	out := e.add(t, 1, "same", 10)
	if !out.Duplicate || len(out.Events) != 0 || out.States[0].State.N != 10 {
		t.Fatalf("second run = %+v", out)
	}
}

func TestDuplicateFoundByMsgIDWhenForgotten(t *testing.T) {
	// With one remembered command id, the snapshot forgets "a" once "b"
	// runs; the server's Msg-Id dedup still stops "a" from applying twice.
	e := newEnv(t, events.Options{RecentCmds: 1})
	e.add(t, 1, "a", 1)
	e.add(t, 1, "b", 2)
	out := e.add(t, 1, "a", 1)
	if !out.Duplicate || out.States[0].State.N != 3 {
		t.Fatalf("retried a = %+v", out)
	}
	// The same for an atomic batch across two aggregates.
	gift := func() *events.Outcome[*counter] {
		out, err := e.repo.Exec(ctx(t), events.Cmd{ID: "g"}, []int64{1, 2}, func([]*events.Snapshot[*counter]) []events.Emit {
			return []events.Emit{{ID: 1, Event: use(1)}, {ID: 2, Event: grant(1)}}
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	gift()
	e.add(t, 1, "c", 1)
	e.add(t, 2, "d", 1)
	out = gift()
	if !out.Duplicate || out.States[0].State.N != 3 || out.States[1].State.N != 2 {
		t.Fatalf("retried gift = %+v", out)
	}
}

func TestBatchIsAtomicAcrossAggregates(t *testing.T) {
	e := newEnv(t, events.Options{MaxAttempts: 3})
	e.add(t, 1, "seed", 5)
	var runs atomic.Int32
	// Every decide races another writer on aggregate 2, so every append
	// conflicts on 2's expected sequence; nothing may land on 1 either.
	_, err := e.repo.Exec(ctx(t), events.Cmd{ID: "gift"}, []int64{1, 2}, func(s []*events.Snapshot[*counter]) []events.Emit {
		other := newEnvOn(t, e.n, nil, events.Options{})
		other.add(t, 2, fmt.Sprintf("race%d", runs.Add(1)), 1)
		return []events.Emit{{ID: 1, Event: use(5)}, {ID: 2, Event: grant(5)}}
	})
	if !errors.Is(err, events.ErrContention) {
		t.Fatalf("err = %v, want ErrContention", err)
	}
	one, _ := e.repo.Load(ctx(t), 1)
	two, _ := e.repo.Load(ctx(t), 2)
	if one.State.N != 5 || two.State.N != int64(runs.Load()) || one.HasCmd("gift") {
		t.Fatalf("after refused batches: one = %+v, two = %+v", one, two)
	}
	if e.store.Stats().Conflicts != 3 {
		t.Fatalf("conflicts = %d, want 3", e.store.Stats().Conflicts)
	}
	// Without the race the batch commits on both subjects.
	out, err := e.repo.Exec(ctx(t), events.Cmd{ID: "gift2"}, []int64{1, 2}, func([]*events.Snapshot[*counter]) []events.Emit {
		return []events.Emit{{ID: 1, Event: use(5)}, {ID: 2, Event: grant(5)}}
	})
	if err != nil || len(out.Events) != 2 || out.States[0].State.N != 0 || out.States[1].State.N != int64(runs.Load())+5 ||
		out.Events[1].Seq != out.Events[0].Seq+1 {
		t.Fatalf("gift2 = %+v, %v", out, err)
	}
}

func TestStaleOrMissingCacheIsRepaired(t *testing.T) {
	skip := atomic.Bool{}
	e := newEnvBytes(t, events.Options{AfterAppend: func([]string) bool { return !skip.Load() }})
	e.add(t, 1, "a", 1)
	skip.Store(true) // the worker "dies" between append and cache write
	e.add(t, 1, "b", 2)
	skip.Store(false)
	before := e.store.Stats()
	snap, err := e.repo.Load(ctx(t), 1)
	if err != nil || snap.State.N != 3 {
		t.Fatalf("load after skipped cache write = %+v, %v", snap, err)
	}
	if e.store.Stats().CacheRepairs != before.CacheRepairs+1 {
		t.Fatal("stale cache entry was not detected")
	}
	// The repaired entry now answers alone.
	snap, _ = e.repo.Load(ctx(t), 1)
	if snap.State.N != 3 || e.store.Stats().CacheHits != before.CacheHits+1 {
		t.Fatalf("second load = %+v, stats %+v", snap, e.store.Stats())
	}
	// A cache entry of another aggregate, or garbage, is never trusted.
	b, _ := e.cache.Get(ctx(t), "snap:evt.test.1")
	e.cache.Set(ctx(t), "snap:evt.test.2", b, 0)
	e.add(t, 2, "x", 40)
	e.cache.Set(ctx(t), "snap:evt.test.2", b, 0)
	if snap, _ := e.repo.Load(ctx(t), 2); snap.State.N != 40 {
		t.Fatalf("aggregate 2 trusted aggregate 1's snapshot: %+v", snap)
	}
	e.cache.Set(ctx(t), "snap:evt.test.2", []byte("\xff\xff"), 0)
	if snap, _ := e.repo.Load(ctx(t), 2); snap.State.N != 40 {
		t.Fatalf("garbage snapshot: %+v", snap)
	}
}

func TestCommandTakesTheCacheOnTrust(t *testing.T) {
	t.Run("values", func(t *testing.T) { testCommandTakesTheCacheOnTrust(t, newEnv(t, events.Options{})) })
	t.Run("bytes", func(t *testing.T) { testCommandTakesTheCacheOnTrust(t, newEnvBytes(t, events.Options{})) })
}

func testCommandTakesTheCacheOnTrust(t *testing.T, e *env) {
	other := newEnvOn(t, e.n, nil, events.Options{}) // another process, writing behind e's cache
	e.add(t, 1, "a", 5)
	run := func(id string, emit proto.Message) (seen []int64, out *events.Outcome[*counter]) {
		t.Helper()
		out, err := e.repo.Exec(ctx(t), events.Cmd{ID: id}, []int64{1}, func(s []*events.Snapshot[*counter]) []events.Emit {
			seen = append(seen, s[0].State.N)
			if emit == nil {
				return nil
			}
			return []events.Emit{{ID: 1, Event: emit}}
		})
		if err != nil {
			t.Fatal(err)
		}
		return seen, out
	}
	// From a current cache entry a command asks the stream nothing: its
	// append's expected sequence is the check.
	before := e.store.Stats()
	if seen, out := run("b", grant(1)); !slices.Equal(seen, []int64{5}) || out.States[0].State.N != 6 {
		t.Fatalf("command on a current cache: decided on %v, now %+v", seen, out.States[0])
	}
	if st := e.store.Stats(); st.CacheHits != before.CacheHits+1 || st.CacheStale != before.CacheStale {
		t.Fatalf("stats %+v after %+v", st, before)
	}
	// Behind: the append is refused, and the command decides again on the stream's state.
	other.add(t, 1, "c", 10)
	if seen, out := run("d", use(1)); !slices.Equal(seen, []int64{6, 16}) || out.States[0].State.N != 15 {
		t.Fatalf("command on a stale cache: decided on %v, now %+v", seen, out.States[0])
	}
	if st := e.store.Stats(); st.CacheStale != before.CacheStale+1 || st.Conflicts != before.Conflicts+1 {
		t.Fatalf("stale entry not counted: %+v", st)
	}
	// A decision that appends nothing is confirmed against the stream.
	other.add(t, 1, "e", 100)
	if seen, _ := run("look", nil); !slices.Equal(seen, []int64{15, 115}) {
		t.Fatalf("refusal decided on %v, want the stale then the current state", seen)
	}
	// A command the stale entry does not know was applied is still applied once.
	other.add(t, 1, "f", 1000)
	if seen, out := run("f", grant(1000)); len(seen) != 1 || !out.Duplicate || out.States[0].State.N != 1115 {
		t.Fatalf("a repeat of a command stored elsewhere: decided on %v, outcome %+v", seen, out)
	}
}

// An in-process cache hands every reader the snapshot it holds: a command
// folds its events into a copy, so a state read before stays as it was.
func TestInProcessCacheSnapshotsNeverChange(t *testing.T) {
	e := newEnv(t, events.Options{})
	e.add(t, 1, "a", 5)
	before, err := e.repo.Load(ctx(t), 1)
	if err != nil || before.State.N != 5 {
		t.Fatalf("load = %+v, %v", before, err)
	}
	if again := e.repo.Peek(ctx(t), 1); again != before {
		t.Fatal("the cache did not hand out the snapshot it holds")
	}
	recent := slices.Clone(before.Recent)
	after := e.add(t, 1, "b", 2).States[0]
	if before.State.N != 5 || before.Version != 1 || !slices.Equal(before.Recent, recent) {
		t.Fatalf("a command changed the snapshot read before it: %+v", before)
	}
	if after.State.N != 7 || after == before {
		t.Fatalf("after = %+v", after)
	}
	if got, _ := e.repo.Load(ctx(t), 1); got != after {
		t.Fatal("the cache does not hold the command's snapshot")
	}
	// A load that finds the cache behind folds the tail into a copy too.
	other := newEnvOn(t, e.n, nil, events.Options{})
	other.add(t, 1, "c", 10)
	repaired, err := e.repo.Load(ctx(t), 1)
	if err != nil || repaired.State.N != 17 || after.State.N != 7 || after.Version != 2 {
		t.Fatalf("repair: loaded %+v, %v; the snapshot held before is now %+v", repaired, err, after)
	}
}

func TestDurableSnapshotShortensTheTail(t *testing.T) {
	e := newEnv(t, events.Options{SnapshotEvery: 5})
	for i := range 12 {
		e.add(t, 1, fmt.Sprint("c", i), 1)
	}
	kv, _ := e.n.JS.KeyValue(ctx(t), bus.SnapshotsBucket)
	if _, err := kv.Get(ctx(t), "test.1"); err != nil {
		t.Fatalf("no durable snapshot after 12 events: %v", err)
	}
	// No cache: the load starts from the durable snapshot (at 10 events).
	cold := newEnvOn(t, e.n, nil, events.Options{SnapshotEvery: 5})
	snap, err := cold.repo.Load(ctx(t), 1)
	if err != nil || snap.State.N != 12 || snap.Count != 12 {
		t.Fatalf("cold load = %+v, %v", snap, err)
	}
	if got := cold.store.Stats().TailEvents; got != 2 {
		t.Fatalf("cold load read %d events, want the 2 after the snapshot", got)
	}
	if err := cold.repo.SaveSnapshot(ctx(t), snap); err != nil {
		t.Fatal(err)
	}
	colder := newEnvOn(t, e.n, nil, events.Options{SnapshotEvery: 5})
	if snap, _ := colder.repo.Load(ctx(t), 1); snap.State.N != 12 || colder.store.Stats().TailEvents != 0 {
		t.Fatalf("load after explicit snapshot = %+v, tail %d", snap, colder.store.Stats().TailEvents)
	}
}

func TestReplayToSequenceAndSteps(t *testing.T) {
	e := newEnv(t, events.Options{TailBatch: 2}) // several batches per read
	var seqs []uint64
	for i := range 5 {
		seqs = append(seqs, e.add(t, 1, fmt.Sprint("c", i), int64(i+1)).Events[0].Seq)
	}
	var steps []int64
	snap, err := e.repo.Replay(ctx(t), 1, events.ReplayOptions[*counter]{
		ToSeq: seqs[2],
		Step:  func(_ *events.Event, s *counter) error { steps = append(steps, s.N); return nil },
	})
	if err != nil || snap.State.N != 6 || snap.Version != seqs[2] || fmt.Sprint(steps) != "[1 3 6]" {
		t.Fatalf("replay = %+v, steps %v, %v", snap, steps, err)
	}
	all, err := e.repo.Replay(ctx(t), 1, events.ReplayOptions[*counter]{})
	if err != nil || all.State.N != 15 {
		t.Fatalf("full replay = %+v, %v", all, err)
	}
	early, err := e.repo.Replay(ctx(t), 1, events.ReplayOptions[*counter]{ToTime: time.Now().Add(-time.Hour)})
	if err != nil || early.Exists() {
		t.Fatalf("replay to an hour ago = %+v, %v", early, err)
	}
}

func TestDecodeRejectsUnknownTypes(t *testing.T) {
	h := nats.Header{}
	if _, _, err := events.DecodeMsg(h, nil); !errors.Is(err, events.ErrUnknownEvent) {
		t.Fatalf("no header: %v", err)
	}
	h.Set(bus.HdrEvent, "evt.NoSuchThing")
	if _, _, err := events.DecodeMsg(h, nil); !errors.Is(err, events.ErrUnknownEvent) {
		t.Fatalf("unknown type: %v", err)
	}
	h.Set(bus.HdrEvent, "evt.ItemsGranted")
	b, _ := proto.Marshal(grant(4))
	m, name, err := events.DecodeMsg(h, b)
	if err != nil || name != "evt.ItemsGranted" || m.(*evt.ItemsGranted).GetItems()[0].GetNum() != 4 {
		t.Fatalf("decode = %v %q %v", m, name, err)
	}
	// An aggregate holding an undecodable event fails to load, loudly.
	e := newEnv(t, events.Options{})
	msg := nats.NewMsg("evt.test.5")
	msg.Header.Set(bus.HdrEvent, "evt.NoSuchThing")
	if _, err := e.n.JS.PublishMsg(ctx(t), msg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.repo.Load(ctx(t), 5); !errors.Is(err, events.ErrUnknownEvent) {
		t.Fatalf("load = %v", err)
	}
}

func TestLeaderLastSeq(t *testing.T) {
	e := newEnv(t, events.Options{})
	subj := e.repo.Subject(5)
	if seq, err := e.store.LeaderLastSeq(ctx(t), subj); err != nil || seq != 0 {
		t.Fatalf("no events: %d, %v", seq, err)
	}
	e.add(t, 5, "a", 1)
	e.add(t, 6, "b", 1)
	e.add(t, 5, "c", 1)
	direct, err := e.store.LastSeq(ctx(t), subj)
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := e.store.LeaderLastSeq(ctx(t), subj); err != nil || seq != direct || seq != 3 {
		t.Fatalf("leader = %d, %v; direct get = %d; want 3", seq, err, direct)
	}
}

// A cache entry ahead of the stream is checked with the leader, then
// dropped: here the store was reset under a surviving cache.
func TestCacheAheadOfStreamAsksTheLeader(t *testing.T) {
	c := cache.NewMemory()
	old := newEnvOn(t, nil, c, events.Options{})
	old.add(t, 1, "a", 10)
	old.add(t, 1, "b", 20) // cached at version 2
	fresh := newEnvOn(t, nil, c, events.Options{})
	fresh.add(t, 1, "c", 5) // loads first: the cache says 2, the new stream 0
	if got := fresh.store.Stats().LeaderReads; got != 1 {
		t.Fatalf("leader reads = %d, want 1", got)
	}
	snap, err := fresh.repo.Load(ctx(t), 1)
	if err != nil || snap.State.N != 5 || snap.Version != 1 {
		t.Fatalf("load = %+v, %v; want N=5 at version 1", snap, err)
	}
	if got := fresh.store.Stats().LeaderReads; got != 1 {
		t.Fatalf("a current cache entry went to the leader: %d reads", got)
	}
}

// Commands of one process on the same aggregate take turns: none of them
// decides on a version another is about to replace, so none is refused.
func TestExecTakesTurnsOnAnAggregate(t *testing.T) {
	e := newEnvOn(t, nil, cache.NewMemory(), events.Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				id := fmt.Sprintf("t%d-%d", g, i)
				// Every other command also touches aggregate 2: a batch.
				ids := []int64{1}
				if i%2 == 1 {
					ids = []int64{1, 2}
				}
				if _, err := e.repo.Exec(ctx(t), events.Cmd{ID: id}, ids, func(states []*events.Snapshot[*counter]) []events.Emit {
					var out []events.Emit
					for _, s := range states {
						out = append(out, events.Emit{ID: s.ID, Event: grant(1)})
					}
					return out
				}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	st := e.store.Stats()
	if st.Conflicts != 0 {
		t.Errorf("%d conflicts between commands of one process", st.Conflicts)
	}
	snap, err := e.repo.Load(ctx(t), 1)
	if err != nil || snap.State.N != 80 {
		t.Errorf("aggregate 1 = %+v, %v; want 80", snap, err)
	}
}

// Two processes (two stores, two connections) move units between six
// aggregates at once. Their commands share batches within each process and
// collide across them, so refused shared batches are split and retried.
// Afterwards the total is what was granted, and every aggregate's state as
// its process's cache knows it equals the replay of its events: no command
// was told a sequence that was not its own.
func TestSharedBatchesAcrossProcesses(t *testing.T) {
	n := testenv.StartNATS(t)
	const aggs, units = 6, 20
	var stores []*events.Store
	var repos []*events.Repo[*counter]
	for i := range 2 {
		js, err := jetstream.New(n.Connect(t, fmt.Sprint("p", i)))
		if err != nil {
			t.Fatal(err)
		}
		s, err := events.NewStore(context.Background(), js, cache.NewMemory(), events.Options{MaxAttempts: 200})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
		repos = append(repos, events.NewRepo(s, counterAgg))
	}
	for id := int64(1); id <= aggs; id++ {
		if _, err := repos[0].Exec(ctx(t), events.Cmd{ID: fmt.Sprint("seed", id)}, []int64{id},
			func([]*events.Snapshot[*counter]) []events.Emit { return []events.Emit{{ID: id, Event: grant(units)}} }); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for p, repo := range repos {
		for g := range 8 {
			wg.Go(func() {
				for i := range 25 {
					from := int64((g+i)%aggs + 1)
					to := int64((g+2*i+1)%aggs + 1)
					if from == to {
						to = from%aggs + 1
					}
					_, err := repo.Exec(ctx(t), events.Cmd{ID: fmt.Sprintf("m%d-%d-%d", p, g, i)}, []int64{from, to},
						func(st []*events.Snapshot[*counter]) []events.Emit {
							if st[0].State.N < 1 {
								return nil
							}
							return []events.Emit{{ID: from, Event: use(1)}, {ID: to, Event: grant(1)}}
						})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	var total int64
	for id := int64(1); id <= aggs; id++ {
		replayed, err := repos[0].Replay(ctx(t), id, events.ReplayOptions[*counter]{})
		if err != nil {
			t.Fatal(err)
		}
		total += replayed.State.N
		for p, repo := range repos {
			got, err := repo.Load(ctx(t), id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State.N != replayed.State.N || got.Version != replayed.Version {
				t.Errorf("process %d has aggregate %d at N=%d v%d, the stream says N=%d v%d",
					p, id, got.State.N, got.Version, replayed.State.N, replayed.Version)
			}
		}
	}
	if total != aggs*units {
		t.Errorf("total %d, want %d", total, aggs*units)
	}
	for p, s := range stores {
		st := s.Stats()
		t.Logf("process %d: %d batches of %d commands, %d conflicts", p, st.Batches, st.BatchedCmds, st.Conflicts)
	}
}

// Run hands back what decide returned with its events, from decide's last
// run; a command already applied is not decided again and gives the zero
// result, so a caller tells "refused" from "done before" by Duplicate.
func TestRunReturnsDecideResult(t *testing.T) {
	e := newEnv(t, events.Options{})
	type verdict struct {
		before int64
		why    string
	}
	spend := func(n int64) func([]*events.Snapshot[*counter]) ([]events.Emit, verdict) {
		return func(s []*events.Snapshot[*counter]) ([]events.Emit, verdict) {
			if s[0].State.N < n {
				return nil, verdict{s[0].State.N, "not enough"}
			}
			return []events.Emit{{ID: 1, Event: use(n)}}, verdict{s[0].State.N, "spent"}
		}
	}
	e.add(t, 1, "seed", 5)
	got, out, err := events.Run(ctx(t), e.repo, events.Cmd{ID: "big"}, []int64{1}, spend(9))
	if err != nil || got != (verdict{5, "not enough"}) || len(out.Events) != 0 {
		t.Fatalf("refused spend = %+v, %+v, %v", got, out, err)
	}
	got, out, err = events.Run(ctx(t), e.repo, events.Cmd{ID: "small"}, []int64{1}, spend(3))
	if err != nil || got != (verdict{5, "spent"}) || len(out.Events) != 1 || out.States[0].State.N != 2 {
		t.Fatalf("spend = %+v, %+v, %v", got, out, err)
	}
	got, out, err = events.Run(ctx(t), e.repo, events.Cmd{ID: "small"}, []int64{1}, spend(3))
	if err != nil || got != (verdict{}) || !out.Duplicate || out.States[0].State.N != 2 {
		t.Fatalf("retried spend = %+v, %+v, %v", got, out, err)
	}
}

// A zero SnapshotEvery writes no durable snapshots (the default, 100, is
// DefaultOptions'), so a caller turns them off with the zero of its own flag.
func TestZeroSnapshotEveryWritesNoDurableSnapshot(t *testing.T) {
	e := newEnv(t, events.Options{})
	on := newEnvOn(t, e.n, nil, events.Options{SnapshotEvery: 1})
	on.repo.Exec(ctx(t), events.Cmd{ID: "on"}, []int64{2}, func([]*events.Snapshot[*counter]) []events.Emit { return []events.Emit{{ID: 2, Event: grant(1)}} })
	for i := range events.DefaultOptions().SnapshotEvery + 1 { // past the default's count
		e.add(t, 1, fmt.Sprint("off", i), 1)
	}
	kv, err := e.n.JS.KeyValue(ctx(t), bus.SnapshotsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx(t), "test.2"); err != nil {
		t.Fatalf("SnapshotEvery 1 wrote no durable snapshot: %v", err)
	}
	if _, err := kv.Get(ctx(t), "test.1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("SnapshotEvery 0: durable snapshot lookup = %v, want none", err)
	}
	if d := events.DefaultOptions().SnapshotEvery; d <= 0 {
		t.Fatalf("default SnapshotEvery = %d", d)
	}
}

// Peek answers the cached state as it is, behind the stream when the cache
// write was lost, and nothing for an aggregate not cached or a cache entry
// of another aggregate.
func TestPeekAnswersTheCacheAsItIs(t *testing.T) {
	skip := atomic.Bool{}
	e := newEnvBytes(t, events.Options{AfterAppend: func([]string) bool { return !skip.Load() }})
	if snap := e.repo.Peek(ctx(t), 1); snap != nil {
		t.Fatalf("peek of nothing = %+v", snap)
	}
	e.add(t, 1, "a", 1)
	skip.Store(true)
	e.add(t, 1, "b", 2)
	if snap := e.repo.Peek(ctx(t), 1); snap == nil || snap.State.N != 1 {
		t.Fatalf("peek behind the stream = %+v", snap)
	}
	b, _ := e.cache.Get(ctx(t), "snap:evt.test.1")
	e.cache.Set(ctx(t), "snap:evt.test.2", b, 0)
	if snap := e.repo.Peek(ctx(t), 2); snap != nil {
		t.Fatalf("peek trusted another aggregate's entry: %+v", snap)
	}
}

// Loads ask on Options.Reads: none of their direct gets travels on the
// JetStream context's connection, whose server-side read loop a slow direct
// get would otherwise hold up (appends and answers behind it).
func TestLoadsReadOnTheirOwnConnection(t *testing.T) {
	n := testenv.StartNATS(t)
	reads := n.Connect(t, "reads")
	e := newEnvOn(t, n, nil, events.Options{Reads: reads})
	e.add(t, 5, "a", 2)
	e.add(t, 5, "b", 3)
	main, before := n.JS.Conn().Stats(), reads.Stats()
	snap, err := e.repo.Load(ctx(t), 5) // no cache: last sequence and the tail
	if err != nil || snap.State.N != 5 {
		t.Fatalf("load = %+v, %v", snap, err)
	}
	if got := n.JS.Conn().Stats().OutMsgs - main.OutMsgs; got != 0 {
		t.Errorf("the load sent %d messages on the JetStream connection, want 0", got)
	}
	if got := reads.Stats().OutMsgs - before.OutMsgs; got < 2 {
		t.Errorf("the load sent %d messages on Options.Reads, want the last sequence and the tail (2)", got)
	}
}
