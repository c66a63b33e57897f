package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// fileMargin is the open files the bench needs besides one per connection.
const fileMargin = 64

// mixedStats is what the mixed scenario's players record, shared by all:
// one latency histogram per api (not one per player: a histogram is
// ~150 KB, too much times 10,000 players).
type mixedStats struct {
	// steadyFrom ends the ramp: a request sent before it counts in ramp,
	// after it in apis. Set before any player runs.
	steadyFrom time.Time
	apis, ramp map[string]*apiStats // steady part and ramp; keys fixed up front (mixedAPIs)
	ok, errs   atomic.Int64
	ccu        atomic.Int64 // players logged in now

	mu                 sync.Mutex
	causes, rampCauses map[string]int64
}

type apiStats struct {
	mu             sync.Mutex
	h              *hdrhistogram.Histogram // successes, µs
	requests, errs int64
}

func newMixedStats() *mixedStats {
	st := &mixedStats{apis: map[string]*apiStats{}, ramp: map[string]*apiStats{}, causes: map[string]int64{}, rampCauses: map[string]int64{}}
	for _, api := range mixedAPIs {
		st.apis[api] = &apiStats{h: newBenchHist()}
		st.ramp[api] = &apiStats{h: newBenchHist()}
	}
	return st
}

// record counts one finished request of api sent at t0; an answer later
// than timeout is a failure, as in drive.
func (st *mixedStats) record(api string, t0 time.Time, err error, timeout time.Duration) {
	d := time.Since(t0)
	if err == nil && d > timeout {
		err = errLate
	}
	a, causes := st.apis[api], st.causes
	if t0.Before(st.steadyFrom) {
		a, causes = st.ramp[api], st.rampCauses
	}
	a.mu.Lock()
	a.requests++
	if err != nil {
		a.errs++
	} else {
		_ = a.h.RecordValue(max(1, d.Microseconds()))
	}
	a.mu.Unlock()
	if err == nil {
		st.ok.Add(1)
		return
	}
	st.errs.Add(1)
	st.mu.Lock()
	causes[errorCause(err)]++
	st.mu.Unlock()
}

// usage is a reading of CPU time at one moment.
type usage struct {
	at            time.Time
	bench, server time.Duration
	ok            int64
}

// runMixed drives the mixed scenario over the signed-up players: players
// log in over the ramp (len/RampRate seconds, in order, evenly spaced),
// then act for opt.Duration. CCU, the request rate, CPU and the latencies
// are measured over that steady part only; what was sent during the ramp
// is reported apart (Result.Ramp).
func runMixed(ctx context.Context, opt Options, mix Mix, players []*benchPlayer) (*Result, error) {
	st := newMixedStats()
	shared := &mixedShared{}
	var err error
	if shared.getUser, err = newBenchReq(&msg.GetUser_Req{Id: proto.Int64(0)}); err != nil {
		return nil, err
	}
	if shared.getItems, err = newBenchReq(&msg.GetItems_Req{Idx: proto.Int32(0)}); err != nil {
		return nil, err
	}
	mps := make([]*mixedPlayer, len(players))
	for i := range players {
		if mps[i], err = newMixedPlayer(i, opt, mix, players, st, shared); err != nil {
			return nil, err
		}
	}
	cpu := &CPUResult{BenchPID: os.Getpid()}
	cpu.ServerPID, cpu.Note = findServer(opt, players)
	if cpu.ServerPID > 0 {
		if n, err := procOpenFiles(cpu.ServerPID); err == nil {
			cpu.ServerOpenFiles = n
		}
	}
	read := func(at time.Time) usage {
		u := usage{at: at, ok: st.ok.Load()}
		u.bench, _ = procCPU(cpu.BenchPID)
		if cpu.ServerPID > 0 {
			u.server, _ = procCPU(cpu.ServerPID)
		}
		return u
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(players)
	ramp := time.Duration(float64(n) / opt.RampRate * float64(time.Second))
	interval := time.Duration(float64(time.Second) / opt.RatePerConn)
	start := time.Now()
	st.steadyFrom = start.Add(ramp)
	var wg sync.WaitGroup
	for i, m := range mps {
		wg.Go(func() { m.run(ctx, start.Add(ramp*time.Duration(i)/time.Duration(n)), interval) })
	}
	steadyFrom, end := st.steadyFrom, start.Add(ramp+opt.Duration)
	var u0, u1 usage
	var ccu []int64
	tick := time.NewTicker(time.Second)
	for t := 1; ; t++ {
		var now time.Time
		select {
		case <-ctx.Done():
		case now = <-tick.C:
		}
		if now.IsZero() { // interrupted: the figures so far
			if !u0.at.IsZero() {
				u1 = read(time.Now())
			}
			break
		}
		c := st.ccu.Load()
		if !now.Before(steadyFrom) {
			if u0.at.IsZero() {
				u0 = read(now)
			} else {
				ccu = append(ccu, c)
			}
		}
		if opt.Progress != nil {
			b, _ := json.Marshal(map[string]any{"t_s": t, "ccu": c, "ok": st.ok.Load(), "errors": st.errs.Load()})
			_, _ = opt.Progress.Write(append(b, '\n'))
		}
		if !now.Before(end) {
			u1 = read(now)
			break
		}
	}
	tick.Stop()
	cancel()
	wg.Wait()
	return mixedResult(opt, st, cpu, u0, u1, ccu, n), nil
}

// findServer is the process whose CPU is the server's: opt.TargetPID, or
// else the one listening on the gate's port (hive dev: gate, game, uc and
// NATS together).
func findServer(opt Options, players []*benchPlayer) (int, string) {
	if opt.TargetPID > 0 {
		return opt.TargetPID, "--target-pid"
	}
	_, port, err := net.SplitHostPort(players[0].addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		return 0, "server CPU unknown: gate address " + players[0].addr
	}
	pid, err := listenerPID(p)
	if err != nil {
		return 0, "server CPU unknown: " + err.Error() + " (give --target-pid)"
	}
	if pid == os.Getpid() {
		return pid, "the gate runs in the bench's own process: server CPU includes the bench's"
	}
	return pid, "the process listening on the gate's port " + port
}

// mixedResult puts the run's figures together.
func mixedResult(opt Options, st *mixedStats, cpu *CPUResult, u0, u1 usage, ccu []int64, n int) *Result {
	res := &Result{Scenario: ScenarioMixed, Conns: n, CCU: &CCUResult{Target: n}}
	res.APIs, res.Requests, res.Errors, res.P50ms, res.P99ms, res.P999ms = apiResults(st.apis)
	res.ErrorsByCode = byCode(st.causes)
	if apis, reqs, errs, p50, p99, p999 := apiResults(st.ramp); reqs > 0 {
		res.Ramp = &RampResult{Requests: reqs, Errors: errs, ErrorsByCode: byCode(st.rampCauses),
			P50ms: p50, P99ms: p99, P999ms: p999, APIs: apis}
	}
	if res.ErrorsByCode[def.ResCode_RC_RATE_LIMITED.String()] > 0 || res.Ramp != nil && res.Ramp.ErrorsByCode[def.ResCode_RC_RATE_LIMITED.String()] > 0 {
		res.Hint = rateLimitHint
	}
	if len(ccu) > 0 {
		res.CCU.Min, res.CCU.Max = ccu[0], ccu[0]
		var sum int64
		for _, c := range ccu {
			res.CCU.Min, res.CCU.Max = min(res.CCU.Min, c), max(res.CCU.Max, c)
			sum += c
		}
		res.CCU.Mean = float64(sum) / float64(len(ccu))
		res.CCU.Samples = len(ccu)
	}
	if !u1.at.IsZero() {
		wall := u1.at.Sub(u0.at).Seconds()
		cpu.SteadyS = wall
		cpu.BenchS = (u1.bench - u0.bench).Seconds()
		cpu.ServerS = (u1.server - u0.server).Seconds()
		res.RPS = float64(u1.ok-u0.ok) / wall
		if k := res.CCU.Mean / 1000; k > 0 && wall > 0 {
			cpu.BenchCoresPer1000 = cpu.BenchS / wall / k
			if cpu.ServerPID > 0 {
				cpu.ServerCoresPer1000 = cpu.ServerS / wall / k
			}
		}
	}
	if cpu.ServerOpenFiles > 0 && cpu.ServerOpenFiles < int64(n+fileMargin) {
		res.Hint = fmt.Sprintf("the server's open-file limit (%d) is below --conns: raise ulimit -n where it starts", cpu.ServerOpenFiles)
	}
	res.CPU = cpu
	return res
}

// apiResults sums the apis: each one's figures, the requests and errors of
// all, and the quantiles of all their answers.
func apiResults(apis map[string]*apiStats) (out map[string]*APIResult, reqs, errs int64, p50, p99, p999 float64) {
	out = map[string]*APIResult{}
	all := newBenchHist()
	for api, a := range apis {
		if a.requests == 0 {
			continue
		}
		all.Merge(a.h)
		reqs += a.requests
		errs += a.errs
		out[api] = &APIResult{Requests: a.requests, Errors: a.errs, P50ms: quantileMS(a.h, 50), P99ms: quantileMS(a.h, 99)}
	}
	return out, reqs, errs, quantileMS(all, 50), quantileMS(all, 99), quantileMS(all, 99.9)
}

// byCode is a copy of causes, nil when empty.
func byCode(causes map[string]int64) map[string]int64 {
	if len(causes) == 0 {
		return nil
	}
	return maps.Clone(causes)
}

// quantileMS is h's quantile q (percent) in milliseconds.
func quantileMS(h *hdrhistogram.Histogram, q float64) float64 {
	return float64(h.ValueAtQuantile(q)) / 1000
}

// runMixedScenario is Run for ScenarioMixed.
func runMixedScenario(ctx context.Context, opt Options) (*Result, error) {
	if opt.UC == "" {
		return nil, errors.New("bench: --uc is required")
	}
	mix, err := ParseMix(opt.Mix)
	if err != nil {
		return nil, err
	}
	if err := raiseOpenFiles(opt.Conns + fileMargin); err != nil {
		return nil, err
	}
	players, cleanup, err := signUpAll(ctx, opt, opt.Conns)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	res, err := runMixed(ctx, opt, mix, players)
	if err != nil {
		return nil, err
	}
	if opt.Out != nil {
		b, _ := json.Marshal(res)
		_, _ = opt.Out.Write(append(b, '\n'))
	}
	return res, nil
}
