// Package tap is `hive tap`: it prints the events of the EVENTS stream as
// JSON lines, decoded through the events package (DESIGN §8).
package tap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	_ "github.com/qeetap/hive/proto/evt" // registers the event types for decoding
)

// Options configures Run.
type Options struct {
	// Subject filters the events; default bus.EventsWildcard ("evt.>").
	// e.g. "evt.player.10001" for one player, "evt.account.*" for accounts.
	Subject string
	// FromStart starts at the first event in the stream.
	FromStart bool
	// Since starts at events stored at most this long ago. Ignored with
	// FromStart. Neither: only events stored after Tap starts.
	Since time.Duration
	// Limit stops after this many events; 0 follows until ctx ends.
	Limit int
	// Consumer, if set, names a durable consumer: events are acknowledged
	// once printed, and a later Tap with the same name resumes after the
	// last one acknowledged (FromStart/Since only matter when the consumer
	// is created). Empty: an ephemeral ordered consumer.
	Consumer string
	// Out receives one JSON object per event and line. Required.
	Out io.Writer
	// NoFollow stops at the end of what is stored when Tap starts (the
	// last stream sequence then): events stored later are left for the
	// next run.
	NoFollow bool
	// Reset deletes Consumer first, so that it starts again where
	// FromStart or Since say.
	Reset bool
}

// CheckSubject returns an error, suggesting the subject meant, unless s
// is within the EVENTS stream's subjects (bus.EventsWildcard, "evt.>"): a
// filter outside them matches nothing and a tap on it would wait forever.
func CheckSubject(s string) error {
	if s == bus.EventsWildcard || (strings.HasPrefix(s, "evt.") && len(s) > len("evt.")) {
		return nil
	}
	want := bus.EventsWildcard
	if r := strings.TrimPrefix(strings.TrimPrefix(s, "evt"), "."); r != "" {
		want = "evt." + r
	}
	return fmt.Errorf("subject %q is not an event subject: events are stored under %s (evt.player.<id>, evt.account.<id>); did you mean %s?", s, bus.EventsWildcard, want)
}

// Run prints the events of the EVENTS stream as JSON lines to opt.Out,
// following new events until ctx ends or opt.Limit events were printed, and
// then returns nil. The event type comes from the Hive-Event header and is
// decoded through the proto registry; an unknown type or undecodable payload
// still prints a line, with "event": null and an "error".
func Run(ctx context.Context, nc *nats.Conn, opt Options) error {
	if opt.Out == nil {
		return errors.New("tap: no output")
	}
	if opt.Limit < 0 {
		return fmt.Errorf("tap: negative limit %d", opt.Limit)
	}
	if opt.Since < 0 {
		return fmt.Errorf("tap: negative since %v", opt.Since)
	}
	if opt.Subject == "" {
		opt.Subject = bus.EventsWildcard
	}
	if err := CheckSubject(opt.Subject); err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	if opt.Reset && opt.Consumer == "" {
		return errors.New("tap: reset needs a consumer name")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	stream, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return fmt.Errorf("tap: stream %s: %w", bus.EventsStream, err)
	}
	policy, start := jetstream.DeliverNewPolicy, (*time.Time)(nil)
	switch {
	case opt.FromStart:
		policy = jetstream.DeliverAllPolicy
	case opt.Since > 0:
		t := time.Now().Add(-opt.Since)
		policy, start = jetstream.DeliverByStartTimePolicy, &t
	}
	// The end of what is stored now, for NoFollow.
	last := stream.CachedInfo().State.LastSeq
	if opt.Consumer != "" {
		cons, err := durable(ctx, stream, opt, policy, start)
		if err != nil {
			return err
		}
		if opt.NoFollow {
			return tapStored(ctx, nc, cons, opt, last, true)
		}
		return readDurable(ctx, nc, cons, opt)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{opt.Subject}, DeliverPolicy: policy, OptStartTime: start,
	})
	if err != nil {
		return fmt.Errorf("tap: consumer: %w", err)
	}
	if opt.NoFollow {
		return tapStored(ctx, nc, cons, opt, last, false)
	}
	return readOrdered(ctx, cons, opt)
}

// readOrdered prints from an ordered (ephemeral) consumer.
func readOrdered(ctx context.Context, cons jetstream.Consumer, opt Options) error {
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for n := 0; opt.Limit == 0 || n < opt.Limit; n++ {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("tap: %w", err)
		}
		if err := writeLine(opt.Out, m); err != nil {
			return err
		}
	}
	return nil
}
