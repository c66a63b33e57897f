package gate

import (
	"net"
	"net/netip"
	"sync"
)

// ipLimits are the per-client-address limits of a gate: open connections
// (--gate-max-conns-per-ip) and login attempts (--gate-ip-login-rate, a
// token bucket shared by all the address's connections). One IPv6
// subscriber usually holds a whole /64, so IPv6 addresses count per
// --gate-ipv6-prefix.
type ipLimits struct {
	maxConns int
	rate     float64 // login attempts per second; 0 = no limit
	burst    float64
	v6bits   int
	mono     func() int64 // the gate's monotonic clock, ns

	mu sync.Mutex
	m  map[netip.Prefix]*ipEntry
}

// ipEntry is one address's state. It lives while the address has
// connections, and after that until its login bucket is full again, so
// reconnecting does not buy a fresh budget.
type ipEntry struct {
	conns  int
	tokens float64
	at     int64 // mono of the last refill
}

func newIPLimits(cfg Config, mono func() int64) *ipLimits {
	return &ipLimits{maxConns: cfg.MaxConnsPerIP, rate: cfg.LoginRatePerIP, burst: float64(cfg.LoginBurstPerIP),
		v6bits: cfg.IPv6PrefixLen, mono: mono, m: map[netip.Prefix]*ipEntry{}}
}

// key is the client address a connection counts against: its IPv4
// address, or its IPv6 address cut to the prefix. ok is false for a peer
// that is not IP (never limited).
func (l *ipLimits) key(a net.Addr) (netip.Prefix, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = l.v6bits
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// entry returns k's entry, made with a full bucket if new. Called with mu held.
func (l *ipLimits) entry(k netip.Prefix, now int64) *ipEntry {
	e := l.m[k]
	if e == nil {
		e = &ipEntry{tokens: l.burst, at: now}
		l.m[k] = e
	}
	return e
}

// open counts a new connection of k; false when k is at its cap.
func (l *ipLimits) open(k netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(k, l.mono())
	if l.maxConns > 0 && e.conns >= l.maxConns {
		return false
	}
	e.conns++
	return true
}

// close uncounts a connection of k.
func (l *ipLimits) close(k netip.Prefix) {
	l.mu.Lock()
	if e := l.m[k]; e != nil && e.conns > 0 {
		e.conns--
	}
	l.mu.Unlock()
}

// login takes a login attempt from k's bucket; false when it is empty.
func (l *ipLimits) login(k netip.Prefix) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.mono()
	e := l.entry(k, now)
	e.tokens = min(l.burst, e.tokens+float64(now-e.at)*l.rate/1e9)
	e.at = now
	if e.tokens < 1 {
		return false
	}
	e.tokens--
	return true
}

// sweep forgets addresses with no connection whose bucket has refilled:
// they are in the state a new address starts in.
func (l *ipLimits) sweep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.mono()
	for k, e := range l.m {
		if e.conns == 0 && (l.rate <= 0 || e.tokens+float64(now-e.at)*l.rate/1e9 >= l.burst) {
			delete(l.m, k)
		}
	}
}

// size is the number of addresses tracked.
func (l *ipLimits) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
