package game

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/evt"
)

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
	case *evt.MailClaimed:
		return m.GetTotals()
	}
	return nil
}

// projectRanks keeps the leaderboards: each event that changes a player's
// items sets that player's score to the amount now held (absolute values,
// so a redelivered event changes nothing).
func (w *Worker) projectRanks(ctx context.Context, e *events.Event) error {
	t := totals(e)
	if len(t) == 0 {
		return nil
	}
	_, id, err := bus.ParseEventSubject(e.Subject)
	if err != nil {
		return nil
	}
	member := strconv.FormatInt(id, 10)
	for _, d := range t {
		if err := w.deps.Cache.ZAdd(ctx, RankKey(d.GetIdx()), member, float64(d.GetNum())); err != nil {
			return err
		}
	}
	return nil
}

// RebuildRanks rebuilds the leaderboards from the stream: it clears the
// sorted sets of the items given and deletes the ranks consumer; the leader
// recreates it from the first event and folds everything again.
func RebuildRanks(ctx context.Context, js jetstream.JetStream, c cache.Cache, items []int32) error {
	keys := make([]string, len(items))
	for i, idx := range items {
		keys[i] = RankKey(idx)
	}
	if len(keys) > 0 {
		if err := c.Delete(ctx, keys...); err != nil {
			return err
		}
	}
	if err := js.DeleteConsumer(ctx, bus.EventsStream, RanksConsumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return err
	}
	return nil
}

// RebuildRanks rebuilds the leaderboards of every item in the table.
func (w *Worker) RebuildRanks(ctx context.Context) error {
	return RebuildRanks(ctx, w.deps.JS, w.deps.Cache, w.data.ItemIdxs())
}
