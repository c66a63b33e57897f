// Package bench is `hive bench`: a load generator that drives guest
// sessions through a scenario and reports throughput and latency.
package bench

// This file is over 400 lines: the scenarios, the driver and the report
// share the result-code handling of conn.go and are split by those three
// once that handling lives in the shared envelope package.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// Scenarios.
const (
	ScenarioEcho   = "echo"    // msg.Echo round trips through gate and game
	ScenarioItems  = "items"   // msg.GetItems: a read of the player's state
	ScenarioGift   = "gift"    // msg.GiftItems of 1 gold to the next player: a two-aggregate write
	ScenarioNATSRR = "nats-rr" // raw NATS request-reply, the floor under the others
)

// Options configures Run.
type Options struct {
	// UC is the account server's base URL (not needed for nats-rr).
	UC string
	// HTTP is the client for uc; nil means one with a 10 s timeout.
	HTTP *http.Client
	// Gate, if set, replaces the gate address uc answers.
	Gate string
	// NATS is the NATS URL for nats-rr.
	NATS string
	// NATSOptions are added to every NATS connection of nats-rr (its
	// credentials: the bench role's).
	NATSOptions []nats.Option
	// Conns is the number of players (sessions), each sending one request
	// at a time; for nats-rr, the number of concurrent requesters. Default 10.
	Conns int
	// Duration of the measurement (sign-up and login come before). Default 10 s.
	Duration time.Duration
	// Scenario is one of echo, items, gift, nats-rr. Default echo.
	Scenario string
	// Prefix starts the bench players' device ids (prefix + index, which
	// uc wants 22+ characters of [A-Za-z0-9_-]); default
	// "bench-<unix nanoseconds>-", so each run signs up new guests.
	Prefix string
	// Timeout bounds each request; default 10 s. A request that times out
	// counts as an error.
	Timeout time.Duration
	// Progress, if set, gets one JSON line per second:
	// {"t_s":N,"requests":N,"errors":N,"rps":X} (the successful answers of
	// that second).
	Progress io.Writer
	// Out, if set, gets the result as one JSON line.
	Out io.Writer
}

// Result is the outcome of Run, printed as the final JSON line.
type Result struct {
	Scenario string `json:"scenario"`
	Conns    int    `json:"conns"`
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
	return r.Requests > 0 && float64(r.Errors) > MaxFailedFraction*float64(r.Requests)
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

// benchOp is one request of a scenario, starting at t0; worker i calls it
// in a loop. It bounds itself by the bench's timeout, and the end of ctx
// (the end of the run) interrupts it.
type benchOp func(ctx context.Context, t0 time.Time) error

// Run is `hive bench`: it signs up opt.Conns guest players, logs each in
// on its own session, then drives the scenario for opt.Duration with every
// session sending its next request as soon as the last is answered, and
// returns the counts (requests counts every request that finished, errors
// the failed ones among them, broken down by cause), the rate of successful
// answers and their latency percentiles (HdrHistogram, microsecond
// resolution). A session that ends is reconnected. Cancelling ctx ends the
// measurement early and still returns the result so far.
//
// The run itself does not use client.Session, to keep the load generator's
// CPU off the system it measures: each player's session is replaced by a
// bench connection (see benchConn) that writes a request encoded once and
// reads the answer on the same goroutine, checking its api and result code
// with a scan of the payload. Sign-up and the gift scenario's conservation
// check still go through client.Session.
func Run(ctx context.Context, opt Options) (*Result, error) {
	if opt.Scenario == "" {
		opt.Scenario = ScenarioEcho
	}
	if opt.Conns == 0 {
		opt.Conns = 10
	}
	if opt.Duration == 0 {
		opt.Duration = 10 * time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.Prefix == "" {
		opt.Prefix = "bench-" + strconv.FormatInt(time.Now().UnixNano(), 10) + "-"
	}
	switch {
	case opt.Conns < 0:
		return nil, fmt.Errorf("bench: conns %d < 1", opt.Conns)
	case opt.Duration < 0:
		return nil, fmt.Errorf("bench: negative duration %v", opt.Duration)
	}

	var ops []benchOp
	var players []*benchPlayer
	var cleanup func()
	var err error
	switch opt.Scenario {
	case ScenarioEcho, ScenarioItems, ScenarioGift:
		if opt.UC == "" {
			return nil, errors.New("bench: --uc is required")
		}
		players, ops, cleanup, err = gameOps(ctx, opt)
	case ScenarioNATSRR:
		if opt.NATS == "" {
			return nil, errors.New("bench: nats-rr needs --nats")
		}
		ops, cleanup, err = natsOps(opt)
	default:
		return nil, fmt.Errorf("bench: unknown scenario %q (echo, items, gift, nats-rr)", opt.Scenario)
	}
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var goldBefore int64
	if opt.Scenario == ScenarioGift {
		if goldBefore, err = totalGold(ctx, opt, players); err != nil {
			return nil, err
		}
	}
	if err := benchConnect(ctx, opt, players); err != nil {
		return nil, err
	}
	out := opt.Out
	opt.Out = nil // printed below, once the conservation check is in
	res := drive(ctx, opt, ops)
	for _, p := range players {
		p.bc.close() // before the conservation check logs in again
	}
	if opt.Scenario == ScenarioGift {
		res.ConservationErrors = conservation(ctx, opt, players, goldBefore)
	}
	if out != nil {
		b, _ := json.Marshal(res)
		_, _ = out.Write(append(b, '\n'))
	}
	return res, nil
}

// conservation returns how far the players' total gold is from before,
// polling a few times first: a gift cut off by the end of the run may still
// be committed by the game after drive returns, and the players are read
// one by one, so a read can fall between the two sides of a gift being
// applied. It settles within a request timeout; -1 if it cannot be read.
func conservation(ctx context.Context, opt Options, players []*benchPlayer, before int64) int64 {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opt.Timeout)
	defer cancel()
	diff := int64(-1)
	for ctx.Err() == nil {
		after, err := totalGold(ctx, opt, players)
		if err == nil {
			diff = max(after-before, before-after)
			if diff == 0 {
				return 0
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return diff
}

// totalGold sums the gold of the players, reading each through its own
// session (16 at a time).
func totalGold(ctx context.Context, opt Options, players []*benchPlayer) (int64, error) {
	var total atomic.Int64
	err := sixteenAtATime(len(players), func(i int) error {
		p := players[i]
		rctx, cancel := context.WithTimeout(ctx, opt.Timeout)
		defer cancel()
		s, err := p.session(rctx)
		var items []*def.Item
		if err == nil {
			items, err = s.GetItems(rctx, int32(def.ItemType_ITEM_GOLD))
		}
		if err != nil {
			return fmt.Errorf("bench: gold of player %d: %w", p.id, err)
		}
		for _, it := range items {
			if it.GetIdx() == int32(def.ItemType_ITEM_GOLD) {
				total.Add(it.GetNum())
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total.Load(), nil
}

// sixteenAtATime runs fn(0) .. fn(n-1), 16 at a time (uc and the gate are
// not flooded), and returns the first error, if any, once all have run.
func sixteenAtATime(n int, fn func(i int) error) error {
	sem := make(chan struct{}, 16)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// drive runs every op in its own goroutine for the duration and measures.
func drive(ctx context.Context, opt Options, ops []benchOp) *Result {
	// The end of the run cancels rather than sets a deadline, so that a
	// request cut off by it fails with context.Canceled, never with a
	// timeout of its own that would count as an error.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := time.AfterFunc(opt.Duration, cancel)
	defer stop.Stop()
	var requests, errs atomic.Int64
	hists := make([]*hdrhistogram.Histogram, len(ops))
	workers := make([]*benchWorker, len(ops))
	var wg sync.WaitGroup
	start := time.Now()
	for i, op := range ops {
		w := &benchWorker{op: op, timeout: opt.Timeout, h: newBenchHist(), requests: &requests, errs: &errs}
		hists[i], workers[i] = w.h, w
		wg.Go(func() {
			for w.step(ctx) {
			}
		})
	}
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if opt.Progress == nil {
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64 // successful answers so far
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			r, e := requests.Load(), errs.Load()
			b, _ := json.Marshal(map[string]any{"t_s": n, "requests": r, "errors": e, "rps": r - e - last})
			last = r - e
			_, _ = opt.Progress.Write(append(b, '\n'))
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	cancel()
	<-progressDone

	all := newBenchHist()
	for _, h := range hists {
		all.Merge(h)
	}
	ms := func(q float64) float64 { return float64(all.ValueAtQuantile(q)) / 1000 }
	res := &Result{
		Scenario: opt.Scenario, Conns: len(ops), Requests: requests.Load(), Errors: errs.Load(),
		RPS: float64(requests.Load()-errs.Load()) / elapsed.Seconds(), P50ms: ms(50), P99ms: ms(99), P999ms: ms(99.9),
	}
	for _, w := range workers {
		for cause, n := range w.causes {
			if res.ErrorsByCode == nil {
				res.ErrorsByCode = map[string]int64{}
			}
			res.ErrorsByCode[cause] += n
		}
	}
	if res.ErrorsByCode[def.ResCode_RC_RATE_LIMITED.String()] > 0 {
		res.Hint = rateLimitHint
	}
	if opt.Out != nil {
		b, _ := json.Marshal(res)
		_, _ = opt.Out.Write(append(b, '\n'))
	}
	return res
}

// newBenchHist is a latency histogram: microseconds, up to a minute.
func newBenchHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
}

// benchWorker is the state of one op's loop in drive.
type benchWorker struct {
	op             benchOp
	timeout        time.Duration
	h              *hdrhistogram.Histogram // latencies of successes, µs
	requests, errs *atomic.Int64           // shared by all workers
	// causes counts this worker's failures by errorCause; read once the
	// run is over.
	causes map[string]int64
}

// step runs one request and records it. It reports false once ctx has ended.
func (w *benchWorker) step(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	t0 := time.Now()
	err := w.op(ctx, t0)
	d := time.Since(t0)
	if ctx.Err() != nil && err != nil {
		return false // cut off by the end of the run: not a failure
	}
	if err == nil && d > w.timeout {
		err = errLate // ops bound their wait loosely (see benchConn.arm)
	}
	w.requests.Add(1)
	if err != nil {
		w.errs.Add(1)
		if w.causes == nil {
			w.causes = map[string]int64{}
		}
		w.causes[errorCause(err)]++
		return true
	}
	_ = w.h.RecordValue(max(1, d.Microseconds()))
	return true
}

// benchPlayer is one signed-up player of a game scenario.
type benchPlayer struct {
	opt   Options
	token string
	addr  string
	id    int64 // player id; set at sign-up

	mu sync.Mutex
	s  *client.Session

	// bc is the connection the ops drive (by one goroutine at a time). It
	// replaces s for the run: a second login of the player would end s.
	bc benchConn
}

// session returns a live session, reconnecting (and logging in again) if
// the last one ended.
func (p *benchPlayer) session(ctx context.Context) (*client.Session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s != nil && p.s.Err() == nil {
		return p.s, nil
	}
	if p.s != nil {
		p.s.Close()
		p.s = nil
	}
	s, err := client.Dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	if _, err := s.Login(ctx, p.token); err != nil {
		s.Close()
		return nil, err
	}
	p.s = s
	return s, nil
}

// close ends the player's session.
func (p *benchPlayer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s != nil {
		p.s.Close()
	}
	p.bc.close()
}

// benchConnect moves each player from its session to its bench connection
// (16 at a time): the session is closed first, as a second login would end
// it. The session is dialled again when needed after the run.
func benchConnect(ctx context.Context, opt Options, players []*benchPlayer) error {
	return sixteenAtATime(len(players), func(i int) error {
		p := players[i]
		p.mu.Lock()
		if p.s != nil {
			p.s.Close()
			p.s = nil
		}
		p.mu.Unlock()
		if err := p.bc.connect(ctx, p, opt.Timeout); err != nil {
			return fmt.Errorf("bench: player %d: %w", p.id, err)
		}
		return nil
	})
}

// gameOps signs up and logs in the players and returns their ops.
func gameOps(ctx context.Context, opt Options) ([]*benchPlayer, []benchOp, func(), error) {
	uc := &client.UC{BaseURL: opt.UC, HTTP: opt.HTTP}
	n := opt.Conns
	if opt.Scenario == ScenarioGift && n == 1 {
		n = 2 // a gift needs someone else: see the gift op below
	}
	players := make([]*benchPlayer, n)
	cleanup := func() {
		for _, p := range players {
			if p != nil {
				p.close()
			}
		}
	}
	// Sign up with bounded concurrency; uc rate-limits per IP, so wait and
	// retry when it says so.
	err := sixteenAtATime(len(players), func(i int) error {
		p, err := signUp(ctx, uc, opt, opt.Prefix+strconv.Itoa(i))
		players[i] = p
		return err
	})
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	ops, err := playerOps(opt, players)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return players, ops, cleanup, nil
}

// playerOps returns the opt.Conns ops of a game scenario over the players
// (two players for one gift connection, else one per op). Each op's
// request is encoded here, once.
func playerOps(opt Options, players []*benchPlayer) ([]benchOp, error) {
	ops := make([]benchOp, opt.Conns)
	gold := int32(def.ItemType_ITEM_GOLD)
	gift := func(to *benchPlayer) (*benchReq, error) {
		return newBenchReq(&msg.GiftItems_Req{DstId: proto.Int64(to.id), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1)})
	}
	if opt.Scenario == ScenarioGift && opt.Conns == 1 {
		// One request in flight between two players, alternating the
		// giver, so neither runs dry.
		var reqs [2]*benchReq
		for i := range reqs {
			q, err := gift(players[1-i])
			if err != nil {
				return nil, err
			}
			reqs[i] = q
		}
		var turn int
		ops[0] = func(ctx context.Context, t0 time.Time) error {
			from, q := players[turn], reqs[turn]
			turn = 1 - turn
			return from.bc.do(ctx, from, q, t0, opt.Timeout)
		}
		return ops, nil
	}
	for i, p := range players {
		var q *benchReq
		var err error
		switch opt.Scenario {
		case ScenarioEcho:
			q, err = newEchoReq(int64(i))
		case ScenarioItems:
			q, err = newBenchReq(&msg.GetItems_Req{Idx: proto.Int32(0)})
		case ScenarioGift:
			// Gold goes round the ring of players, one at a time, so
			// nobody runs dry while everyone sends at the same rate.
			q, err = gift(players[(i+1)%len(players)])
		}
		if err != nil {
			return nil, err
		}
		ops[i] = func(ctx context.Context, t0 time.Time) error {
			return p.bc.do(ctx, p, q, t0, opt.Timeout)
		}
	}
	return ops, nil
}

// signUp creates one guest player and logs it in.
func signUp(ctx context.Context, uc *client.UC, opt Options, device string) (*benchPlayer, error) {
	for {
		res, err := uc.Guest(ctx, device)
		var e *client.Error
		if errors.As(err, &e) && e.Code == def.ResCode_RC_RATE_LIMITED {
			wait := max(e.RetryAfter, 100*time.Millisecond)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("bench: sign up %s: %w", device, err)
		}
		p := &benchPlayer{opt: opt, token: res.GetToken(), addr: res.GetAddr()}
		if opt.Gate != "" {
			p.addr = opt.Gate
		}
		lctx, cancel := context.WithTimeout(ctx, opt.Timeout)
		defer cancel()
		s, err := p.session(lctx)
		if err != nil {
			return nil, fmt.Errorf("bench: log in %s at %s: %w", device, p.addr, err)
		}
		p.id = s.User().GetId() // set once, before the ops run; never changes
		return p, nil
	}
}

// natsOps starts a responder on its own connection and returns requesters
// sharing a few connections (as gates share theirs among sessions).
func natsOps(opt Options) ([]benchOp, func(), error) {
	var conns []*nats.Conn
	cleanup := func() {
		for _, nc := range conns {
			nc.Close()
		}
	}
	responder, err := bus.Connect(opt.NATS, "hive-bench-responder", opt.NATSOptions...)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	conns = append(conns, responder)
	subject := bus.BenchPrefix + nats.NewInbox()[len("_INBOX."):]
	if _, err := responder.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("bench: responder: %w", err)
	}
	if err := responder.Flush(); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("bench: responder: %w", err)
	}
	var requesters []*nats.Conn
	for range min(opt.Conns, 8) {
		nc, err := bus.Connect(opt.NATS, "hive-bench", opt.NATSOptions...)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("bench: %w", err)
		}
		conns = append(conns, nc)
		requesters = append(requesters, nc)
	}
	payload := make([]byte, 16)
	ops := make([]benchOp, opt.Conns)
	for i := range ops {
		nc := requesters[i%len(requesters)]
		ops[i] = func(ctx context.Context, _ time.Time) error {
			rctx, cancel := context.WithTimeout(ctx, opt.Timeout)
			defer cancel()
			_, err := nc.RequestWithContext(rctx, subject, payload)
			return err
		}
	}
	return ops, cleanup, nil
}
