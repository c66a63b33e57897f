package game

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

// Online is where a player's live session is, as the presence projection
// keeps it in the presence bucket (key = player id).
type Online struct {
	Gate    string `json:"gate"`
	Session string `json:"session"`
	At      int64  `json:"at"` // login time, unix seconds
}

// presence is the leader's view of who is online where: the presence
// bucket, kept by the projection of LoggedIn/LoggedOut, mirrored in memory
// for the sweep. The leaderboards' reader hands it the events
// (Worker.runRanks); its position is the bucket's entry presencePositionKey.
type presence struct {
	w  *Worker
	kv jetstream.KeyValue

	mu     sync.Mutex
	byUser map[int64]Online
	loaded bool
	// legacy: the position came from PresenceConsumer, deleted once the
	// position is written.
	legacy bool
}

// presencePositionKey is the presence bucket's entry of the projection's
// position: the last stream sequence it has read in each partition,
// "s0,s1,..." (not a player id: open passes over it).
const presencePositionKey = "position"

// presenceSaveEvery bounds how often the position is written: a new leader
// applies again what was read since (apply is idempotent).
const presenceSaveEvery = time.Second

// position returns where the projection is in each partition's stream: the
// bucket's entry; else, once, the acknowledged floor of PresenceConsumer
// where an earlier version left one; else the start.
func (p *presence) position(ctx context.Context, streams []string) ([]uint64, error) {
	if err := p.open(ctx); err != nil {
		return nil, err
	}
	e, err := p.kv.Get(ctx, presencePositionKey)
	switch {
	case err == nil:
		seqs, perr := parseSeqs(string(e.Value()))
		if perr == nil && len(seqs) == len(streams) {
			return seqs, nil
		}
		p.w.log.Warn("game: presence: position unreadable or of another number of partitions; folding from the start",
			"position", string(e.Value()), "partitions", len(streams))
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, err
	}
	seqs := make([]uint64, len(streams))
	for i, stream := range streams {
		c, err := p.w.deps.JS.Consumer(ctx, stream, PresenceConsumer)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil, err
		}
		seqs[i], p.legacy = info.AckFloor.Stream, true
	}
	return seqs, nil
}

// savePosition writes the projection's position; the first time after
// starting from PresenceConsumer's floor, it deletes that consumer.
func (p *presence) savePosition(ctx context.Context, seqs []uint64) error {
	if _, err := p.kv.Put(ctx, presencePositionKey, []byte(formatSeqs(seqs))); err != nil {
		return err
	}
	if p.legacy {
		for _, stream := range p.w.store.Streams() {
			if err := p.w.deps.JS.DeleteConsumer(ctx, stream, PresenceConsumer); err == nil {
				p.w.log.Info("game: deleted the durable consumer earlier versions kept presence with", "consumer", PresenceConsumer, "stream", stream)
			}
		}
		p.legacy = false
	}
	return nil
}

// sweepsDone counts finished sweeps (tests wait on it).
var sweepsDone atomic.Int64

func newPresence(w *Worker) *presence { return &presence{w: w, byUser: map[int64]Online{}} }

// open binds the bucket and loads the index once per leadership.
func (p *presence) open(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded {
		return nil
	}
	kv, err := p.w.deps.JS.KeyValue(ctx, bus.PresenceBucket)
	if err != nil {
		return err
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	for k := range keys.Keys() {
		uid, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			continue
		}
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var o Online
		if json.Unmarshal(e.Value(), &o) == nil {
			p.byUser[uid] = o
		}
	}
	p.kv, p.loaded = kv, true
	return nil
}

// presenceEvents are the events presence.apply folds (by Event.Type).
var presenceEvents = eventTypes{events.TypeName(&evt.LoggedIn{}): true, events.TypeName(&evt.LoggedOut{}): true}

// apply is the presence projection: LoggedIn records the session,
// LoggedOut removes it. Both are idempotent.
func (p *presence) apply(ctx context.Context, e *events.Event) error {
	var on *Online
	switch m := e.Msg.(type) {
	case *evt.LoggedIn:
		on = &Online{Gate: m.GetGate(), Session: m.GetSession(), At: m.GetAt()}
	case *evt.LoggedOut:
	default:
		return nil
	}
	if err := p.open(ctx); err != nil {
		return err
	}
	_, uid, err := bus.ParseEventSubject(e.Subject)
	if err != nil {
		return nil
	}
	key := strconv.FormatInt(uid, 10)
	if on != nil {
		b, _ := json.Marshal(on)
		if _, err := p.kv.Put(ctx, key, b); err != nil {
			return err
		}
	} else if err := p.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	p.mu.Lock()
	if on != nil {
		p.byUser[uid] = *on
	} else {
		delete(p.byUser, uid)
	}
	p.mu.Unlock()
	return nil
}

// sweep logs out the players of lost gates every PresenceInterval. A gate
// is lost when it was live in the registry and has been missing at two
// sweeps in a row, when it never showed up for GateGrace while players are
// on it, or when it restarted (started after the login).
func (p *presence) sweep(ctx context.Context) {
	leaderSince := time.Now()
	seen := map[string]bool{}
	missing := map[string]int{}
	t := time.NewTicker(p.w.cfg.PresenceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := p.open(ctx); err != nil {
			p.w.log.Warn("game: presence", "err", err)
			continue
		}
		live := map[string]time.Time{}
		for _, g := range p.w.deps.Registry.Gates() {
			live[g.ID] = g.Started
			seen[g.ID] = true
			delete(missing, g.ID)
		}
		p.mu.Lock()
		online := make(map[int64]Online, len(p.byUser))
		for uid, o := range p.byUser {
			online[uid] = o
		}
		p.mu.Unlock()
		counted := map[string]bool{}
		for uid, o := range online {
			started, isLive := live[o.Gate]
			lost := false
			switch {
			case isLive:
				lost = !started.IsZero() && started.Unix() > o.At
			case seen[o.Gate]:
				if !counted[o.Gate] {
					missing[o.Gate]++
					counted[o.Gate] = true
				}
				lost = missing[o.Gate] >= 2
			default:
				lost = time.Since(leaderSince) > p.w.cfg.GateGrace
			}
			if lost {
				p.logoutLost(ctx, uid, o)
			}
		}
		sweepsDone.Add(1)
	}
}

// logoutLost appends LoggedOut for a player whose session was on a lost gate.
func (p *presence) logoutLost(ctx context.Context, uid int64, o Online) {
	cmd := events.Cmd{ID: "gatelost/" + o.Gate + "/" + o.Session + "/" + strconv.FormatInt(uid, 10)}
	now := time.Now().Unix()
	cctx, cancel := context.WithTimeout(ctx, p.w.cfg.RequestTimeout)
	defer cancel()
	_, out, err := command(cctx, p.w, cmd, ids(uid), func(s []*Snap) ([]events.Emit, def.ResCode) {
		st := s[0].State
		if st.GetSession() != o.Session {
			return nil, def.ResCode_RC_OK // logged in again since: that session is not the lost one
		}
		return decideGateLost(st, uid, o.Gate, now), def.ResCode_RC_OK
	})
	if err != nil {
		p.w.log.Warn("game: logout of lost gate's player", "user", uid, "gate", o.Gate, "err", err)
		return
	}
	if len(out.Events) > 0 {
		p.w.log.Info("game: logged out a lost gate's player", "user", uid, "gate", o.Gate)
	}
}
