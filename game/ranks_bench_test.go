package game

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/evt"
)

// BenchmarkRanksRebuild times the rebuild of the leaderboards from the
// stream: HIVE_BENCH_REBUILD_EVENTS (default 1,000,000) ItemsGranted events
// over 100,000 players are appended to an embedded JetStream file store
// once, then each iteration folds them all into an empty cache (the
// in-process one, and redis when redis-server is on PATH) until the
// position says ready. It reports the wall time and this process's CPU
// time per rebuild. Appending a million events takes a minute or two,
// so it only runs with HIVE_BENCH_REBUILD=1:
//
//	HIVE_BENCH_REBUILD=1 go test ./game -run '^$' -bench RanksRebuild -benchtime 1x
func BenchmarkRanksRebuild(b *testing.B) {
	if os.Getenv("HIVE_BENCH_REBUILD") != "1" {
		b.Skip("set HIVE_BENCH_REBUILD=1 to run (appends a million events)")
	}
	n := 1_000_000
	if v := os.Getenv("HIVE_BENCH_REBUILD_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("HIVE_BENCH_REBUILD_EVENTS=%q", v)
		}
	}
	const players = 100_000
	nt := testenv.StartNATS(b)
	start := time.Now()
	js, err := jetstream.New(nt.Conn, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		b.Fatal(err)
	}
	appendGrants(b, js, n, players)
	b.Logf("appended %d events in %v", n, time.Since(start).Round(time.Millisecond))

	caches := []struct {
		name string
		open func(testing.TB) cache.Cache
	}{{"memory", func(testing.TB) cache.Cache { return cache.NewMemory() }}}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil || os.Getenv("HIVE_REQUIRE_REDIS") == "1" {
		caches = append(caches, struct {
			name string
			open func(testing.TB) cache.Cache
		}{"redis", func(tb testing.TB) cache.Cache {
			r := testenv.StartRedis(tb)
			c, err := cache.NewRedis(r.Addr)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { c.Close() })
			return c
		}})
	}
	for _, cc := range caches {
		b.Run(cc.name, func(b *testing.B) {
			var total, cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				c := cc.open(b)
				cfg := DefaultConfig()
				cfg.Projections = false
				w, err := New(cfg, Deps{NC: nt.Conn, JS: nt.JS, Cache: c,
					Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				b.StartTimer()
				t0 := time.Now()
				c0, _ := testenv.CPUTime()
				go func() { defer close(done); w.runRanks(ctx, newPresence(w)) }()
				for {
					if ok, _ := ranksReady(ctx, c); ok {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				d := time.Since(t0)
				c1, _ := testenv.CPUTime()
				b.StopTimer()
				total += d
				cpu += c1 - c0
				cancel()
				<-done
				if top, _ := c.ZTop(context.Background(), RankKey(gold), 1); len(top) != 1 {
					b.Fatalf("no gold board after the rebuild: %v", top)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "events/s")
			b.ReportMetric(total.Seconds()/float64(b.N), "s/rebuild")
			// The CPU time of this process (fold, client and the embedded
			// nats-server; redis-server excluded): less disturbed by other
			// load on a shared machine than the wall time.
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/rebuild")
		})
	}
}

// appendGrants appends n ItemsGranted events (gold, totals growing) over
// the given number of players, asynchronously in windows.
func appendGrants(b *testing.B, js jetstream.JetStream, n, players int) {
	ctx := context.Background()
	held := make([]int64, players)
	typ := string((&evt.ItemsGranted{}).ProtoReflect().Descriptor().FullName())
	for i := range n {
		p := i % players
		held[p] += 10
		data, _ := proto.Marshal(&evt.ItemsGranted{
			Items:  []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(10)}},
			Totals: []*evt.ItemDelta{{Idx: proto.Int32(gold), Num: proto.Int64(held[p])}},
			At:     proto.Int64(int64(i)),
		})
		if _, err := js.PublishMsgAsync(natsMsg(bus.PlayerSubject(int64(p+1)), data, typ)); err != nil {
			b.Fatal(err)
		}
		if i%4_000 == 3_999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
			case <-time.After(time.Minute):
				b.Fatal("appends not acknowledged within a minute")
			}
		}
	}
	<-js.PublishAsyncComplete()
}
