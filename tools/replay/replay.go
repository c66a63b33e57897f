// Package replay is `hive replay`: one player rebuilt from its events
// alone, to a stream sequence or time, optionally step by step.
package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/game"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/tools/internal/jsonl"
	"github.com/qeetap/hive/tools/tap"
)

// Options configures Run.
type Options struct {
	// Player is the player id to rebuild. Required (> 0).
	Player int64
	// ToSeq stops after the last event with a stream sequence <= ToSeq (0 = all).
	ToSeq uint64
	// ToTime stops after the last event stored at or before it (zero = all).
	ToTime time.Time
	// Steps prints one line per event, with the state after it, instead of
	// only the final state.
	Steps bool
	// Out receives the JSON lines. Required.
	Out io.Writer
}

// Step is one line of Run with Steps: the event in the shape of a
// tap line, and the player (def.User, proto field names) after it.
type Step struct {
	tap.Line
	State json.RawMessage `json:"state"`
}

// ErrNoEvents means the player has no events (up to the bound asked): it
// does not exist, or did not yet at --to-seq/--to-time.
var ErrNoEvents = errors.New("no events")

// Run rebuilds one player from its events alone (game.Replay: no
// snapshot, no cache) and prints the final state as one JSON object, the
// def.User shape with proto field names, items included. With Steps it
// prints, instead, one Step per event. A player without events is an
// error wrapping ErrNoEvents ("player N has no events"); so is a bound before
// the player's first event, whose error says when that event is.
func Run(ctx context.Context, js jetstream.JetStream, opt Options) error {
	if opt.Out == nil {
		return errors.New("replay: no output")
	}
	if opt.Player <= 0 {
		return fmt.Errorf("replay: bad player id %d", opt.Player)
	}
	ro := game.ReplayOptions{ToSeq: opt.ToSeq, ToTime: opt.ToTime}
	if opt.Steps {
		parts, err := bus.StorePartitions(ctx, js)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		part := bus.PlayerPartition(opt.Player, parts)
		ro.Step = func(e *events.Event, u *def.User) error {
			return writeStep(opt.Out, e, part, u)
		}
	}
	u, err := game.Replay(ctx, js, opt.Player, ro)
	if errors.Is(err, game.ErrNoPlayer) {
		if opt.ToSeq > 0 || !opt.ToTime.IsZero() {
			// Perhaps it has events, all past the bound: say so.
			if seq, at, found, ferr := FirstEvent(ctx, js, opt.Player); ferr == nil && found {
				return &beforeFirstError{player: opt.Player, seq: seq, at: at, opt: opt}
			}
		}
		return fmt.Errorf("player %d has %w", opt.Player, ErrNoEvents)
	}
	if err != nil {
		return fmt.Errorf("replay: player %d: %w", opt.Player, err)
	}
	if opt.Steps {
		return nil
	}
	b, err := jsonl.Proto.Marshal(u)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	var c bytes.Buffer // protojson's spacing is deliberately unstable: one compact line
	if err := json.Compact(&c, b); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return jsonl.Write(opt.Out, c.Bytes())
}

// beforeFirstError is Run's error when the bound asked (ToSeq or
// ToTime) lies before the player's first event. It wraps ErrNoEvents.
type beforeFirstError struct {
	player int64
	seq    uint64    // of the first event
	at     time.Time // of the first event
	opt    Options
}

func (e *beforeFirstError) Error() string {
	bound := fmt.Sprintf("--to-seq %d", e.opt.ToSeq)
	if !e.opt.ToTime.IsZero() {
		bound = "--to-time " + e.opt.ToTime.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("player %d's first event is at %s (stream seq %d): nothing of it is stored at or before %s",
		e.player, e.at.UTC().Format(time.RFC3339Nano), e.seq, bound)
}

func (e *beforeFirstError) Unwrap() error { return ErrNoEvents }

// writeStep prints one event of partition part and the state after it.
func writeStep(w io.Writer, e *events.Event, part int, u *def.User) error {
	st, err := jsonl.Proto.Marshal(u)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	line := tap.LineOf(e, nil)
	line.Partition = part
	b, err := json.Marshal(Step{Line: line, State: st})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return jsonl.Write(w, b)
}

// FirstEvent returns the stream sequence and store time of player uid's
// first event in its partition's stream; found is false when it has none.
func FirstEvent(ctx context.Context, js jetstream.JetStream, uid int64) (seq uint64, at time.Time, found bool, err error) {
	parts, err := bus.StorePartitions(ctx, js)
	if err != nil {
		return 0, time.Time{}, false, err
	}
	name := bus.EventsStreamFor(bus.PlayerPartition(uid, parts))
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("stream %s: %w", name, err)
	}
	// The first message at or after sequence 1 on the player's subject.
	m, err := stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(bus.PlayerSubject(uid)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, time.Time{}, false, nil
	}
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("first event of player %d: %w", uid, err)
	}
	return m.Sequence, m.Time, true, nil
}
