package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
)

// Cmd identifies a command: ID becomes each event's Hive-Cmd and the base of
// its Nats-Msg-Id (so it must be the same when a command is retried), Corr
// the Hive-Corr (the request id, for tracing).
type Cmd struct {
	ID   string
	Corr string
}

// Emit is one event a decision appends to aggregate ID.
type Emit struct {
	ID    int64
	Event proto.Message
}

// Outcome is what Exec did.
type Outcome[S any] struct {
	// States are the aggregates after the command, in the order of the ids
	// given to Exec (after the events if any were appended).
	States []*Snapshot[S]
	// Events are the events this call appended, in order; empty when the
	// decision emitted none or the command was a duplicate.
	Events []*Event
	// Duplicate is true when the command had already been applied (its id
	// was among the first aggregate's recent commands): decide was not run
	// (or its latest run was dropped) and nothing was appended.
	Duplicate bool
	// Attempts is how many times decide ran.
	Attempts int
}

// ErrContention means a command kept conflicting with concurrent writers for
// Options.MaxAttempts attempts.
var ErrContention = errors.New("events: too many conflicting attempts")

// ErrCrossPartition means a command emitted events for players in
// different partitions of the store (bus.PlayerPartition): an atomic batch
// is one stream's, so such a command cannot be stored all or nothing. It is
// refused before anything is sent.
var ErrCrossPartition = errors.New("events: a command's events span partitions")

// errDuplicateAck marks a publish the server deduplicated by Msg-Id.
var errDuplicateAck = errors.New("events: duplicate publish")

// Exec runs one command over the aggregates ids (distinct; ids[0] is the one
// whose recent command ids detect a duplicate): load them, decide, append the
// emitted events with each aggregate's expected last subject sequence (one
// atomic batch when there are several), and on success apply them and write
// the snapshots. On a conflict it reloads and decides again; after an
// outcome it did not see it reloads first, so it finds its own events if
// they were stored. decide must be pure over the states it is given; it may
// run several times. Run is Exec for a decide that also returns a result.
func (r *Repo[S]) Exec(ctx context.Context, cmd Cmd, ids []int64, decide func(states []*Snapshot[S]) []Emit) (*Outcome[S], error) {
	_, out, err := Run(ctx, r, cmd, ids, func(states []*Snapshot[S]) ([]Emit, struct{}) {
		return decide(states), struct{}{}
	})
	return out, err
}

// Run is Exec whose decide returns the command's result (a result code, what
// a claim granted, ...) alongside its events. It returns the result of
// decide's last run, or R's zero value when decide did not run or its run
// was dropped (Outcome.Duplicate: the command had already been applied).
func Run[S, R any](ctx context.Context, r *Repo[S], cmd Cmd, ids []int64, decide func(states []*Snapshot[S]) ([]Emit, R)) (R, *Outcome[S], error) {
	var res, none R
	if len(ids) == 0 {
		return none, nil, fmt.Errorf("events: Exec with no aggregate")
	}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return none, nil, fmt.Errorf("events: Exec with aggregate %d twice", id)
		}
	}
	if cmd.ID == "" {
		return none, nil, fmt.Errorf("events: Exec needs a command id")
	}
	subjects := make([]string, len(ids))
	for i, id := range ids {
		subjects[i] = r.Subject(id)
	}
	done, err := r.s.turns.take(ctx, subjects)
	if err != nil {
		return none, nil, fmt.Errorf("events: %s: %w", cmd.ID, err)
	}
	defer done()
	out := &Outcome[S]{}
	var lastErr error
	// The first attempt takes cached snapshots on trust, without asking the
	// stream for each aggregate's last sequence: the append's expected
	// sequence checks them anyway, and a stale one costs a conflict and a
	// second attempt with the stream asked. What the append cannot check
	// (a command found already applied, a decision that emits nothing) is
	// confirmed against the stream before it is answered.
	trust := true
	for attempt := 0; attempt < r.s.opt.MaxAttempts; {
		states, trusted, err := r.loadAll(ctx, ids, trust)
		if err != nil {
			return none, nil, err
		}
		out.States = states
		if states[0].HasCmd(cmd.ID) {
			if trusted {
				trust = false
				continue
			}
			r.s.st.dups.Add(1)
			out.Duplicate = true
			return none, out, nil
		}
		out.Attempts++
		var emits []Emit
		emits, res = decide(states)
		if len(emits) == 0 {
			if trusted {
				if ok, err := r.current(ctx, states); err != nil {
					return none, nil, err
				} else if !ok {
					trust = false
					continue
				}
			}
			return res, out, nil
		}
		if trusted && len(ids) > 1 {
			// The append checks only the aggregates it writes to.
			if ok, err := r.current(ctx, unwritten(states, ids, emits)); err != nil {
				return none, nil, err
			} else if !ok {
				trust = false
				continue
			}
		}
		evs, err := r.append(ctx, cmd, ids, states, emits)
		switch {
		case err == nil:
			r.commit(ctx, states, ids, evs)
			out.Events = evs
			return res, out, nil
		case ctx.Err() != nil:
			return none, nil, fmt.Errorf("events: %s: %w", cmd.ID, ctx.Err())
		case isConflict(err):
			r.s.st.conflicts.Add(1)
			if trusted {
				r.s.st.stale.Add(1)
			}
		case errors.Is(err, errDuplicateAck) || isDuplicateBatch(err):
			// The server already holds this command's events (an earlier
			// attempt whose ack was lost, or a retried request): applied once.
			out, err := r.duplicate(ctx, ids, out)
			return none, out, err
		case isRejection(err) || errors.Is(err, ErrCrossPartition):
			return none, nil, fmt.Errorf("events: append %s: %w", cmd.ID, err)
		default:
			r.s.st.unseen.Add(1)
		}
		lastErr = err
		trust = false
		// A cached snapshot found behind is no contention: ask the stream at once.
		if attempt++; attempt < r.s.opt.MaxAttempts && !(trusted && isConflict(err)) {
			if err := backoff(ctx, attempt); err != nil {
				return none, nil, err
			}
		}
	}
	return none, nil, fmt.Errorf("%w: %s after %d attempts: %v", ErrContention, cmd.ID, r.s.opt.MaxAttempts, lastErr)
}

// loadAll loads the aggregates ids. With trust, a cached snapshot is taken
// as it is (Cached); trusted is true when any was.
func (r *Repo[S]) loadAll(ctx context.Context, ids []int64, trust bool) (states []*Snapshot[S], trusted bool, err error) {
	states = make([]*Snapshot[S], len(ids))
	for i, id := range ids {
		if trust {
			if states[i] = r.Cached(ctx, id); states[i] != nil {
				trusted = true
				continue
			}
		}
		if states[i], err = r.Load(ctx, id); err != nil {
			return nil, false, err
		}
	}
	return states, trusted, nil
}

// current reports whether every one of states is at its aggregate's last
// sequence in the stream (one direct get each).
func (r *Repo[S]) current(ctx context.Context, states []*Snapshot[S]) (bool, error) {
	for _, st := range states {
		last, err := r.s.LastSeq(ctx, r.Subject(st.ID))
		if err != nil {
			return false, err
		}
		if last != st.Version {
			r.s.st.stale.Add(1)
			return false, nil
		}
	}
	return true, nil
}

// unwritten returns the states of the aggregates that emits leaves alone.
func unwritten[S any](states []*Snapshot[S], ids []int64, emits []Emit) []*Snapshot[S] {
	var out []*Snapshot[S]
	for i, id := range ids {
		if !slices.ContainsFunc(emits, func(e Emit) bool { return e.ID == id }) {
			out = append(out, states[i])
		}
	}
	return out
}

// append publishes the emitted events: the first event on each subject
// carries the aggregate's version as its expected last subject sequence
// (the rest follow it inside the same atomic batch, which it may share with
// other commands: group.go).
func (r *Repo[S]) append(ctx context.Context, cmd Cmd, ids []int64, states []*Snapshot[S], emits []Emit) ([]*Event, error) {
	msgs := make([]*nats.Msg, len(emits))
	stored := make([]string, len(emits)) // the subjects the events are stored on
	pos := make(map[int64]int, len(ids))
	var subjects []string
	var expect []uint64
	part := r.s.partition(r.Subject(emits[0].ID))
	for i, em := range emits {
		k := slices.Index(ids, em.ID)
		if k < 0 {
			return nil, fmt.Errorf("events: %s emitted an event for %d, not among %v", cmd.ID, em.ID, ids)
		}
		subj := r.Subject(em.ID)
		if p := r.s.partition(subj); p != part {
			return nil, fmt.Errorf("%w: %s (partition %d) and %s (partition %d)", ErrCrossPartition, r.Subject(emits[0].ID), part, subj, p)
		}
		m, err := encodeMsg(subj, em.Event, cmd, pos[em.ID])
		if err != nil {
			return nil, err
		}
		m.Subject = bus.IngestSubject(subj, len(r.s.streams))
		stored[i] = subj
		if pos[em.ID] == 0 {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(states[k].Version, 10))
			subjects = append(subjects, subj)
			expect = append(expect, states[k].Version)
		}
		pos[em.ID]++
		msgs[i] = m
	}
	var last uint64
	if len(msgs) == 1 {
		ack, err := r.s.js.PublishMsg(ctx, msgs[0])
		if err != nil {
			return nil, err
		}
		if ack.Duplicate {
			return nil, errDuplicateAck
		}
		last = ack.Sequence
	} else {
		var err error
		last, err = r.s.groups[part].publish(ctx, &batchCmd{msgs: msgs, subjects: subjects, expect: expect})
		if err != nil {
			return nil, err
		}
	}
	r.s.st.appends.Add(1)
	r.s.st.events.Add(uint64(len(msgs)))
	// A committed batch occupies consecutive sequences ending at the ack's.
	now := time.Now().UTC()
	evs := make([]*Event, len(emits))
	first := last - uint64(len(emits)) + 1
	for i, em := range emits {
		evs[i] = &Event{
			Seq: first + uint64(i), Subject: stored[i], Time: now,
			Type: msgs[i].Header.Get(bus.HdrEvent), Cmd: cmd.ID, Corr: cmd.Corr, Msg: em.Event,
		}
	}
	return evs, nil
}

// commit folds the appended events into the loaded states and writes the
// snapshots of the aggregates that changed.
func (r *Repo[S]) commit(ctx context.Context, states []*Snapshot[S], ids []int64, evs []*Event) {
	changed := make([]bool, len(ids))
	for _, e := range evs {
		_, id, _ := bus.ParseEventSubject(e.Subject)
		k := slices.Index(ids, id)
		if !changed[k] && r.values != nil {
			states[k] = r.clone(states[k]) // the loaded one may be the cache's own
		}
		if err := r.apply(states[k], e); err != nil {
			// The decision emitted an event its own apply refuses: a bug.
			// The stream is the truth; drop the cached state so the next
			// load folds from the stream and reports the error there.
			r.s.opt.Logger.Error("events: apply after append", "err", err)
			if r.s.cache != nil {
				_ = r.s.cache.Delete(ctx, r.s.cacheKey(e.Subject))
			}
			return
		}
		changed[k] = true
	}
	if h := r.s.opt.AfterAppend; h != nil {
		subjects := make([]string, 0, len(ids))
		for k, id := range ids {
			if changed[k] {
				subjects = append(subjects, r.Subject(id))
			}
		}
		if !h(subjects) {
			return
		}
	}
	for k := range ids {
		if changed[k] {
			r.afterCommit(ctx, states[k])
		}
	}
}

// duplicate reports a command found already stored, with fresh states.
func (r *Repo[S]) duplicate(ctx context.Context, ids []int64, out *Outcome[S]) (*Outcome[S], error) {
	r.s.st.dups.Add(1)
	for i, id := range ids {
		st, err := r.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		out.States[i] = st
	}
	out.Duplicate = true
	return out, nil
}

// isConflict reports an expected-sequence failure, or a Msg-Id whose first
// publish is still in process: either way, reload and decide again.
func isConflict(err error) bool {
	if bus.IsConflict(err) || errors.Is(err, errStale) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == codeMsgIDInProcess
}

// isDuplicateBatch reports an atomic batch refused because a message's Msg-Id
// is already stored. Ours are unique within a batch, so the earlier batch of
// the same command was committed (all or nothing).
func isDuplicateBatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == codeBatchDuplicateMsgID
}

// isRejection reports an error the server answered with: retrying the same
// append cannot help (stream full, bad header, ...).
func isRejection(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	// Too many in-flight batches is load, not a verdict: retry.
	return apiErr.ErrorCode != codeBatchTooManyInflight && apiErr.ErrorCode != codeBatchIncomplete
}

// backoff sleeps a jittered, growing pause before another attempt.
func backoff(ctx context.Context, attempt int) error {
	max := time.Duration(200*(1<<min(attempt, 7))) * time.Microsecond // up to 25.6ms
	t := time.NewTimer(time.Duration(rand.Int64N(int64(max))) + 50*time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
