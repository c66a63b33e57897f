package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qeetap/hive/client"
)

// goldIdx is the item the players gift: gold, which every new player starts
// with startGold of (game data).
const (
	goldIdx   = 100
	startGold = 1000
)

// giftKey identifies gifts of one amount between two players: the ledger
// counts gifts per key, as the event stream does.
type giftKey struct {
	from, to int64
	num      int64
}

// ledger is what the players were told: gifts acknowledged (code 0), and
// gifts of unknown outcome (an error code, a lost connection or a timeout:
// the game may or may not have applied them).
type ledger struct {
	mu        sync.Mutex
	acked     map[giftKey]int
	uncertain map[giftKey]int
	requests  int
	errors    map[string]int
	// longestWait is the longest time one player went without an answered
	// request (code 0) while the load ran.
	longestWait time.Duration
	// lastOK is each player's last answered request.
	lastOK map[int64]time.Time
	// mark is when the fault ended (recovery is timed from it); recovered
	// is each player's first answered request started after mark.
	mark      time.Time
	recovered map[int64]time.Time
}

func newLedger() *ledger {
	return &ledger{acked: map[giftKey]int{}, uncertain: map[giftKey]int{}, errors: map[string]int{},
		lastOK: map[int64]time.Time{}, recovered: map[int64]time.Time{}}
}

// newPhase clears what the one-line report counts (requests, errors, waits,
// recovery) and keeps the gifts.
func (l *ledger) newPhase() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests, l.errors, l.longestWait = 0, map[string]int{}, 0
	l.lastOK, l.recovered, l.mark = map[int64]time.Time{}, map[int64]time.Time{}, time.Time{}
}

// markFaultEnd starts the recovery clock: from now, each player's first
// answered request counts.
func (l *ledger) markFaultEnd() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mark = time.Now()
	l.recovered = map[int64]time.Time{}
}

// recovery is the time from the fault's end until every one of n players had
// a request answered; ok is false if some player has not yet.
func (l *ledger) recovery(n int) (d time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recovered) < n {
		return 0, false
	}
	for _, at := range l.recovered {
		d = max(d, at.Sub(l.mark))
	}
	return d, true
}

func (l *ledger) record(from int64, k giftKey, started time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	now := time.Now()
	if err != nil {
		l.uncertain[k]++
		l.errors[errName(err)]++
		return
	}
	l.acked[k]++
	if last, ok := l.lastOK[from]; ok {
		l.longestWait = max(l.longestWait, now.Sub(last))
	}
	l.lastOK[from] = now
	if !l.mark.IsZero() && !started.Before(l.mark) {
		if _, ok := l.recovered[from]; !ok {
			l.recovered[from] = now
		}
	}
}

// loginFailed counts a failed reconnect (uc or gate) as an error.
func (l *ledger) loginFailed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors["login:"+errName(err)]++
}

// errName is a result code's name, or the kind of transport failure.
func errName(err error) string {
	if c, ok := client.CodeOf(err); ok {
		return c.String()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	}
	return "conn"
}

// errorsLine is the error counts, most frequent first.
func (l *ledger) errorsLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errors) == 0 {
		return "none"
	}
	names := make([]string, 0, len(l.errors))
	for n := range l.errors {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		return l.errors[names[i]] > l.errors[names[j]] || l.errors[names[i]] == l.errors[names[j]] && names[i] < names[j]
	})
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%d", n, l.errors[n])
	}
	return b.String()
}

// player is one guest account driven like a real client: on a lost
// connection it authenticates at uc again (which names a live gate) and
// logs in there.
type player struct {
	device string
	id     int64
	uc     *client.UC
	s      *client.Session
}

// connect authenticates at uc and logs in at the gate it names, retrying
// (every 200 ms) until it succeeds or ctx ends; failures go to l.
func (p *player) connect(ctx context.Context, l *ledger) error {
	if p.s != nil {
		p.s.Close()
		p.s = nil
	}
	for {
		err := p.login(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		}
		if l != nil {
			l.loginFailed(err)
		}
		wait := 200 * time.Millisecond
		var e *client.Error
		if errors.As(err, &e) && e.RetryAfter > wait {
			wait = e.RetryAfter // as uc asks
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

func (p *player) login(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := p.uc.Guest(ctx, p.device)
	if err != nil {
		return err
	}
	s, err := client.Dial(ctx, res.GetAddr())
	if err != nil {
		return err
	}
	u, err := s.Login(ctx, res.GetToken())
	if err != nil {
		s.Close()
		return err
	}
	p.s = s
	if p.id == 0 { // set at sign-up, before any load reads it
		p.id = u.GetId()
	}
	return nil
}

// gold reads the player's gold through a fresh login.
func (p *player) gold(ctx context.Context) (int64, error) {
	if err := p.connect(ctx, nil); err != nil {
		return 0, err
	}
	defer p.s.Close()
	items, err := p.s.GetItems(ctx, goldIdx)
	if err != nil {
		return 0, err
	}
	for _, it := range items {
		if it.GetIdx() == goldIdx {
			return it.GetNum(), nil
		}
	}
	return 0, nil
}

// load is the gift load: every player gifts 1 to 3 gold to a random other
// player, one request at a time, think time apart, until stopped.
type load struct {
	players []*player
	ledger  *ledger
	think   time.Duration
	timeout time.Duration
	// mixed adds the soak's other traffic between gifts: item, mail and
	// leaderboard reads, logout and login again, and a second login of the
	// same account (which kicks the first session).
	mixed  bool
	cancel context.CancelFunc
	// stopping ends the load between requests: a request in flight is
	// answered (or times out) first, so stopping adds no unknown outcomes.
	stopping atomic.Bool
	wg       sync.WaitGroup
}

// startLoad starts the players on l (which may hold an earlier load's gifts:
// the event stream keeps them too).
func startLoad(players []*player, l *ledger, think, timeout time.Duration) *load {
	ctx, cancel := context.WithCancel(context.Background())
	ld := &load{players: players, ledger: l, think: think, timeout: timeout, cancel: cancel}
	for i := range players {
		ld.wg.Add(1)
		go func() { defer ld.wg.Done(); ld.run(ctx, i) }()
	}
	return ld
}

// stop ends the load and waits for every player's last request.
func (ld *load) stop() {
	ld.stopping.Store(true)
	ld.cancel()
	ld.wg.Wait()
	for _, p := range ld.players {
		if p.s != nil {
			p.s.Close()
			p.s = nil
		}
	}
}

func (ld *load) run(ctx context.Context, i int) {
	p := ld.players[i]
	rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	for !ld.stopping.Load() {
		if p.s == nil || p.s.Err() != nil {
			if p.connect(ctx, ld.ledger) != nil {
				return
			}
		}
		if ld.mixed {
			if op := rng.IntN(100); op >= 60 {
				ld.other(p, op)
				ld.pause(ctx)
				continue
			}
		}
		to := ld.players[(i+1+rng.IntN(len(ld.players)-1))%len(ld.players)].id
		num := int32(1 + rng.IntN(3))
		started := time.Now()
		rctx, cancel := context.WithTimeout(context.Background(), ld.timeout)
		err := p.s.GiftItems(rctx, to, goldIdx, num)
		cancel()
		ld.ledger.record(p.id, giftKey{p.id, to, int64(num)}, started, err)
		if _, coded := client.CodeOf(err); err != nil && (!coded || p.s.Err() != nil) {
			p.s.Close() // transport failure: the answer may never come; start over
			p.s = nil
		}
		ld.pause(ctx)
	}
}

func (ld *load) pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(ld.think):
	}
}

// other is one request of the mixed traffic (op in 60..99), counted but
// not in the gift ledger.
func (ld *load) other(p *player, op int) {
	ctx, cancel := context.WithTimeout(context.Background(), ld.timeout)
	defer cancel()
	var err error
	switch {
	case op < 75:
		_, err = p.s.GetItems(ctx, 0)
	case op < 85:
		_, err = p.s.GetMails(ctx, 0)
	case op < 93:
		_, err = p.s.GetRank(ctx, goldIdx)
	case op < 97: // churn: log out, hang up, come back through uc
		err = p.s.Logout(ctx)
		p.s.Close()
		p.s = nil
	default: // a second device logs in: the first session is kicked
		old := p.s
		p.s = nil
		err = p.login(ctx)
		old.Close()
	}
	ld.ledger.mu.Lock()
	ld.ledger.requests++
	if err != nil {
		ld.ledger.errors[errName(err)]++
	}
	ld.ledger.mu.Unlock()
	if _, coded := client.CodeOf(err); err != nil && !coded && p.s != nil {
		p.s.Close()
		p.s = nil
	}
}

// signUp creates n guest players (the accounts and their starting gold),
// 8 at a time.
func signUp(ctx context.Context, ucURL, prefix string, n int) ([]*player, error) {
	uc := &client.UC{BaseURL: ucURL}
	ps := make([]*player, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range ps {
		ps[i] = &player{device: fmt.Sprintf("%s-device-%04d-0123456789", prefix, i), uc: uc}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := ps[i].connect(ctx, nil); err != nil {
				errs <- fmt.Errorf("sign up %s: %w", ps[i].device, err)
				return
			}
			ps[i].s.Close()
			ps[i].s = nil
		}()
	}
	wg.Wait()
	close(errs)
	return ps, <-errs
}
