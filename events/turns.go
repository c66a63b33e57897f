package events

import (
	"context"
	"hash/maphash"
	"slices"
)

// turns lets one command at a time in this process work on an aggregate,
// from its load to its snapshot write. Commands on the same aggregate in one
// process would otherwise decide on the same version and all but one be
// refused (a wasted round trip each, and with shared batches, group.go, a
// wasted wait for a whole batch). The expected-sequence check still guards
// against writers in other processes. Aggregates map onto a fixed set of
// slots; two aggregates sharing a slot only wait for each other.
type turns struct {
	seed  maphash.Seed
	slots []chan struct{}
}

func newTurns(n int) *turns {
	t := &turns{seed: maphash.MakeSeed(), slots: make([]chan struct{}, n)}
	for i := range t.slots {
		t.slots[i] = make(chan struct{}, 1)
	}
	return t
}

// take waits for the slots of subjects and returns the function that gives
// them back. It never holds a slot while it waits for another (a command
// waiting for a busy player would otherwise stall every command on the
// player it already has): it takes what is free, and when a slot is busy
// it gives back the rest and waits for that one alone. It gives up when ctx
// ends.
func (t *turns) take(ctx context.Context, subjects []string) (func(), error) {
	idx := make([]int, 0, len(subjects))
	for _, s := range subjects {
		idx = append(idx, int(maphash.String(t.seed, s)%uint64(len(t.slots))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	held := make([]bool, len(idx))
	release := func() {
		for k, i := range idx {
			if held[k] {
				<-t.slots[i]
				held[k] = false
			}
		}
	}
	for {
		busy := -1
		for k, i := range idx {
			if held[k] {
				continue
			}
			select {
			case t.slots[i] <- struct{}{}:
				held[k] = true
			default:
				busy = k
			}
			if busy >= 0 {
				break
			}
		}
		if busy < 0 {
			return release, nil
		}
		release()
		select {
		case t.slots[idx[busy]] <- struct{}{}:
			held[busy] = true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
