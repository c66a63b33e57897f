package game

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
)

// benchClients is how many requests are in flight at once (gate sessions);
// HIVE_BENCH_CLIENTS overrides it.
var benchClients = func() int {
	if n, err := strconv.Atoi(os.Getenv("HIVE_BENCH_CLIENTS")); err == nil && n > 0 {
		return n
	}
	return 64
}()

// benchWorker starts one worker (its own TCP connection) and returns the
// players, logged in, each with its own client connection's session. With
// HIVE_BENCH_CLUSTER=1 the store is a three-node cluster in this process,
// everything at three replicas (production's store; dev mode's is R1):
//
//	HIVE_BENCH_CLUSTER=1 go test ./game -run '^$' -bench GiftItems -benchtime 20000x
func benchWorker(b *testing.B) (*harness, []*player) {
	b.Helper()
	var n *testenv.NATS
	if os.Getenv("HIVE_BENCH_CLUSTER") == "1" {
		n = testenv.StartNATSCluster(b)
	} else {
		n = testenv.StartNATS(b)
	}
	h := &harness{n: n, cache: cache.NewMemory(), reg: registry.NewMemory()}
	nc := n.Connect(b, "game")
	js, _ := jetstream.New(nc)
	cfg := DefaultConfig()
	if f, err := strconv.Atoi(os.Getenv("HIVE_BENCH_FLIGHTS")); err == nil {
		cfg.BatchFlights = f
	}
	w, err := New(cfg, Deps{NC: nc, JS: js, Cache: h.cache, Registry: h.reg})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		w.Shutdown(context.Background())
		b.Logf("store: %+v", w.store.Stats())
	})
	client := n.Connect(b, "bench")
	ps := make([]*player, benchClients)
	for i := range ps {
		ps[i] = &player{t: b, nc: client, gate: "bench", session: uint64(i + 1), uid: int64(10000 + i)}
		if res := ps[i].call(&msg.Login_Req{Token: proto.String("t")}); code(res) != def.ResCode_RC_OK {
			b.Fatal(res)
		}
	}
	return h, ps
}

// drive runs b.N requests from benchClients sessions at once and reports
// requests/s and latency percentiles.
func drive(b *testing.B, ps []*player, req func(i int, p *player) proto.Message, ok func(proto.Message) bool) {
	var next atomic.Int64
	lat := make([][]time.Duration, len(ps))
	var bad atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				t0 := time.Now()
				res, err := p.sendID(req(i, p), fmt.Sprint("bench-", i))
				lat[c] = append(lat[c], time.Since(t0))
				if err != nil || !ok(res) {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if bad.Load() > 0 {
		b.Fatalf("%d of %d requests failed", bad.Load(), b.N)
	}
}

// BenchmarkGetItems: GetItems through NATS and one worker (a load: cache
// entry checked against the stream's last sequence with one direct get).
func BenchmarkGetItems(b *testing.B) {
	_, ps := benchWorker(b)
	drive(b, ps, func(int, *player) proto.Message { return &msg.GetItems_Req{} },
		func(m proto.Message) bool { return code(m) == def.ResCode_RC_OK })
}

// BenchmarkGiftItems: gifts of 1 gold between pairs of players (each
// session gives to its neighbour: two aggregates per command, one atomic
// batch append, conflicts only where neighbours' gifts meet).
func BenchmarkGiftItems(b *testing.B) {
	_, ps := benchWorker(b)
	drive(b, ps, func(i int, p *player) proto.Message {
		dst := p.uid + 1
		if dst >= int64(10000+benchClients) {
			dst = 10000
		}
		return &msg.GiftItems_Req{DstId: proto.Int64(dst), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1)}
	}, func(m proto.Message) bool {
		return code(m) == def.ResCode_RC_OK || code(m) == def.ResCode_RC_ITEM_NOT_ENOUGH
	})
}

// BenchmarkReplay: replay of one player with 10000 events (no snapshot),
// as `hive replay` does; reports events/s.
func BenchmarkReplay(b *testing.B) {
	n := testenv.StartNATS(b)
	ctx := context.Background()
	const events = 10000
	nc := n.Connect(b, "seed")
	js, _ := jetstream.New(nc)
	seed := func(m proto.Message) {
		data, _ := proto.Marshal(m)
		msg := natsMsg("evt.player.1", data, string(m.ProtoReflect().Descriptor().FullName()))
		if _, err := js.PublishMsgAsync(msg); err != nil {
			b.Fatal(err)
		}
	}
	seed(&evt.PlayerCreated{Account: proto.Int64(1), Items: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(1000)}}, At: proto.Int64(1)})
	for i := 1; i < events; i++ {
		seed(&evt.ItemsGranted{Items: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(1)}},
			Totals: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(int64(1000 + i))}}, At: proto.Int64(int64(i))})
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("seeding timed out")
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		u, err := Replay(ctx, n.JS, 1, ReplayOptions{})
		if err != nil || u.GetItems()[0].GetNum() != 1000+events-1 {
			b.Fatalf("replay = %v, %v", u, err)
		}
	}
	b.ReportMetric(float64(b.N*events)/time.Since(start).Seconds(), "events/s")
}
