package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// ScenarioMixed is a game-like session per connection at a set rate: see
// Options.Mix.
const ScenarioMixed = "mixed"

// DefaultMix is the mixed scenario's mix unless Options.Mix says otherwise:
// mostly reads, a gift now and then, a logout and login back in every
// ~50 requests.
const DefaultMix = "getuser=30,getitems=40,mail=25,gift=3,relogin=2"

// Actions of the mixed scenario, in Mix order.
const (
	actGetUser  = iota // GetUser{id 0}: the player's own profile and items
	actGetItems        // GetItems{idx 0}: all items
	actMail            // GetMails{id 0}, then ClaimMail of an unclaimed mail with attachments, if any
	actGift            // GiftItems of 1 gold to a random other bench player
	actRelogin         // Logout, then Login again on the same connection
	numActions
)

var actionNames = [numActions]string{"getuser", "getitems", "mail", "gift", "relogin"}

// Mix is the relative weight of each action of a mixed-scenario player.
type Mix [numActions]int

// ParseMix reads "name=weight,..." (names getuser, getitems, mail, gift,
// relogin; weights whole numbers >= 0, not all 0; a name left out weighs 0).
func ParseMix(s string) (Mix, error) {
	var m Mix
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 {
			return m, fmt.Errorf("bench: mix %q: want name=weight (a whole number >= 0), got %q", s, part)
		}
		i := indexOf(actionNames[:], name)
		if i < 0 {
			return m, fmt.Errorf("bench: mix %q: unknown action %q (%s)", s, name, strings.Join(actionNames[:], ", "))
		}
		m[i] = n
		total += n
	}
	if total == 0 {
		return m, fmt.Errorf("bench: mix %q: every weight is 0", s)
	}
	return m, nil
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// pick returns an action drawn with the mix's weights.
func (m *Mix) pick(rng *rand.Rand) int {
	total := 0
	for _, w := range m {
		total += w
	}
	n := rng.IntN(total)
	for i, w := range m {
		if n < w {
			return i
		}
		n -= w
	}
	return numActions - 1
}

// Api names in Result.APIs.
const (
	apiLogin     = "Login" // includes the TCP dial for a new connection
	apiLogout    = "Logout"
	apiGetUser   = "GetUser"
	apiGetItems  = "GetItems"
	apiGetMails  = "GetMails"
	apiClaimMail = "ClaimMail"
	apiGift      = "GiftItems"
)

var mixedAPIs = []string{apiLogin, apiLogout, apiGetUser, apiGetItems, apiGetMails, apiClaimMail, apiGift}

// mixedShared are the requests every mixed player sends unchanged.
type mixedShared struct {
	getUser, getItems *benchReq
}

// mixedPlayer is one connection of the mixed scenario, run by one goroutine.
type mixedPlayer struct {
	p        *benchPlayer
	idx      int            // p's index in all
	all      []*benchPlayer // gift recipients are drawn from these
	opt      Options
	mix      Mix
	rng      *rand.Rand
	st       *mixedStats
	shared   *mixedShared
	logout   *benchReq
	mail     *benchReq // its answer sets claim
	claim    int64     // an unclaimed mail seen in the last GetMails; 0 none
	loggedIn bool
	// After a failed connect the next waits until retryAt, backoff later
	// than the last (doubling up to maxBackoff), as a game client backs
	// off: retrying every tick, thousands of players refused at once
	// come back at once and keep the server from recovering.
	retryAt time.Time
	backoff time.Duration
}

// Bounds of a mixed player's backoff between failed connects.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

func newMixedPlayer(i int, opt Options, mix Mix, all []*benchPlayer, st *mixedStats, shared *mixedShared) (*mixedPlayer, error) {
	m := &mixedPlayer{p: all[i], idx: i, all: all, opt: opt, mix: mix, st: st, shared: shared,
		rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
	var err error
	if m.logout, err = newBenchReq(&msg.Logout_Req{Account: proto.Int64(m.p.id)}); err != nil {
		return nil, err
	}
	if m.mail, err = newBenchReq(&msg.GetMails_Req{Id: proto.Int64(0)}); err != nil {
		return nil, err
	}
	m.mail.seen = m.sawMails
	return m, nil
}

// sawMails notes the first mail that has attachments and is not claimed.
func (m *mixedPlayer) sawMails(payload []byte) {
	var res msg.GetMails_Res
	if (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(payload, &res) != nil {
		return
	}
	for _, ml := range res.GetMails() {
		if st := def.MailStatus(ml.GetStatus()); st != def.MailStatus_MAIL_EXTRACED && st != def.MailStatus_MAIL_DELETED && len(ml.GetItems()) > 0 {
			m.claim = ml.GetId()
			return
		}
	}
}

// run logs the player in at start, then does one action every interval
// (its first at a random point of the first interval, so that players
// logged in together do not act together) until ctx ends. A connection
// that ends is dialled again at the next tick after the backoff.
func (m *mixedPlayer) run(ctx context.Context, start time.Time, interval time.Duration) {
	defer m.setLoggedIn(false)
	if !sleepUntil(ctx, start) {
		return
	}
	m.connect(ctx)
	next := time.Now().Add(time.Duration(m.rng.Int64N(int64(interval))))
	for sleepUntil(ctx, next) {
		if next = next.Add(interval); next.Before(time.Now()) {
			next = time.Now() // behind: no burst to catch up
		}
		if m.p.bc.conn == nil {
			if !time.Now().Before(m.retryAt) {
				m.connect(ctx)
			}
			continue
		}
		m.act(ctx, m.mix.pick(m.rng))
	}
}

// act does action a (one of act*): one or two requests.
func (m *mixedPlayer) act(ctx context.Context, a int) {
	switch a {
	case actGetUser:
		m.do(ctx, apiGetUser, m.shared.getUser)
	case actGetItems:
		m.do(ctx, apiGetItems, m.shared.getItems)
	case actMail:
		m.claim = 0
		if m.do(ctx, apiGetMails, m.mail) == nil && m.claim != 0 {
			if q, err := newBenchReq(&msg.ClaimMail_Req{Id: proto.Int64(m.claim)}); err == nil {
				m.do(ctx, apiClaimMail, q)
			}
		}
	case actGift:
		to := m.recipient()
		if to == nil { // nobody else has played yet (early in the ramp)
			m.act(ctx, actGetItems)
			return
		}
		q, err := newBenchReq(&msg.GiftItems_Req{DstId: proto.Int64(to.id), ItemIdx: proto.Int32(int32(def.ItemType_ITEM_GOLD)), ItemNum: proto.Int32(1)})
		if err == nil {
			m.do(ctx, apiGift, q)
		}
	case actRelogin:
		if m.do(ctx, apiLogout, m.logout) != nil || m.p.bc.conn == nil {
			return
		}
		m.setLoggedIn(false)
		t0 := time.Now()
		err := m.p.bc.login(ctx, m.p.token, m.opt.Timeout)
		if err != nil && ctx.Err() != nil {
			return
		}
		m.st.record(apiLogin, t0, err, m.opt.Timeout)
		if err != nil {
			m.p.bc.close() // logged out: dialled and logged in at the next tick
			return
		}
		m.setLoggedIn(true)
	}
}

// recipient draws another bench player who has logged in at least once
// (the game knows a player from its first login on; a gift to one it does
// not know is refused), or nil after a few misses.
func (m *mixedPlayer) recipient() *benchPlayer {
	if len(m.all) < 2 {
		return nil
	}
	for range 8 {
		j := m.rng.IntN(len(m.all) - 1)
		if j >= m.idx {
			j++ // anyone but oneself
		}
		if m.all[j].played.Load() {
			return m.all[j]
		}
	}
	return nil
}

// connect dials and logs in, recording the time as a Login.
func (m *mixedPlayer) connect(ctx context.Context) {
	t0 := time.Now()
	err := m.p.bc.connect(ctx, m.p, m.opt.Timeout)
	if err != nil && ctx.Err() != nil {
		return // cut off by the end of the run
	}
	m.st.record(apiLogin, t0, err, m.opt.Timeout)
	m.setLoggedIn(err == nil)
	if err == nil {
		m.p.played.Store(true)
		m.backoff = 0
		return
	}
	// The next attempt in [backoff/2, backoff): jittered, so players
	// refused together do not return together.
	m.backoff = min(max(2*m.backoff, minBackoff), maxBackoff)
	m.retryAt = time.Now().Add(m.backoff/2 + time.Duration(m.rng.Int64N(int64(m.backoff/2))))
}

// do sends one request and records it under api. Pushes that came while
// the player was idle are read first, so that a GetItems.Res pushed after
// a gift is not taken for the answer to the next GetItems.
func (m *mixedPlayer) do(ctx context.Context, api string, q *benchReq) error {
	c := &m.p.bc
	if err := c.skipPushes(ctx, m.opt.Timeout); err != nil {
		c.close()
		m.setLoggedIn(false)
		return err
	}
	t0 := time.Now()
	err := c.do(ctx, m.p, q, t0, m.opt.Timeout)
	if err != nil && ctx.Err() != nil {
		return err // cut off by the end of the run: not a failure
	}
	m.st.record(api, t0, err, m.opt.Timeout)
	if c.conn == nil {
		m.setLoggedIn(false)
	}
	return err
}

// setLoggedIn keeps the CCU count.
func (m *mixedPlayer) setLoggedIn(in bool) {
	if in != m.loggedIn {
		m.loggedIn = in
		if in {
			m.st.ccu.Add(1)
		} else {
			m.st.ccu.Add(-1)
		}
	}
}

// skipPushes reads and drops the frames already waiting on the connection
// while no request is in flight (pushes). A kick ends the connection.
func (c *benchConn) skipPushes(ctx context.Context, timeout time.Duration) error {
	if c.conn == nil || c.owed > 0 {
		return nil // answers owed are do's to drop
	}
	for c.r.Buffered() > 0 || inQueue(c.conn) > 0 {
		if err := c.arm(ctx, time.Now(), timeout); err != nil {
			return err
		}
		api, _, err := c.r.Next()
		if err != nil {
			return err
		}
		if string(api) == envelope.KickRes {
			return errServerClosed
		}
	}
	return nil
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
