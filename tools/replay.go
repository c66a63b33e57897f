package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/game"
	"github.com/qeetap/hive/proto/def"
)

// ReplayOptions configures Replay.
type ReplayOptions struct {
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

// ReplayStep is one line of Replay with Steps: the event in the shape of a
// Tap line, and the player (def.User, proto field names) after it.
type ReplayStep struct {
	TapLine
	State json.RawMessage `json:"state"`
}

// ErrNoEvents means the player has no events (up to the bound asked): it
// does not exist, or did not yet at --to-seq/--to-time.
var ErrNoEvents = errors.New("no events")

// Replay rebuilds one player from its events alone (game.Replay: no
// snapshot, no cache) and prints the final state as one JSON object, the
// def.User shape with proto field names, items included. With Steps it
// prints, instead, one ReplayStep per event. A player without events is an
// error wrapping ErrNoEvents ("player N has no events"); so is a bound before
// the player's first event, whose error says when that event is.
func Replay(ctx context.Context, js jetstream.JetStream, opt ReplayOptions) error {
	if opt.Out == nil {
		return errors.New("replay: no output")
	}
	if opt.Player <= 0 {
		return fmt.Errorf("replay: bad player id %d", opt.Player)
	}
	ro := game.ReplayOptions{ToSeq: opt.ToSeq, ToTime: opt.ToTime}
	if opt.Steps {
		ro.Step = func(e *events.Event, u *def.User) error {
			return writeStep(opt.Out, e, u)
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
	b, err := jsonOpts.Marshal(u)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	var c bytes.Buffer // protojson's spacing is deliberately unstable: one compact line
	if err := json.Compact(&c, b); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return writeJSON(opt.Out, c.Bytes())
}

// beforeFirstError is Replay's error when the bound asked (ToSeq or
// ToTime) lies before the player's first event. It wraps ErrNoEvents.
type beforeFirstError struct {
	player int64
	seq    uint64    // of the first event
	at     time.Time // of the first event
	opt    ReplayOptions
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

// writeStep prints one event and the state after it.
func writeStep(w io.Writer, e *events.Event, u *def.User) error {
	line := ReplayStep{TapLine: TapLine{
		StreamSeq: e.Seq, Subject: e.Subject, Time: e.Time.UTC().Format(time.RFC3339Nano),
		Type: e.Type, Cmd: e.Cmd, Corr: e.Corr, Event: json.RawMessage("null"),
	}}
	if e.Msg != nil {
		if b, err := jsonOpts.Marshal(e.Msg); err == nil {
			line.Event = b
		} else {
			line.Error = err.Error()
		}
	}
	st, err := jsonOpts.Marshal(u)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	line.State = st
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return writeJSON(w, b)
}

// writeJSON writes b and a newline.
func writeJSON(w io.Writer, b []byte) error {
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
