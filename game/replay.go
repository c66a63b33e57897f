package game

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
)

// ErrNoPlayer means the player has no events (up to the bound asked).
var ErrNoPlayer = errors.New("game: no such player")

// ReplayOptions bounds Replay (`hive replay`).
type ReplayOptions struct {
	// ToSeq stops after the last event with a stream sequence <= ToSeq (0 = all).
	ToSeq uint64
	// ToTime stops after the last event stored at or before it (zero = all).
	ToTime time.Time
	// Step, if set, gets each event and the player (def.User, items
	// included) after it; u is the caller's to keep.
	Step func(e *events.Event, u *def.User) error
}

// Replay rebuilds a player from its events alone (no snapshot, no cache),
// and returns it in the def.User shape, items included. With Step it reports
// every event and the state after it.
func Replay(ctx context.Context, js jetstream.JetStream, id int64, opt ReplayOptions) (*def.User, error) {
	st, err := ReplayState(ctx, js, id, opt)
	if err != nil {
		return nil, err
	}
	return proto.Clone(st.GetUser()).(*def.User), nil
}

// ReplayState is Replay returning the whole player state (mails, scene,
// presence included).
func ReplayState(ctx context.Context, js jetstream.JetStream, id int64, opt ReplayOptions) (*Player, error) {
	// Zero SnapshotEvery: no durable snapshots, a replay writes nothing.
	store, err := events.NewStore(ctx, js, nil, events.Options{})
	if err != nil {
		return nil, err
	}
	ro := events.ReplayOptions[*Player]{ToSeq: opt.ToSeq, ToTime: opt.ToTime}
	if opt.Step != nil {
		ro.Step = func(e *events.Event, s *Player) error { return opt.Step(e, proto.Clone(s.GetUser()).(*def.User)) }
	}
	snap, err := events.NewRepo(store, playerAggregate).Replay(ctx, id, ro)
	if err != nil {
		return nil, err
	}
	if !snap.Exists() {
		return nil, ErrNoPlayer
	}
	return snap.State, nil
}
