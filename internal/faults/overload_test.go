package faults

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// gateDeadline is the gates' --gate-request-timeout as the suite starts them
// (the default): a request not answered within it is late.
const gateDeadline = 5 * time.Second

// overloadPool is how many players (one connection each) the loads use.
const overloadPool = 200

// TestOverload finds the sustainable gift throughput S (closed loop, more
// players until it stops rising), then issues gifts at a fixed rate of 2×S
// over many connections for 20 s whatever the answers, then at S/2 for
// 10 s, sampling every process's resident memory each second. It reports
// the answers by code, the longest wait of one request, the requests not
// answered within the gate's deadline and each process's memory, and fails
// like the other scenarios on a lost or doubled gift. Long suite only.
func TestOverload(t *testing.T) {
	if !timing.long {
		t.Skip("the overload scenario runs in the long suite (-tags faults)")
	}
	c := startCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	players, err := signUp(ctx, c.ucURL, "overload", overloadPool)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	l := newLedger()

	// 1. Closed loop: no think time, more players until the answered gifts
	// per second rise by less than a tenth.
	var s float64
	var steps []string
	for _, n := range []int{25, 50, 100, 200} {
		l.newPhase()
		ld := startLoad(players[:n], l, 0, timing.timeout)
		time.Sleep(2 * time.Second) // logins and warm-up, not counted
		l.mu.Lock()
		before := l.requests - errCount(l)
		l.mu.Unlock()
		const window = 8 * time.Second
		time.Sleep(window)
		l.mu.Lock()
		rate := float64(l.requests-errCount(l)-before) / window.Seconds()
		l.mu.Unlock()
		ld.stop()
		steps = append(steps, fmt.Sprintf("%d:%.0f/s", n, rate))
		if rate < s*1.1 {
			s = max(s, rate)
			break
		}
		s = rate
	}
	report(t, fmt.Sprintf("overload closed_loop players:answered=%s sustainable=%.0f/s", strings.Join(steps, ","), s))
	if s < 1 {
		t.Fatalf("overload: no sustainable throughput measured (%s)", strings.Join(steps, ","))
	}

	// 2 and 3. Open loop at 2×S, then S/2.
	o, err := startOpen(players, l)
	if err != nil {
		t.Fatal(err)
	}
	mem := c.sampleRSS()
	before := c.counters()
	over := o.run(2*s, 20*time.Second)
	overCounts := c.counters().minus(before)
	peaks, growth := mem.stop()
	before = c.counters()
	calm := o.run(s/2, 10*time.Second)
	calmCounts := c.counters().minus(before)
	o.close()

	c.waitServing()
	jctx, jcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer jcancel()
	v, err := judge(jctx, c.tools(), players, l)
	if err != nil {
		t.Fatal(err)
	}
	report(t, fmt.Sprintf("overload rate=%.0f/s %s %s", 2*s, over, overCounts))
	report(t, fmt.Sprintf("overload rate=%.0f/s %s %s", s/2, calm, calmCounts))
	report(t, fmt.Sprintf("overload at 2xS: rss_peak_mb=%s rss_growth_last_vs_first_5s_mb=%s game_queue_peak=%s", peaks, growth, mem.queuePeaks()))
	report(t, fmt.Sprintf("overload conservation=%d inconsistent=%d lost=%d doubled=%d failed_but_applied=%d",
		v.conservation, v.inconsistent, v.lost, v.doubled, v.uncertainApplied))
	if v.failed() {
		for i, p := range v.problems {
			if i == 20 {
				t.Errorf("... %d more", len(v.problems)-i)
				break
			}
			t.Error(p)
		}
		t.Fatal("overload: gifts lost, doubled or inconsistent")
	}
	if calm.ok < calm.answered()*9/10 {
		t.Errorf("overload: at S/2 after the overload only %d of %d answers were code 0", calm.ok, calm.answered())
	}
}

// errCount is the ledger's failed requests; l.mu held.
func errCount(l *ledger) int {
	n := 0
	for _, v := range l.errors {
		n += v
	}
	return n
}

// pipe is one player's raw connection for the open-loop load: requests are
// written when they are due, without waiting for the answers before them
// (client.Session sends one at a time), so the gate's own queue per session
// (--gate-max-pending) and its limits are what hold them. Each pipe gifts 1
// gold to the same player every time, so the ledger needs no request ids:
// an answer is matched to the oldest request waiting, except
// RC_RATE_LIMITED, which the gate sends at once and so belongs to the
// newest (a wait may be attributed to a neighbouring request; the counts
// are exact).
type pipe struct {
	from, to int64
	conn     net.Conn
	r        *frame.Reader
	w        *frame.Writer
	mu       sync.Mutex
	waiting  []time.Time // when each unanswered request was due
	dead     bool
}

func (pp *pipe) key() giftKey { return giftKey{pp.from, pp.to, 1} }

// dialPipe authenticates p at uc and logs in at the gate uc names.
func dialPipe(ctx context.Context, p, to *player) (*pipe, error) {
	res, err := p.uc.Guest(ctx, p.device)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", res.GetAddr())
	if err != nil {
		return nil, err
	}
	pp := &pipe{from: p.id, to: to.id, conn: conn, r: frame.NewReader(conn, frame.MaxSize), w: frame.NewWriter(conn)}
	conn.SetDeadline(time.Now().Add(timing.timeout))
	if err = pp.w.WriteMessage(&msg.Login_Req{Token: proto.String(res.GetToken())}); err == nil {
		err = pp.w.Flush()
	}
	for err == nil {
		var api, payload []byte
		if api, payload, err = pp.r.Next(); err != nil {
			break
		}
		if m, derr := frame.Decode(api, payload); derr == nil {
			if lr, ok := m.(*msg.Login_Res); ok {
				if c := def.ResCode(lr.GetCode()); c != def.ResCode_RC_OK {
					err = fmt.Errorf("login: %v", c)
				}
				break
			}
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return pp, nil
}

// openLoad is the open-loop load: a pipe per player, and the phase its
// answers are counted in.
type openLoad struct {
	l     *ledger
	pipes []*pipe
	cur   atomic.Pointer[phase]
	wg    sync.WaitGroup
}

// startOpen connects every player (each gifting to the next), and reads
// their answers until close.
func startOpen(players []*player, l *ledger) (*openLoad, error) {
	o := &openLoad{l: l, pipes: make([]*pipe, len(players))}
	o.cur.Store(&phase{codes: map[string]int{}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, p := range players {
		pp, err := dialPipe(ctx, p, players[(i+1)%len(players)])
		if err != nil {
			o.close()
			return nil, fmt.Errorf("player %d: %w", p.id, err)
		}
		o.pipes[i] = pp
		o.wg.Add(1)
		go func() { defer o.wg.Done(); o.read(pp) }()
	}
	return o, nil
}

func (o *openLoad) close() {
	for _, pp := range o.pipes {
		if pp != nil {
			pp.conn.Close()
		}
	}
	o.wg.Wait()
}

// read matches each gift answer to a waiting request until the connection
// ends; then its waiting requests are of unknown outcome.
func (o *openLoad) read(pp *pipe) {
	for {
		api, payload, err := pp.r.Next()
		if err != nil {
			break
		}
		m, err := frame.Decode(api, payload)
		res, ok := m.(*msg.GiftItems_Res)
		if err != nil || !ok {
			continue // a push
		}
		code := def.ResCode(res.GetCode())
		pp.mu.Lock()
		if len(pp.waiting) == 0 { // given up on at the end of a phase
			pp.mu.Unlock()
			continue
		}
		var due time.Time
		if code == def.ResCode_RC_RATE_LIMITED {
			due, pp.waiting = pp.waiting[len(pp.waiting)-1], pp.waiting[:len(pp.waiting)-1]
		} else {
			due, pp.waiting = pp.waiting[0], pp.waiting[1:]
		}
		pp.mu.Unlock()
		o.answered(pp, code.String(), code == def.ResCode_RC_OK, time.Since(due))
	}
	pp.mu.Lock()
	pp.dead = true
	n := len(pp.waiting)
	pp.waiting = nil
	pp.mu.Unlock()
	for range n {
		o.answered(pp, "conn", false, 0)
	}
}

// answered records one request's end in the ledger and the phase.
func (o *openLoad) answered(pp *pipe, name string, ok bool, wait time.Duration) {
	o.l.mu.Lock()
	o.l.requests++
	if ok {
		o.l.acked[pp.key()]++
	} else {
		o.l.uncertain[pp.key()]++
		o.l.errors[name]++
	}
	o.l.mu.Unlock()
	ph := o.cur.Load()
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.longest = max(ph.longest, wait)
	if ok {
		ph.ok++
	} else {
		ph.codes[name]++
	}
	if strings.HasPrefix(name, "RC_") && wait > gateDeadline {
		ph.late++
	}
}

// run issues gifts at rate per second for d, round robin over the pipes,
// whatever the answers; then waits up to the client's timeout for the
// answers still due, and counts the rest as not answered.
func (o *openLoad) run(rate float64, d time.Duration) *phase {
	ph := &phase{codes: map[string]int{}}
	o.cur.Store(ph)
	gap := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * gap)
		if due.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(due))
		ph.mu.Lock()
		ph.issued++
		ph.mu.Unlock()
		pp := o.pipes[i%len(o.pipes)]
		pp.mu.Lock()
		if pp.dead {
			pp.mu.Unlock()
			ph.mu.Lock()
			ph.unsent++
			ph.mu.Unlock()
			continue
		}
		pp.waiting = append(pp.waiting, due) // before the write: the answer may come first
		pp.conn.SetWriteDeadline(time.Now().Add(time.Second))
		err := pp.w.WriteMessage(&msg.GiftItems_Req{DstId: proto.Int64(pp.to), ItemIdx: proto.Int32(goldIdx), ItemNum: proto.Int32(1)})
		if err == nil {
			err = pp.w.Flush()
		}
		pp.mu.Unlock()
		if err != nil {
			pp.conn.Close() // read ends and counts its waiting requests
		}
	}
	ph.took = time.Since(start)
	o.waitAnswers()
	return ph
}

// waitAnswers waits up to the client's timeout for every waiting request's
// answer; the ones still waiting then count as not answered.
func (o *openLoad) waitAnswers() {
	ph := o.cur.Load()
	for end := time.Now().Add(timing.timeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		n := 0
		for _, pp := range o.pipes {
			pp.mu.Lock()
			n += len(pp.waiting)
			pp.mu.Unlock()
		}
		if n == 0 {
			return
		}
	}
	for _, pp := range o.pipes {
		pp.mu.Lock()
		n := len(pp.waiting)
		pp.waiting = nil
		pp.mu.Unlock()
		for range n {
			o.answered(pp, "timeout", false, timing.timeout)
		}
		ph.mu.Lock()
		ph.noAnswer += n
		ph.mu.Unlock()
	}
}

// phase is what one open-loop phase saw.
type phase struct {
	mu             sync.Mutex
	issued, unsent int // unsent: due on a connection already lost
	ok             int
	codes          map[string]int
	longest        time.Duration
	late, noAnswer int // answered later than gateDeadline after it was due; never answered
	took           time.Duration
}

// answered is the requests that got an answer (any code).
func (ph *phase) answered() int {
	n := ph.ok
	for k, v := range ph.codes {
		if strings.HasPrefix(k, "RC_") {
			n += v
		}
	}
	return n
}

func (ph *phase) String() string {
	names := make([]string, 0, len(ph.codes))
	for n := range ph.codes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return ph.codes[names[i]] > ph.codes[names[j]] })
	codes := []string{fmt.Sprintf("RC_OK=%d", ph.ok)}
	for _, n := range names {
		codes = append(codes, fmt.Sprintf("%s=%d", n, ph.codes[n]))
	}
	return fmt.Sprintf("duration=%v issued=%d unsent=%d answers=%s longest_wait=%v late_over_%v=%d no_answer_in_%v=%d",
		ph.took.Round(100*time.Millisecond), ph.issued, ph.unsent, strings.Join(codes, ","), ph.longest.Round(10*time.Millisecond),
		gateDeadline, ph.late, timing.timeout, ph.noAnswer)
}

// rssSampler reads every process's VmRSS once a second until stopped.
type rssSampler struct {
	stopc   chan struct{}
	done    chan struct{}
	names   []string
	samples []map[string]int64
	// queues is each game worker's hive_game_queue_length, sampled alike.
	queues []map[string]float64
	games  []*proc
}

func (c *cluster) sampleRSS() *rssSampler {
	ps := append(append([]*proc{}, c.nats...), c.etcd, c.redis, c.uc)
	ps = append(append(ps, c.gates...), c.games...)
	r := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{}), games: c.games}
	for _, p := range ps {
		r.names = append(r.names, p.name)
	}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			m := map[string]int64{}
			for _, p := range ps {
				m[p.name] = vmRSS(p)
			}
			r.samples = append(r.samples, m)
			q := map[string]float64{}
			for _, g := range r.games {
				q[g.name], _ = c.scrape(g, "hive_game_queue_length")
			}
			r.queues = append(r.queues, q)
			select {
			case <-r.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

// stop ends the sampling and returns, per process, the peak RSS and the
// mean of the last five samples minus that of the first five (MB).
func (r *rssSampler) stop() (peaks, growth string) {
	close(r.stopc)
	<-r.done
	var ps, gs []string
	mb := func(b float64) float64 { return b / (1 << 20) }
	for _, n := range r.names {
		var peak int64
		for _, s := range r.samples {
			peak = max(peak, s[n])
		}
		k := min(5, len(r.samples))
		var first, last float64
		for i := range k {
			first += float64(r.samples[i][n]) / float64(k)
			last += float64(r.samples[len(r.samples)-1-i][n]) / float64(k)
		}
		ps = append(ps, fmt.Sprintf("%s:%.0f", n, mb(float64(peak))))
		gs = append(gs, fmt.Sprintf("%s:%+.1f", n, mb(last-first)))
	}
	return strings.Join(ps, ","), strings.Join(gs, ",")
}

// queuePeaks is each game worker's longest queue seen.
func (r *rssSampler) queuePeaks() string {
	var out []string
	for _, g := range r.games {
		var peak float64
		for _, q := range r.queues {
			peak = max(peak, q[g.name])
		}
		out = append(out, fmt.Sprintf("%s:%.0f", g.name, peak))
	}
	return strings.Join(out, ",")
}

// shedCounters are the cluster's counters of requests refused or re-sent
// under load, summed over the gates and the game workers.
type shedCounters struct {
	rateLimited, retries, unroutable, gameShed float64
}

func (c *cluster) counters() shedCounters {
	var s shedCounters
	for _, g := range c.gates {
		v, _ := c.scrape(g, "hive_gate_rate_limited_total")
		s.rateLimited += v
		v, _ = c.scrape(g, "hive_gate_request_retries_total")
		s.retries += v
		v, _ = c.scrape(g, "hive_gate_unroutable_total")
		s.unroutable += v
	}
	for _, g := range c.games {
		v, _ := c.scrape(g, "hive_game_requests_shed_total")
		s.gameShed += v
	}
	return s
}

func (s shedCounters) minus(o shedCounters) shedCounters {
	return shedCounters{s.rateLimited - o.rateLimited, s.retries - o.retries, s.unroutable - o.unroutable, s.gameShed - o.gameShed}
}

func (s shedCounters) String() string {
	return fmt.Sprintf("gate_rate_limited=%.0f gate_resends=%.0f gate_unroutable=%.0f game_shed=%.0f", s.rateLimited, s.retries, s.unroutable, s.gameShed)
}
