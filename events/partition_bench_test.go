package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/internal/testenv"
)

// BenchmarkPartitions appends single-player events (Repo.Exec of one
// ItemsGranted, each goroutine on its own players, no conflicts) from 64
// goroutines to a store of 1, 2 and 4 partitions on a three-node cluster
// in this process, every stream at R3 with its leaders spread
// (bus.SpreadLeaders). It reports events/s and cpu-us/event, the CPU time
// of the whole process (the three servers and the client) per event. The
// client is connected to one node, so writes to partitions led elsewhere
// take one route hop more.
//
// It starts three servers per sub-benchmark, so it only runs with
// HIVE_BENCH_CLUSTER=1:
//
//	HIVE_BENCH_CLUSTER=1 go test ./events -run '^$' -bench Partitions -benchtime 3s
func BenchmarkPartitions(b *testing.B) {
	if os.Getenv("HIVE_BENCH_CLUSTER") != "1" {
		b.Skip("set HIVE_BENCH_CLUSTER=1 to run (starts a 3-node nats cluster)")
	}
	for _, parts := range []int{1, 2, 4} {
		// One cluster per number of partitions, outside b.Run, which calls
		// its function more than once.
		nt := testenv.StartNATSClusterStore(b, parts)
		store, err := events.NewStore(context.Background(), nt.JS, cache.NewMemory(), events.Options{
			Logger: slog.New(slog.DiscardHandler), // R3 stale-read warnings
		})
		if err != nil {
			b.Fatal(err)
		}
		agg := counterAgg
		agg.Kind = bus.AggPlayer
		repo := events.NewRepo(store, agg)
		b.Run(fmt.Sprintf("p%d", parts), func(b *testing.B) {
			cpu0, ok := testenv.CPUTime()
			benchExec(b, repo, 1, 64)
			if cpu1, _ := testenv.CPUTime(); ok {
				b.ReportMetric(float64(cpu1-cpu0)/1e3/float64(b.N), "cpu-us/event")
			}
		})
		// Stopped now, not at the end: idle clusters would share the CPU
		// with the next one.
		nt.Conn.Close()
		for _, s := range nt.Cluster {
			s.Shutdown()
		}

	}
}
