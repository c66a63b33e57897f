package bench

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/qeetap/hive/proto/def"
)

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
	var interval time.Duration // between one connection's sends when paced
	if opt.Rate > 0 {
		// At least 1 ns: a rate past what the clock can space is still
		// paced (and late), never silently run as fast as answered.
		interval = max(time.Nanosecond, time.Duration(float64(len(ops))/opt.Rate*float64(time.Second)))
	}
	for i, op := range ops {
		w := &benchWorker{op: op, timeout: opt.Timeout, h: newBenchHist(), requests: &requests, errs: &errs, interval: interval}
		if interval > 0 { // the connections' schedules are spread over one interval
			w.next = start.Add(interval * time.Duration(i) / time.Duration(len(ops)))
		}
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
		Scenario: opt.Scenario, Conns: len(ops), Rate: opt.Rate, Requests: requests.Load(), Errors: errs.Load(),
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
	// interval, when paced (Options.Rate), is the time between this
	// worker's sends, and next when the next one is due.
	interval time.Duration
	next     time.Time
}

// step runs one request and records it. It reports false once ctx has ended.
func (w *benchWorker) step(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	t0 := time.Now()
	if w.interval > 0 {
		if !sleepUntil(ctx, w.next) {
			return false
		}
		// Late or not, the latency counts from when the request was due
		// (a send delayed by the last answer is part of the wait).
		t0, w.next = w.next, w.next.Add(w.interval)
	}
	err := w.op(ctx, t0)
	if errors.Is(err, errNoGold) { // nothing sent: not a request
		return sleepUntil(ctx, time.Now().Add(time.Millisecond))
	}
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
