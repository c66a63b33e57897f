package game

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/evt"
)

// RankStateKey is the cache key holding the leaderboards' position in the
// stream. It lives in the cache beside the boards, so whatever happens to
// the boards (a new in-process cache after a restart, a flushed redis, a
// redis restored from an older dump) happens to the position too:
//
//	"ready <seq>"                the boards hold every player event up to stream sequence seq
//	"rebuilding <seq> <pending>" a rebuild from the first event has folded up to seq;
//	                             pending events were left to read when it began
//
// In a store of several partitions <seq> is one sequence per partition
// stream, "s0,s1,..." (ranks_partitions.go); a position of another number
// of partitions is rebuilt.
//
// A missing key means there are no boards: the leader rebuilds them from the
// first event, and rank queries answer RC_RANK_NOT_READY meanwhile.
const RankStateKey = "rank:state"

// legacyRanksConsumer is the durable consumer earlier versions folded the
// boards with; its position lived in JetStream, apart from the boards, which
// is how a restart with a new cache lost them. It is deleted when seen.
const legacyRanksConsumer = "game-ranks"

const (
	// rankFlushEvents bounds the events folded in memory before their board
	// changes and position are written (one ZAddMany per item kind).
	rankFlushEvents = 8192
	// rankCheckEvery is how often an idle leader compares the position in
	// the cache with the one it wrote last (a flush or restore while no
	// events arrive), and how often a rebuild logs its progress.
	rankCheckEvery = 2 * time.Second
	rankLogEvery   = 5 * time.Second
)

// errRanksMoved means the position in the cache is not the one the leader
// wrote last: the cache was flushed, restored or written by another leader.
// The projection starts over from what the cache now says.
var errRanksMoved = errors.New("game: leaderboard position changed in the cache")

// ranksReady reports whether the boards in the cache are complete up to
// some position (stale by a moment at most). False while they are missing
// or being rebuilt from the first event.
func ranksReady(ctx context.Context, c cache.Cache) (bool, error) {
	b, err := c.Get(ctx, RankStateKey)
	if errors.Is(err, cache.ErrMiss) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	p, err := parseRankPos(b)
	return err == nil && p.ready, nil
}

// totals returns the amounts held after an event, for the events that change items.
func totals(e *events.Event) []*evt.ItemDelta {
	switch m := e.Msg.(type) {
	case *evt.PlayerCreated:
		return m.GetTotals()
	case *evt.ItemsGranted:
		return m.GetTotals()
	case *evt.ItemsUsed:
		return m.GetTotals()
	case *evt.GiftSent:
		return m.GetTotals()
	case *evt.GiftReceived:
		return m.GetTotals()
	case *evt.GiftReturned:
		return m.GetTotals()
	case *evt.MailClaimed:
		return m.GetTotals()
	}
	return nil
}

// runRanks keeps the leaderboards, and presence, while this worker leads:
// each pass reads the boards' position from the cache (rebuilding from the
// first event when there is none) and presence's from its bucket, and
// folds the player events after the earlier of the two, each projection
// the events after its own position. One reader serves both, so every
// event reaches the leader once. A pass ends when the position in the
// cache moves under it (flush, restore) or on an error; the next one
// starts from what the cache and the bucket then say.
func (w *Worker) runRanks(ctx context.Context, pres *presence) {
	if err := w.deps.JS.DeleteConsumer(ctx, bus.EventsStream, legacyRanksConsumer); err == nil {
		w.log.Info("game: deleted the durable consumer earlier versions kept the leaderboards with", "consumer", legacyRanksConsumer)
	}
	for ctx.Err() == nil {
		err := w.rankPass(ctx, pres)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRanksMoved) {
			w.log.Warn("game: leaderboards: the position in the cache changed (flushed or restored?); reading it again")
			continue
		}
		w.log.Warn("game: leaderboards: projection restarting", "err", err)
		if sleep(ctx, 500*time.Millisecond) != nil {
			return
		}
	}
}

// rankPass is one run of the projections from their positions.
func (w *Worker) rankPass(ctx context.Context, pres *presence) error {
	c := w.deps.Cache
	var pos rankPos
	b, err := c.Get(ctx, RankStateKey)
	switch {
	case errors.Is(err, cache.ErrMiss):
		b, pos, err = w.startRankRebuild(ctx, "no leaderboards in the cache")
	case err != nil:
		return err
	default:
		if pos, err = parseRankPos(b); err != nil {
			b, pos, err = w.startRankRebuild(ctx, err.Error())
		} else if len(pos.seqs) != len(w.store.Streams()) {
			b, pos, err = w.startRankRebuild(ctx, fmt.Sprintf("a position in %d partitions, the store has %d", len(pos.seqs), len(w.store.Streams())))
		}
	}
	if err != nil {
		return err
	}
	presAt, err := pres.position(ctx, w.store.Streams())
	if err != nil {
		return err
	}
	return w.foldRanks(ctx, b, pos, pres, presAt)
}

// startRankRebuild marks the boards as being rebuilt, then clears them.
func (w *Worker) startRankRebuild(ctx context.Context, why string) ([]byte, rankPos, error) {
	pos := rankPos{seqs: make([]uint64, len(w.store.Streams()))}
	b := pos.encode()
	if err := w.deps.Cache.Set(ctx, RankStateKey, b, 0); err != nil {
		return nil, pos, err
	}
	keys := make([]string, 0, len(w.data.Items))
	for _, idx := range w.data.ItemIdxs() {
		keys = append(keys, RankKey(idx))
	}
	if err := w.deps.Cache.Delete(ctx, keys...); err != nil {
		return nil, pos, err
	}
	w.log.Info("game: leaderboards: rebuilding from the first event", "why", why)
	return b, pos, nil
}

// rankFold accumulates the board changes of the events read since the last
// write: the last total of each player per item kind (earlier ones would be
// overwritten anyway, so a rebuild writes each player once per flush).
type rankFold struct {
	boards map[int32]map[string]float64
	events int      // events read since the last write
	seqs   []uint64 // by partition: stream sequence of the last event read
}

func (f *rankFold) add(part int, e *events.Event) {
	f.events++
	f.seqs[part] = e.Seq
	t := totals(e)
	if len(t) == 0 {
		return
	}
	_, id, err := bus.ParseEventSubject(e.Subject)
	if err != nil {
		return
	}
	member := strconv.FormatInt(id, 10)
	for _, d := range t {
		b := f.boards[d.GetIdx()]
		if b == nil {
			b = map[string]float64{}
			f.boards[d.GetIdx()] = b
		}
		b[member] = float64(d.GetNum())
	}
}

// foldRanks reads the player events after pos (or after presAt, presence's
// position, when that is earlier) with an ordered consumer and folds them
// into the boards, writing the position after each batch with a
// compare-and-set on cur (the position as this leader last wrote it); it
// hands pres the logins and logouts after presAt, writing presence's
// position at most every presenceSaveEvery.
func (w *Worker) foldRanks(ctx context.Context, cur []byte, pos rankPos, pres *presence, presAt []uint64) error {
	done := make(chan struct{})
	defer close(done)
	from := make([]uint64, len(pos.seqs))
	for p := range from {
		from[p] = min(pos.seqs[p], presAt[p])
	}
	reads, left, stop, err := w.readRanks(ctx, from, done)
	if err != nil {
		return err
	}
	defer stop()
	// Events left in each partition, as its last read (or start) said.
	leftAll := func() uint64 {
		var n uint64
		for _, l := range left {
			n += l
		}
		return n
	}
	pending := leftAll()
	if !pos.ready {
		pos.pending = pending
	}
	if pos.ready && pending > rankFlushEvents {
		w.log.Info("game: leaderboards: behind the streams; catching up", "from", string(pos.encode()), "events", pending)
	}
	c := w.deps.Cache
	// Empty streams (or nothing left of a rebuild) need no event to be ready.
	if !pos.ready && pending == 0 {
		pos.ready = true
		next := pos.encode()
		if ok, err := c.Swap(ctx, RankStateKey, cur, next); err != nil || !ok {
			return orMoved(err)
		}
		cur = next
		w.log.Info("game: leaderboards: rebuilt", "events", 0, "at", string(next))
	}
	fold := &rankFold{boards: map[int32]map[string]float64{}, seqs: slices.Clone(pos.seqs)}
	start, read0 := time.Now(), 0
	lastLog, lastFlush := start, start
	flush := func() error {
		for idx, b := range fold.boards {
			zs := make([]cache.Scored, 0, len(b))
			for m, s := range b {
				zs = append(zs, cache.Scored{Member: m, Score: s})
			}
			if err := c.ZAddMany(ctx, RankKey(idx), zs); err != nil {
				return err
			}
		}
		wasReady := pos.ready
		pos.seqs = slices.Clone(fold.seqs)
		if !pos.ready && pending == 0 {
			pos.ready = true
		}
		next := pos.encode()
		ok, err := c.Swap(ctx, RankStateKey, cur, next)
		if err != nil || !ok {
			return orMoved(err)
		}
		cur = next
		if pos.ready && !wasReady {
			took := time.Since(start)
			w.log.Info("game: leaderboards: rebuilt", "events", read0, "at", string(next),
				"took", took.Round(time.Millisecond).String(), "events_per_s", rate(read0, took))
		}
		clear(fold.boards)
		fold.events = 0
		return nil
	}
	presSaved, presSavedAt := slices.Clone(presAt), time.Now()
	savePresence := func() error {
		if slices.Equal(presAt, presSaved) {
			return nil
		}
		if err := pres.savePosition(ctx, presAt); err != nil {
			return err
		}
		presSaved, presSavedAt = slices.Clone(presAt), time.Now()
		return nil
	}
	check := time.NewTicker(rankCheckEvery)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-check.C:
			if err := savePresence(); err != nil {
				return err
			}
			if fold.events > 0 {
				continue
			}
			b, err := c.Get(ctx, RankStateKey)
			if errors.Is(err, cache.ErrMiss) || (err == nil && !bytes.Equal(b, cur)) {
				return errRanksMoved
			}
		case r := <-reads:
			if r.err != nil {
				return r.err
			}
			read0++
			left[r.part] = r.pending
			pending = leftAll()
			if r.seq > presAt[r.part] {
				if r.ev != nil && presenceEvents[r.ev.Type] {
					if err := pres.apply(ctx, r.ev); err != nil {
						return err
					}
				}
				presAt[r.part] = r.seq
				if time.Since(presSavedAt) >= presenceSaveEvery {
					if err := savePresence(); err != nil {
						return err
					}
				}
			}
			if r.seq <= fold.seqs[r.part] {
				continue // the boards have it: presence was behind them
			}
			if r.ev != nil {
				fold.add(r.part, r.ev)
			} else {
				fold.events++
				fold.seqs[r.part] = r.seq
			}
			if !pos.ready && time.Since(lastLog) >= rankLogEvery {
				lastLog = time.Now()
				w.log.Info("game: leaderboards: rebuilding", "events_read", read0, "of", pos.pending,
					"events_per_s", rate(read0, time.Since(start)))
			}
			// Live, write when nothing more is waiting (a board lags by one
			// write). Rebuilding, write full batches (a write per event the
			// consumer trickles would cost a round trip to redis each), and
			// at least every rankCheckEvery so the progress is kept.
			full := fold.events >= rankFlushEvents
			if pos.ready && len(reads) == 0 || full || !pos.ready && (pending == 0 || time.Since(lastFlush) >= rankCheckEvery) {
				lastFlush = time.Now()
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
}

// orMoved is err, or errRanksMoved when a Swap failed without one.
func orMoved(err error) error {
	if err != nil {
		return err
	}
	return errRanksMoved
}

func rate(n int, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// RebuildRanks has the leaderboards rebuilt from the stream: it removes
// their position from the cache; the leader notices (at once on the next
// event, within a few seconds when idle) and folds every player event again.
// Rank queries answer RC_RANK_NOT_READY until it is done.
func RebuildRanks(ctx context.Context, c cache.Cache) error {
	return c.Delete(ctx, RankStateKey)
}

// RebuildRanks rebuilds the leaderboards of this worker's cache.
func (w *Worker) RebuildRanks(ctx context.Context) error {
	return RebuildRanks(ctx, w.deps.Cache)
}
