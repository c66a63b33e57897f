package bench

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/client"
)

// Result is the outcome of Run, printed as the final JSON line.
type Result struct {
	Scenario string `json:"scenario"`
	Conns    int    `json:"conns"`
	// Rate is the requests per second the run was paced at (Options.Rate);
	// absent when every connection sent as fast as it was answered.
	Rate float64 `json:"rate,omitempty"`
	// Requests is every request that finished, answered or failed.
	Requests int64 `json:"requests"`
	// Errors is how many of them failed.
	Errors int64 `json:"errors"`
	// RPS is the successful answers per second: failures are not
	// throughput (a refusal is cheap, so counting it would flatter).
	RPS    float64 `json:"rps"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	P999ms float64 `json:"p999_ms"`
	// ErrorsByCode breaks Errors down by cause: a result code's name
	// (e.g. "RC_RATE_LIMITED") for a refusal, else one of ErrTimeout,
	// ErrConnection, ErrProtocol, ErrOther. Absent when there were none.
	ErrorsByCode map[string]int64 `json:"errors_by_code,omitempty"`
	// Hint, when set, says what the errors mean and how to avoid them
	// (e.g. the gate's per-session rate limit and the flag that lifts it).
	Hint string `json:"hint,omitempty"`
	// ConservationErrors (gift only, 0 otherwise) is how many gold units
	// the bench players' total gained or lost over the run: gifts only move
	// gold between them, so anything but 0 is a broken invariant. It is
	// read after the run settles; -1 means it could not be read.
	ConservationErrors int64 `json:"conservation_errors"`
	// APIs (mixed only) breaks the requests down by api: Login (a new
	// connection's includes the dial), Logout, GetUser, GetItems, GetMails,
	// ClaimMail, GiftItems; an api never sent is absent.
	APIs map[string]*APIResult `json:"apis,omitempty"`
	// CCU (mixed only) is the players logged in, sampled each second
	// after the ramp.
	CCU *CCUResult `json:"ccu,omitempty"`
	// CPU (mixed only) is the CPU time used after the ramp.
	CPU *CPUResult `json:"cpu,omitempty"`
	// Ramp (mixed only) is the requests sent while the players were
	// logging in (mostly logins), apart from the figures above, which are
	// those of the steady part that follows.
	Ramp *RampResult `json:"ramp,omitempty"`
}

// RampResult is the requests of a mixed run's ramp.
type RampResult struct {
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	ErrorsByCode map[string]int64 `json:"errors_by_code,omitempty"`
	P50ms        float64          `json:"p50_ms"` // of successful answers
	P99ms        float64          `json:"p99_ms"`
	P999ms       float64          `json:"p999_ms"`
	// APIs is the ramp's requests by api, as Result.APIs.
	APIs map[string]*APIResult `json:"apis,omitempty"`
}

// APIResult is one api's share of a mixed run.
type APIResult struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	P50ms    float64 `json:"p50_ms"` // of successful answers
	P99ms    float64 `json:"p99_ms"`
}

// CCUResult is the concurrent logged-in players of a mixed run.
type CCUResult struct {
	Target  int     `json:"target"` // --conns
	Min     int64   `json:"min"`
	Mean    float64 `json:"mean"`
	Max     int64   `json:"max"`
	Samples int     `json:"samples"`
}

// CPUResult is the CPU time the bench and the server used while the CCU
// was held (after the ramp), and that per 1,000 CCU: cores =
// CPU seconds / wall seconds / (mean CCU / 1000).
type CPUResult struct {
	SteadyS           float64 `json:"steady_s"` // wall seconds measured
	BenchPID          int     `json:"bench_pid"`
	BenchS            float64 `json:"bench_cpu_s"`
	BenchCoresPer1000 float64 `json:"bench_cores_per_1000_ccu"`
	// ServerPID is --target-pid or the process listening on the gate's
	// port (0: not found; Note says why). For hive dev it holds uc, the
	// game, the gate and NATS.
	ServerPID          int     `json:"server_pid,omitempty"`
	ServerS            float64 `json:"server_cpu_s,omitempty"`
	ServerCoresPer1000 float64 `json:"server_cores_per_1000_ccu,omitempty"`
	// ServerOpenFiles is the server's soft limit of open files.
	ServerOpenFiles int64  `json:"server_open_files,omitempty"`
	Note            string `json:"note,omitempty"`
}

// Causes of failed requests without a result code, in Result.ErrorsByCode.
const (
	ErrTimeout    = "timeout"    // not answered within --timeout
	ErrConnection = "connection" // the connection failed or was closed (dial, reset, EOF)
	ErrProtocol   = "protocol"   // an answer that does not parse
	ErrOther      = "other"      // anything else
)

// MaxFailedFraction is the share of failed requests above which a bench run
// is a failure (`hive bench` exits 1): its figures then measure refusals
// more than the service.
const MaxFailedFraction = 0.01

// Failed reports whether more than MaxFailedFraction of the requests failed.
func (r *Result) Failed() bool {
	n, errs := r.Requests, r.Errors
	if r.Ramp != nil {
		n, errs = n+r.Ramp.Requests, errs+r.Ramp.Errors
	}
	return n > 0 && float64(errs) > MaxFailedFraction*float64(n)
}

// rateLimitHint is Result.Hint when answers were RC_RATE_LIMITED.
const rateLimitHint = "answers were rate-limited (RC_RATE_LIMITED): the gate allows each session --gate-rate " +
	"requests per second (default 100, burst --gate-burst) and queues at most --gate-max-pending; " +
	"to measure the service rather than the limit, start the gate (or hive dev) with --gate-rate 0"

// errorCause is the key of err in Result.ErrorsByCode.
func errorCause(err error) string {
	if code, ok := client.CodeOf(err); ok {
		return code.String()
	}
	var pe *client.ProtocolError
	var ne net.Error
	switch {
	case errors.Is(err, errLate), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	case errors.As(err, &pe):
		return ErrProtocol
	case errors.Is(err, errServerClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &ne), errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrNoResponders):
		return ErrConnection
	}
	return ErrOther
}
