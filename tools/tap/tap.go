// Package tap is `hive tap`: it prints the events of the event streams (one
// per partition) as JSON lines, decoded through the events package
// (DESIGN §8). Each partition's events come in its stream's order (so a
// player's in its order); the partitions interleave.
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

// Run prints the events of every partition's stream as JSON lines to opt.Out,
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
	streams, err := bus.PartitionStreams(ctx, js)
	if err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	parts := make([]int, len(streams))
	for p := range parts {
		parts[p] = p
	}
	if !strings.ContainsAny(opt.Subject, "*>") {
		// One subject is in one partition.
		parts = []int{bus.SubjectPartition(opt.Subject, len(streams))}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &sink{w: opt.Out, limit: opt.Limit, cancel: cancel}
	errs := make(chan error, len(parts))
	for _, p := range parts {
		go func() {
			err := tapPartition(ctx, nc, js, streams[p], p, opt, out)
			if err != nil && out.left() == 0 {
				err = nil // stopped midway by another partition reaching the limit
			}
			if err != nil {
				cancel() // the first error ends every partition's reader
			}
			errs <- err
		}()
	}
	var first error
	for range parts {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// tapPartition prints the events of one partition's stream into out.
func tapPartition(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, name string, part int, opt Options, out *sink) error {
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("tap: stream %s: %w", name, err)
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
	r := reader{part: part, out: out}
	if opt.Consumer != "" {
		cons, err := durable(ctx, stream, opt, policy, start)
		if err != nil {
			return err
		}
		if opt.NoFollow {
			return r.stored(ctx, nc, cons, last, true)
		}
		return r.durable(ctx, nc, cons)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{opt.Subject}, DeliverPolicy: policy, OptStartTime: start,
	})
	if err != nil {
		return fmt.Errorf("tap: consumer: %w", err)
	}
	if opt.NoFollow {
		return r.stored(ctx, nc, cons, last, false)
	}
	return r.ordered(ctx, cons)
}

// reader prints one partition's events into the shared output.
type reader struct {
	part int
	out  *sink
}

// ordered prints from an ordered (ephemeral) consumer.
func (r reader) ordered(ctx context.Context, cons jetstream.Consumer) error {
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for r.out.left() > 0 {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("tap: %w", err)
		}
		if _, err := r.out.write(m, r.part); err != nil {
			return err
		}
	}
	return nil
}
