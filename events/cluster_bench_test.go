package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/internal/testenv"
)

// BenchmarkClusterAppend compares, in one run, the append paths of the
// events package on a single-replica FILE stream (one standalone server, as
// in dev mode) and on a three-replica FILE stream (a three-node cluster in
// this process, routes on loopback): a single event with expected last
// subject sequence, and a two-aggregate command (the atomic batch a gift
// is), each at concurrency 1 and 64 on distinct aggregates (no conflicts),
// both through Repo.Exec (exec-*: load, decide, append, cache write; the
// gift's path) and as the bare append (raw-*: PublishMsg or the
// jetstreamext atomic batch Exec sends, no loads).
// The client connects to the stream leader (the best case; another node adds
// one route hop). nats-server stages an R1 file-stream batch in its own
// fsynced file store and an R3 batch in memory, which is what this measures.
//
// It starts four servers, so it only runs with HIVE_BENCH_CLUSTER=1:
//
//	HIVE_BENCH_CLUSTER=1 go test ./events -run '^$' -bench ClusterAppend -count 3
func BenchmarkClusterAppend(b *testing.B) {
	if os.Getenv("HIVE_BENCH_CLUSTER") != "1" {
		b.Skip("set HIVE_BENCH_CLUSTER=1 to run (starts a 3-node nats cluster)")
	}
	topologies := []struct {
		name  string
		start func(testing.TB) *nats.Conn
	}{
		{"R1", startStandalone},
		{"R3", startCluster3},
	}
	for _, topo := range topologies {
		nc := topo.start(b)
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		// No durable snapshots: the KV writes every 100 events are not
		// what is compared here; the memory cache keeps loads off the stream.
		store, err := events.NewStore(context.Background(), js, cache.NewMemory(), events.Options{
			Logger: slog.New(slog.DiscardHandler), // R3 stale-read warnings; counted as repairs/op
		})
		if err != nil {
			b.Fatal(err)
		}
		repo := events.NewRepo(store, counterAgg)
		for _, kind := range []struct {
			name string
			aggs int
		}{{"single", 1}, {"batch2", 2}} {
			for _, conc := range []int{1, 64} {
				b.Run(fmt.Sprintf("%s/exec-%s/c%d", topo.name, kind.name, conc), func(b *testing.B) {
					benchExec(b, repo, kind.aggs, conc)
				})
				b.Run(fmt.Sprintf("%s/raw-%s/c%d", topo.name, kind.name, conc), func(b *testing.B) {
					benchRaw(b, js, kind.aggs, conc)
				})
			}
		}
	}
}

// nextAgg hands out aggregate ids never used before in this process, so
// every goroutine of every sub-benchmark appends without conflicts.
var nextAgg atomic.Int64

// benchExec runs b.N commands over conc goroutines, each on its own aggs
// aggregates, and reports ops/s and the retries (conflicts and unseen
// outcomes, e.g. too many in-flight batches) per op.
func benchExec(b *testing.B, repo *events.Repo[*counter], aggs, conc int) {
	before := repo.Store().Stats()
	run := func(next func() bool) {
		ids := make([]int64, aggs)
		for i := range ids {
			ids[i] = nextAgg.Add(1)
		}
		emits := make([]events.Emit, aggs)
		for i, id := range ids {
			emits[i] = events.Emit{ID: id, Event: grant(1)}
		}
		decide := func([]*events.Snapshot[*counter]) []events.Emit { return emits }
		prefix := "b" + strconv.FormatInt(ids[0], 10) + "-"
		for n := 0; next(); n++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := repo.Exec(ctx, events.Cmd{ID: prefix + strconv.Itoa(n)}, ids, decide)
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	}
	parallel(b, conc, run)
	after := repo.Store().Stats()
	b.ReportMetric(float64(after.Conflicts+after.Unseen-before.Conflicts-before.Unseen)/float64(b.N), "retries/op")
	b.ReportMetric(float64(after.CacheRepairs-before.CacheRepairs)/float64(b.N), "repairs/op")
}

// parallel runs run on one goroutine (conc 1) or on conc goroutines, and
// reports ops/s; run loops while next() is true.
func parallel(b *testing.B, conc int, run func(next func() bool)) {
	b.ResetTimer()
	start := time.Now()
	if conc == 1 {
		i := 0
		run(func() bool { i++; return i <= b.N })
	} else {
		b.SetParallelism((conc + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) { run(pb.Next) })
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// benchRaw is the append alone, without Exec's loads and cache writes: a
// PublishMsg (one aggregate) or the two-message jetstreamext atomic batch
// Exec sends, each message with its subject's expected last sequence, which
// each goroutine tracks itself from the acks (it is the only writer).
func benchRaw(b *testing.B, js jetstream.JetStream, aggs, conc int) {
	var retries atomic.Int64
	defer func() { b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/op") }()
	parallel(b, conc, func(next func() bool) {
		subjects := make([]string, aggs)
		last := make([]uint64, aggs)
		for i := range subjects {
			subjects[i] = bus.EventSubject(counterAgg.Kind, nextAgg.Add(1))
		}
		for n := 0; next(); n++ {
			msgs := make([]*nats.Msg, aggs)
			for i, subj := range subjects {
				m := nats.NewMsg(subj)
				m.Data = []byte("x")
				m.Header.Set(jetstream.MsgIDHeader, subj+"-"+strconv.Itoa(n))
				m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(last[i], 10))
				msgs[i] = m
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			var seq uint64
			var err error
			if aggs == 1 {
				var ack *jetstream.PubAck
				if ack, err = js.PublishMsg(ctx, msgs[0]); err == nil {
					seq = ack.Sequence
				}
			} else {
				var ack *jetstreamext.BatchAck
				if ack, err = jetstreamext.PublishMsgBatch(ctx, js, msgs, jetstreamext.BatchFlowControl{AckFirst: false}); err == nil {
					seq = ack.Sequence
				}
			}
			if bus.IsConflict(err) {
				// Seen on R3 under load: an ack lost to a leader change, the
				// client's retry then refused. Reread the subjects' last
				// sequences (from the leader) as Exec would, and go on.
				retries.Add(1)
				for i, subj := range subjects {
					seq, gerr := leaderLastSeq(ctx, js, subj)
					if gerr != nil {
						b.Error(gerr)
						cancel()
						return
					}
					last[i] = seq
				}
				cancel()
				continue
			}
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
			// A batch occupies consecutive sequences ending at the ack's.
			for i := range last {
				last[i] = seq - uint64(aggs-1-i)
			}
		}
	})
}

// startStandalone starts one JetStream server (no cluster) with an R1 EVENTS
// stream and returns a client connection to it.
func startStandalone(t testing.TB) *nats.Conn { return testenv.StartNATS(t).Conn }

func startCluster3(t testing.TB) *nats.Conn { return testenv.StartNATSCluster(t).Conn }

// leaderLastSeq is the last sequence on subject as the stream leader knows
// it: the STREAM.MSG.GET API, not a direct get (a follower may answer those).
func leaderLastSeq(ctx context.Context, js jetstream.JetStream, subject string) (uint64, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": subject})
	m, err := js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+bus.EventsStream, req)
	if err != nil {
		return 0, err
	}
	var res struct {
		Message struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &res); err != nil {
		return 0, err
	}
	if res.Error != nil {
		return 0, res.Error
	}
	return res.Message.Seq, nil
}
