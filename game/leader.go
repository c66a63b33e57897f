package game

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
)

// LeaderJob is the election every worker campaigns in; the winner runs the
// projections (leaderboards, presence) and the gate-loss sweep. They run
// on one worker only because each folds events in stream order.
const LeaderJob = "game-leader"

// PresenceConsumer is the durable consumer earlier versions folded the
// presence projection with, on each event stream. Presence now rides the
// leaderboards' reader with its position in its own bucket
// (presence.position); the consumer's acknowledged floor is where it
// starts from once, and the consumer is deleted when that position is
// first written.
const PresenceConsumer = "game-presence"

// campaign runs for the worker's life: it waits for leadership, runs the
// leader jobs until leadership ends, waits until they have stopped, and
// campaigns again. The jobs stop when the registry reports the loss, which
// (etcd) it does on this process's clock before etcd can elect another
// worker (registry.Campaign): so two workers never fold the projections at
// once, short of this process being paused itself (DESIGN §6).
func (w *Worker) campaign(ctx context.Context) {
	for ctx.Err() == nil {
		term, end := context.WithCancel(ctx)
		lost, err := w.deps.Registry.Campaign(term, LeaderJob)
		if err != nil {
			end()
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("game: leader campaign", "err", err)
			if sleep(ctx, time.Second) != nil {
				return
			}
			continue
		}
		go func() {
			select {
			case <-lost:
				end()
			case <-term.Done():
			}
		}()
		w.runLeaderJobs(term)
		if ctx.Err() == nil {
			w.log.Warn("game: leadership lost: leader jobs stopped; campaigning again")
		}
		end()
	}
}

// runLeaderJobs runs the leader jobs until ctx ends and returns once all have stopped.
func (w *Worker) runLeaderJobs(ctx context.Context) {
	w.log.Info("game: elected leader: running projections and the gate-loss sweep")
	p := newPresence(w)
	var wg sync.WaitGroup
	wg.Add(2)
	w.leading.Store(true)
	go func() { defer wg.Done(); w.runRanks(ctx, p) }()
	go func() { defer wg.Done(); p.sweep(ctx) }()
	wg.Wait()
	w.leading.Store(false)
}

// project runs one projection: a durable consumer named name on each
// partition's stream over the player events, each partition folded in
// stream order (a player's events in its order; partitions interleave),
// each event acknowledged once fn has applied it. Only the event types in
// folds (full names, the Hive-Event header) are decoded and given to fn;
// the others are acknowledged unread. fn must be idempotent (a
// redelivery after a crash applies it again) and safe for concurrent use
// by the partitions (it never sees one player's events concurrently).
func (w *Worker) project(ctx context.Context, name string, folds eventTypes, fn func(context.Context, *events.Event) error) {
	var wg sync.WaitGroup
	for _, stream := range w.store.Streams() {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := w.consume(ctx, stream, name, folds, fn)
				if ctx.Err() != nil {
					return
				}
				w.log.Warn("game: projection restarting", "consumer", name, "stream", stream, "err", err)
				if sleep(ctx, 500*time.Millisecond) != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

// projectionAckWait is how long an event handed to a worker stays its own
// before the consumer hands it to another: when a worker dies holding
// events (a transfer's credit among them), the others take them over after
// this long. A step that takes longer says so (InProgress) while it retries.
// projectionPull bounds what a worker holds at once, so that it can
// acknowledge all of it within projectionAckWait.
const (
	projectionAckWait = 10 * time.Second
	projectionPull    = 64
)

// eventTypes is a set of event types by full name (evt.GiftSent).
type eventTypes map[string]bool

// consume folds one stream's player events of the types in folds with the
// durable consumer name.
func (w *Worker) consume(ctx context.Context, stream, name string, folds eventTypes, fn func(context.Context, *events.Event) error) error {
	cons, err := w.deps.JS.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:     name,
		Description: "hive game projection",
		// No filter: a consumer filtered on part of its stream's subjects
		// costs the server a subject match per message (a profile of gifts
		// put it at 3% of the whole path); the stream's few other events
		// (accounts, partition 0 only) are skipped below, unread.
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       projectionAckWait,
		MaxAckPending: 4096,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(projectionPull))
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			return err // closed by ctx, or the consumer was deleted
		}
		if !bus.IsPlayerEvent(m.Subject()) || !folds[m.Headers().Get(bus.HdrEvent)] {
			_ = m.Ack()
			continue
		}
		ev, err := events.DecodeJS(m)
		if err != nil {
			// Not ours to fold (a type this version does not know): skip it
			// loudly rather than stall every projection behind it.
			w.log.Error("game: projection skips an event", "consumer", name, "stream", stream, "err", err)
			_ = m.Ack()
			continue
		}
		for attempt := 0; ; attempt++ {
			if err = fn(ctx, ev); err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The cache or KV is down: hold this event (in order) until it is back.
			w.log.Warn("game: projection retrying", "consumer", name, "stream", stream, "seq", ev.Seq, "err", err)
			_ = m.InProgress()
			if sleep(ctx, time.Duration(min(attempt+1, 10))*200*time.Millisecond) != nil {
				return ctx.Err()
			}
		}
		if err := m.Ack(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			w.log.Warn("game: projection ack", "consumer", name, "stream", stream, "err", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
