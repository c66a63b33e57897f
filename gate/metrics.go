package gate

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Disconnect reasons (label of hive_gate_disconnects_total).
const (
	closeEOF          = "eof"           // the client closed or reset
	closeMalformed    = "malformed"     // protocol violation
	closeIdle         = "idle"          // idle timeout
	closeLoginTimeout = "login_timeout" // no login within the deadline
	closeSlowReader   = "slow_reader"   // outgoing queue over its bound
	closeWriteError   = "write_error"   // write failed or timed out
	closeKicked       = "kicked"        // second login or an admin kick
	closeDrain        = "drain"         // gate shutting down
)

// Kick reasons (label of hive_gate_kicks_total).
const (
	kickLoginElsewhere = "login_elsewhere"
	kickPushed         = "pushed" // a msg.Kick.Res pushed by the game or an operator
	kickDrain          = "drain"
)

// metrics are the gate's Prometheus collectors, registered on the
// Registerer of Deps (never the global default).
type metrics struct {
	conns    prometheus.Gauge
	accepted prometheus.Counter
	refused  prometheus.Counter
	// ipConnsRefused counts connections over --gate-max-conns-per-ip.
	ipConnsRefused prometheus.Counter
	// ipLoginsLimited counts login attempts over --gate-ip-login-rate.
	ipLoginsLimited prometheus.Counter
	disconnects     *prometheus.CounterVec
	queueDrops      prometheus.Counter
	kicks           *prometheus.CounterVec
	rateLimited     prometheus.Counter
	loginFails      *prometheus.CounterVec
	requests        *prometheus.CounterVec
	reqSeconds      prometheus.Histogram
	unroutable      prometheus.Counter
	resends         prometheus.Counter
	framesIn        *prometheus.CounterVec
	bytesIn         *prometheus.CounterVec
	framesOut       *prometheus.CounterVec
	bytesOut        *prometheus.CounterVec
	results         [numOutcomes]prometheus.Counter // requests by outcome, resolved once
	perAPI          map[string]*apiMetrics          // by api name, every known api
	unknownAPI      *apiMetrics
}

// apiMetrics are the per-api counters, resolved once so the hot path does
// no label lookups.
type apiMetrics struct {
	framesIn, bytesIn, framesOut, bytesOut prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		conns:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "hive_gate_connections", Help: "Open client connections."}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_gate_connections_accepted_total", Help: "Client connections accepted."}),
		refused:  prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_gate_connections_refused_total", Help: "Connections refused because the gate was full (--gate-max-conns)."}),
		ipConnsRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_gate_ip_connections_refused_total",
			Help: "Connections refused because their client address already held --gate-max-conns-per-ip."}),
		ipLoginsLimited: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_gate_ip_logins_limited_total",
			Help: "Login attempts answered RC_RATE_LIMITED by the per-address bucket (--gate-ip-login-rate)."}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hive_gate_disconnects_total", Help: "Closed sessions by reason."}, []string{"reason"}),
		queueDrops:  prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_gate_queue_drops_total", Help: "Slow readers disconnected because their outgoing queue exceeded --gate-queue."}),
		kicks:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hive_gate_kicks_total", Help: "Sessions kicked (msg.Kick.Res sent, then closed) by reason."}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_gate_rate_limited_total", Help: "Requests answered RC_RATE_LIMITED (token bucket or full pending queue)."}),
		loginFails:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hive_gate_login_failures_total", Help: "Failed logins by reason."}, []string{"reason"}),
		requests:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hive_gate_requests_total", Help: "Requests forwarded to the game by outcome."}, []string{"result"}),
		reqSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hive_gate_request_seconds", Help: "Time from forwarding a request to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17)}),
		unroutable: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_gate_unroutable_total", Help: "Messages from NATS dropped: no such session, late answers, no Hive-Api."}),
		resends: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_gate_request_retries_total",
			Help: "Requests sent to the game again, unanswered after --gate-retry-after or reported without responders."}),
		framesIn:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hive_gate_frames_in_total", Help: "Frames received from clients by api."}, []string{"api"}),
		bytesIn:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hive_gate_bytes_in_total", Help: "Frame bytes received from clients by api."}, []string{"api"}),
		framesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hive_gate_frames_out_total", Help: "Frames queued to clients by api."}, []string{"api"}),
		bytesOut:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hive_gate_bytes_out_total", Help: "Frame bytes queued to clients by api."}, []string{"api"}),
		perAPI:    map[string]*apiMetrics{},
	}
	for _, c := range []prometheus.Collector{m.conns, m.accepted, m.refused, m.ipConnsRefused, m.ipLoginsLimited, m.disconnects, m.queueDrops, m.kicks, m.rateLimited,
		m.loginFails, m.requests, m.reqSeconds, m.unroutable, m.resends, m.framesIn, m.bytesIn, m.framesOut, m.bytesOut} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for o := range numOutcomes {
		m.results[o] = m.requests.WithLabelValues(o.String())
	}
	for name := range staticAPIs {
		m.perAPI[name] = m.forAPI(name)
	}
	m.unknownAPI = m.forAPI("unknown")
	return m, nil
}

func (m *metrics) forAPI(label string) *apiMetrics {
	return &apiMetrics{
		framesIn: m.framesIn.WithLabelValues(label), bytesIn: m.bytesIn.WithLabelValues(label),
		framesOut: m.framesOut.WithLabelValues(label), bytesOut: m.bytesOut.WithLabelValues(label),
	}
}

// api returns the counters of a known api name, or those labelled "unknown".
func (m *metrics) api(name []byte) *apiMetrics {
	if a := m.perAPI[string(name)]; a != nil {
		return a
	}
	return m.unknownAPI
}

// apiNamed is api for a string name.
func (m *metrics) apiNamed(name string) *apiMetrics {
	if a := m.perAPI[name]; a != nil {
		return a
	}
	return m.unknownAPI
}
