// Package bench is `hive bench`: a load generator that drives guest
// sessions through a scenario and reports throughput and latency.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/proto/def"
)

// Options configures Run.
type Options struct {
	// UC is the account server's base URL (not needed for nats-rr).
	UC string
	// HTTP is the client for uc; nil means one with a 10 s timeout.
	HTTP *http.Client
	// Gate, if set, replaces the gate address uc answers (a ws:// URL with
	// Transport ws).
	Gate string
	// Transport is how the players reach the gate: TransportTCP (default,
	// uc's addr) or TransportWS (uc's ws_url).
	Transport string
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
	// Rate, when positive, paces echo, items, gift and nats-rr: requests per
	// second over all connections, each connection sending on its own even
	// schedule (still one request at a time) and each latency counted from
	// when its request was due, so a slow answer that delays the next send
	// shows in the latencies rather than lowering the load. 0 (default):
	// every connection sends its next request as soon as the last is
	// answered, the most the system serves at that concurrency.
	Rate float64
	// Progress, if set, gets one JSON line per second:
	// {"t_s":N,"requests":N,"errors":N,"rps":X} (the successful answers of
	// that second).
	Progress io.Writer
	// Out, if set, gets the result as one JSON line.
	Out io.Writer

	// The mixed scenario's knobs.

	// RatePerConn is each mixed player's actions per second; default 1.
	RatePerConn float64
	// RampRate is how many mixed players log in per second at the start
	// (evenly spaced); default 500.
	RampRate float64
	// Mix weighs the mixed players' actions (ParseMix); default DefaultMix.
	Mix string
	// TargetPID is the server process whose CPU a mixed run reports; 0:
	// the process listening on the gate's port, if it can be found.
	TargetPID int
}

// Transports of Options.Transport.
const (
	TransportTCP = "tcp" // the gate's TCP address (uc's addr)
	TransportWS  = "ws"  // the gate's WebSocket (uc's ws_url)
)

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
		// Sign-ups go 16 at a time: keep 16 connections to uc open rather
		// than the default 2, whose misses leave a socket in TIME_WAIT per
		// sign-up (thousands, taking the ports the players need).
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		opt.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: t}
	}
	if opt.Transport == "" {
		opt.Transport = TransportTCP
	}
	if opt.Transport != TransportTCP && opt.Transport != TransportWS {
		return nil, fmt.Errorf("bench: unknown transport %q (tcp, ws)", opt.Transport)
	}
	if opt.Prefix == "" {
		opt.Prefix = "bench-" + strconv.FormatInt(time.Now().UnixNano(), 10) + "-"
	}
	if opt.RatePerConn == 0 {
		opt.RatePerConn = 1
	}
	if opt.RampRate == 0 {
		opt.RampRate = 500
	}
	if opt.Mix == "" {
		opt.Mix = DefaultMix
	}
	switch {
	case opt.Conns < 0:
		return nil, fmt.Errorf("bench: conns %d < 1", opt.Conns)
	case opt.Duration < 0:
		return nil, fmt.Errorf("bench: negative duration %v", opt.Duration)
	case opt.RatePerConn < 0 || opt.RampRate < 0 || opt.Rate < 0:
		return nil, fmt.Errorf("bench: negative rate (rate %v, rate per conn %v, ramp rate %v)", opt.Rate, opt.RatePerConn, opt.RampRate)
	case opt.Rate > 0 && opt.Scenario == ScenarioMixed:
		return nil, errors.New("bench: a mixed run is paced by its rate per conn, not by a rate")
	case opt.Rate > 0 && float64(opt.Conns)/opt.Rate > opt.Duration.Seconds():
		return nil, fmt.Errorf("bench: rate %v over %d conns is less than one request per connection in %v", opt.Rate, opt.Conns, opt.Duration)
	}
	if opt.Scenario == ScenarioMixed {
		return runMixedScenario(ctx, opt)
	}

	var ops []benchOp
	var players []*benchPlayer
	var cleanup func()
	var err error
	ring := &giftRing{}
	switch opt.Scenario {
	case ScenarioEcho, ScenarioItems, ScenarioGift:
		if opt.UC == "" {
			return nil, errors.New("bench: --uc is required")
		}
		players, ops, cleanup, err = gameOps(ctx, opt, ring)
	case ScenarioNATSRR:
		if opt.NATS == "" {
			return nil, errors.New("bench: nats-rr needs --nats")
		}
		ops, cleanup, err = natsOps(opt)
	default:
		return nil, fmt.Errorf("bench: unknown scenario %q (echo, items, gift, mixed, nats-rr)", opt.Scenario)
	}
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var goldBefore int64
	if opt.Scenario == ScenarioGift {
		golds, err := playerGolds(ctx, opt, players)
		if err != nil {
			return nil, err
		}
		goldBefore = sum(golds)
		ring.start(golds)
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
		golds, err := playerGolds(ctx, opt, players)
		if err == nil {
			after := sum(golds)
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

func sum(golds []int64) int64 {
	var n int64
	for _, g := range golds {
		n += g
	}
	return n
}

// playerGolds reads the gold of each player through its own session (16
// at a time).
func playerGolds(ctx context.Context, opt Options, players []*benchPlayer) ([]int64, error) {
	golds := make([]int64, len(players))
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
				golds[i] += it.GetNum()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return golds, nil
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
