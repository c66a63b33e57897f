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
	refused     *prometheus.CounterVec // by limit (limit* constants)
	revocations prometheus.Counter     // token version bumps
	revokeFails prometheus.Counter     // bumps not written to the token-versions bucket
}

// Limits named in hive_uc_limit_refusals_total.
const (
	limitRequest        = "request"         // --uc-ip-rate
	limitSourceLockout  = "source_lockout"  // --uc-ip-fail-limit
	limitAccountLockout = "account_lockout" // --uc-account-fail-limit (per account and source)
	limitCreate         = "create"          // --uc-create-limit
	limitSMSSource      = "sms_source"      // --sms-source-limit
	limitSMSGlobal      = "sms_global"      // --sms-global-per-minute
	limitSMSPhone       = "sms_phone"       // --sms-min-interval, --sms-daily-limit
)

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
			Name: "hive_uc_event_publish_failures_total", Help: "Account event appends that failed; the event stays in its record's outbox until the sweeper stores it.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hive_uc_index_repairs_total", Help: "Dangling index keys (crash leftovers) removed.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hive_uc_rate_limited_total", Help: "Requests refused by the per-IP rate limit.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hive_uc_limit_refusals_total", Help: "Requests refused by a limit, by limit: request, source_lockout, account_lockout, create, sms_source, sms_global, sms_phone.",
		}, []string{"limit"}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hive_uc_token_revocations_total", Help: "Token version bumps (password change or reset, username bind) that revoke an account's earlier tokens.",
		}),
		revokeFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hive_uc_token_version_write_failures_total", Help: "Token version bumps that could not be written to the token-versions bucket after retries.",
		}),
	}
	for _, l := range []string{limitRequest, limitSourceLockout, limitAccountLockout, limitCreate, limitSMSSource, limitSMSGlobal, limitSMSPhone} {
		m.refused.WithLabelValues(l)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.sms, m.eventFails, m.repairs, m.rateLimited, m.refused, m.revocations, m.revokeFails} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
