package uc

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of uc, all prefixed hive_uc_.
type metrics struct {
	requests    *prometheus.CounterVec   // by route and result code
	latency     *prometheus.HistogramVec // by route
	sms         *prometheus.CounterVec   // by outcome: sent, failed
	eventFails  prometheus.Counter
	repairs     prometheus.Counter
	rateLimited prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hive_uc_requests_total", Help: "REST requests by route and result code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hive_uc_request_duration_seconds", Help: "REST request handling time by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		sms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hive_uc_sms_total", Help: "Verification codes handed to the SMS sender, by outcome.",
		}, []string{"outcome"}),
		eventFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hive_uc_event_publish_failures_total", Help: "Account events that could not be stored after retries.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hive_uc_index_repairs_total", Help: "Dangling index keys (crash leftovers) removed.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hive_uc_rate_limited_total", Help: "Requests refused by the per-IP rate limit.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.sms, m.eventFails, m.repairs, m.rateLimited} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
