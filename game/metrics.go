package game

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/rescode"
)

// metrics are the worker's Prometheus series, hive_game_*.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	reruns   prometheus.Counter // handlers and gift credits run again after a NATS connection drop
	shed     prometheus.Counter // requests answered busy: the queue was full
	// series caches the children of both per api and code: WithLabelValues
	// hashes the labels and takes a lock, twice per request otherwise.
	series sync.Map // seriesKey -> *series
}

type seriesKey struct {
	api  string
	code int32
}

type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, w *Worker) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry() // unexported: the series still work, nobody scrapes them
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hive_game_requests_total", Help: "Requests answered, by api and result code.",
		}, []string{"api", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hive_game_request_seconds", Help: "Time from taking a request off the queue to answering it.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .25, 1, 5},
		}, []string{"api"}),
		reruns: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_game_request_reruns_total",
			Help: "Requests (and gift credits) run again because the NATS connection dropped while they ran or JetStream did not respond."}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_game_requests_shed_total",
			Help: "Requests answered RC_COMMON_SERVER_NOT_READY at once because --game-queue was full."}),
	}
	stat := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			if w.store == nil {
				return 0
			}
			return float64(f())
		})
	}
	cs := []prometheus.Collector{
		m.requests, m.latency, m.reruns, m.shed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hive_game_queue_length", Help: "Requests waiting for a pool goroutine."},
			func() float64 { return float64(len(w.jobs)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hive_game_leader", Help: "1 while this worker runs the leader jobs (projections, gate-loss sweep), else 0."},
			func() float64 {
				if w.leading.Load() {
					return 1
				}
				return 0
			}),
		stat("hive_game_events_appended_total", "Events appended to the stream.", func() uint64 { return w.store.Stats().Events }),
		stat("hive_game_append_conflicts_total", "Appends refused by the expected-sequence check (then retried).", func() uint64 { return w.store.Stats().Conflicts }),
		stat("hive_game_append_unseen_total", "Appends whose outcome was not seen (then checked and retried).", func() uint64 { return w.store.Stats().Unseen }),
		stat("hive_game_duplicate_commands_total", "Commands found already applied.", func() uint64 { return w.store.Stats().Duplicates }),
		stat("hive_game_cache_hits_total", "Loads and commands answered from a cache entry (a command takes it on trust; its append checks it).", func() uint64 { return w.store.Stats().CacheHits }),
		stat("hive_game_cache_stale_total", "Commands that started from a cached player and whose append was refused as a conflict (the cache was behind, or another writer came first); each then reloaded from the stream and decided again.", func() uint64 { return w.store.Stats().CacheStale }),
		stat("hive_game_cache_repairs_total", "Loads that found the cache missing or behind and folded a tail.", func() uint64 { return w.store.Stats().CacheRepairs }),
		stat("hive_game_batches_total", "Atomic batches appended (commands on several players; commands waiting together share one).", func() uint64 { return w.store.Stats().Batches }),
		stat("hive_game_batched_commands_total", "Commands appended in atomic batches (divided by hive_game_batches_total: the mean sharing).", func() uint64 { return w.store.Stats().BatchedCmds }),
		stat("hive_game_snapshots_total", "Durable snapshots written.", func() uint64 { return w.store.Stats().Durable }),
	}
	cs = append(cs, w.tr.collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(api string, res proto.Message, d time.Duration) {
	var code int32
	if res != nil {
		c, _ := rescode.Get(res)
		code = int32(c)
	}
	k := seriesKey{api, code}
	v, ok := m.series.Load(k)
	if !ok {
		// Created on first use, as WithLabelValues would: no series for an
		// api or code never answered.
		v, _ = m.series.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(api, strconv.Itoa(int(code))),
			latency:  m.latency.WithLabelValues(api),
		})
	}
	s := v.(*series)
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}
