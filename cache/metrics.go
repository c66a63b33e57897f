package cache

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics registers the cache's series on reg: hive_cache_keys (the
// keys held: the in-process map's size, or redis's DBSIZE at scrape time)
// and, for the in-process cache, hive_cache_expired_swept_total.
func RegisterMetrics(reg prometheus.Registerer, c Cache) error {
	var cs []prometheus.Collector
	switch c := c.(type) {
	case *Memory:
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hive_cache_keys",
				Help: "Keys held by the cache (in-process: values and sorted sets, expired ones not yet swept included)."},
				func() float64 { return float64(c.Len()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hive_cache_expired_swept_total",
				Help: "Expired keys the in-process cache's sweeper dropped."},
				func() float64 { return float64(c.Swept()) }))
	case *Redis:
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hive_cache_keys",
			Help: "Keys held by the cache (redis: DBSIZE of the database in use, at scrape time; -1 if redis did not answer)."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				n, err := c.c.DBSize(ctx).Result()
				if err != nil {
					return -1
				}
				return float64(n)
			}))
	}
	for _, col := range cs {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
