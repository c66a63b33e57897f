package events

import (
	"context"
	"time"
)

// ReplayOptions bounds a Replay.
type ReplayOptions[S any] struct {
	// ToSeq stops after the last event with a stream sequence <= ToSeq (0 = no bound).
	ToSeq uint64
	// ToTime stops after the last event stored at or before ToTime (zero = no bound).
	ToTime time.Time
	// Step, if set, is called after each event with the state after it. The
	// state may be modified by later events; copy what must be kept.
	Step func(e *Event, s S) error
}

// Replay rebuilds aggregate id from its first event, ignoring every
// snapshot, up to a sequence or a time, optionally reporting each step
// (`hive replay`). It reads with batched direct gets and writes nothing.
func (r *Repo[S]) Replay(ctx context.Context, id int64, opt ReplayOptions[S]) (*Snapshot[S], error) {
	snap := r.fresh(id)
	err := r.s.Read(ctx, r.Subject(id), 1, func(e *Event) (bool, error) {
		if opt.ToSeq > 0 && e.Seq > opt.ToSeq {
			return false, nil
		}
		if !opt.ToTime.IsZero() && e.Time.After(opt.ToTime) {
			return false, nil
		}
		if err := r.apply(snap, e); err != nil {
			return false, err
		}
		if opt.Step != nil {
			if err := opt.Step(e, snap.State); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}
