package registry

import (
	"math/rand/v2"
	"sync"
	"time"
)

// handoutTTL bounds how long a hand-out counts while its gate reports
// nothing new: by then the client has connected (and a gate whose count
// changed has reported) or is not coming.
const handoutTTL = 10 * time.Second

// Picker chooses the gate for each login: the least loaded, skipping full
// ones. Gates report their connections every few seconds, and a burst of
// logins comes faster, so to each gate's reported count it adds the
// logins it handed that gate since that report (Gate.Rev tells reports
// apart); ties are broken at random, never by id. A burst so spreads
// evenly instead of landing on the gate that looked least loaded. Each uc
// counts only its own hand-outs. The zero Picker is ready; it is safe for
// concurrent use.
type Picker struct {
	mu     sync.Mutex
	handed map[string]handout // by gate id
}

// handout is what a Picker handed one gate since that gate's report rev.
type handout struct {
	rev   int64
	n     int
	first time.Time // of the first of the n
}

// Pick returns the gate for the next login from the live gates; ok is false
// when none is live or every one is full by its last report.
func (p *Picker) Pick(gates []Gate) (Gate, bool) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handed == nil || len(p.handed) > len(gates) {
		p.forgetGone(gates)
	}
	var best []int
	var bestLoad float64
	for i, g := range gates {
		if g.Capacity > 0 && g.Conns >= g.Capacity {
			continue
		}
		est := g
		est.Conns += p.since(g, now).n
		switch l := est.Load(); {
		case len(best) == 0 || l < bestLoad:
			best, bestLoad = append(best[:0], i), l
		case l == bestLoad:
			best = append(best, i)
		}
	}
	if len(best) == 0 {
		return Gate{}, false
	}
	g := gates[best[rand.IntN(len(best))]]
	h := p.since(g, now)
	if h.n == 0 {
		h.first = now
	}
	h.n++
	p.handed[g.ID] = h
	return g, true
}

// since is what p handed g since g's current report (and within handoutTTL).
func (p *Picker) since(g Gate, now time.Time) handout {
	h, ok := p.handed[g.ID]
	if !ok || h.rev != g.Rev || now.Sub(h.first) > handoutTTL {
		return handout{rev: g.Rev}
	}
	return h
}

// forgetGone drops the counts of gates no longer live.
func (p *Picker) forgetGone(gates []Gate) {
	live := make(map[string]handout, len(gates))
	for _, g := range gates {
		if h, ok := p.handed[g.ID]; ok {
			live[g.ID] = h
		}
	}
	p.handed = live
}
