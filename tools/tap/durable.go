package tap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startOf is how a durable consumer was asked to start, kept in its
// metadata (key startKey) so that a later run can tell a conflicting
// start from a resume: "new", "from-start" or "since=<duration>".
func startOf(opt Options) string {
	switch {
	case opt.FromStart:
		return "from-start"
	case opt.Since > 0:
		return "since=" + opt.Since.String()
	}
	return "new"
}

// startKey is the consumer metadata key holding startOf.
const startKey = "hive_tap_start"

// startFlags is a startOf value in the words of the command line.
func startFlags(start string) string {
	switch {
	case start == "from-start":
		return "--from-start"
	case strings.HasPrefix(start, "since="):
		d, err := time.ParseDuration(strings.TrimPrefix(start, "since="))
		if err == nil {
			return "--since " + shortDuration(d)
		}
		return "--since"
	}
	return "neither --from-start nor --since (new events only)"
}

// shortDuration is d as a flag would give it: 1h, not 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// createdStart is how an existing consumer was created to start: its
// metadata, or else (a consumer made by other means) its deliver policy.
func createdStart(cfg jetstream.ConsumerConfig) string {
	if v, ok := cfg.Metadata[startKey]; ok {
		return v
	}
	switch cfg.DeliverPolicy {
	case jetstream.DeliverAllPolicy:
		return "from-start"
	case jetstream.DeliverByStartTimePolicy:
		return "since="
	}
	return "new"
}

// durable returns the named consumer, creating it if it does not exist. An
// existing one keeps its position; a different filter subject is an error
// rather than a silent change of what the job consumes.
func durable(ctx context.Context, stream jetstream.Stream, opt Options, policy jetstream.DeliverPolicy, start *time.Time) (jetstream.Consumer, error) {
	if opt.Reset {
		err := stream.DeleteConsumer(ctx, opt.Consumer)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("tap: reset consumer %q: %w", opt.Consumer, err)
		}
	}
	cons, err := stream.Consumer(ctx, opt.Consumer)
	if err == nil {
		cfg := cons.CachedInfo().Config
		if f := cfg.FilterSubject; f != opt.Subject {
			return nil, fmt.Errorf("tap: consumer %q filters %q, not %q: use another name, or --reset to recreate it", opt.Consumer, f, opt.Subject)
		}
		// No start asked for: resume. The start it was created with: resume.
		// Another start would be silently ignored, so refuse it.
		want, was := startOf(opt), createdStart(cfg)
		if want != "new" && want != was && !(was == "since=" && opt.Since > 0) {
			return nil, fmt.Errorf("tap: consumer %q already exists, created with %s, and resumes where it stopped: "+
				"%s does not apply to it. Leave the start flags out to resume, or add --reset to delete it and start again "+
				"(or pick another --consumer name)", opt.Consumer, startFlags(was), startFlags(want))
		}
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("tap: consumer %q: %w", opt.Consumer, err)
	}
	cons, err = stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       opt.Consumer,
		Description:   "hive tap --consumer",
		FilterSubject: opt.Subject,
		DeliverPolicy: policy,
		OptStartTime:  start,
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: 1024,
		Metadata:      map[string]string{startKey: startOf(opt)},
	})
	if err != nil {
		return nil, fmt.Errorf("tap: create consumer %q: %w", opt.Consumer, err)
	}
	return cons, nil
}

// fetchWait is how long one fetch of a durable Tap waits for events. Fetches
// are not cancelled midway: a cancelled fetch would leave its pull request
// on the server, which would hand later events to a reader that is gone
// (they come back only after the ack wait). So cancelling takes up to this long.
const fetchWait = time.Second

// durable prints from a durable consumer, acknowledging each event once
// printed. It fetches no more than the limit still allows, and gives back
// (naks) what it fetched but did not print, so a restart resumes at once.
func (r reader) durable(ctx context.Context, nc *nats.Conn, cons jetstream.Consumer) error {
	// Acks are fire-and-forget; a round trip at the end makes sure the
	// server has processed them before the caller closes the connection.
	defer nc.FlushTimeout(5 * time.Second)
	for r.out.left() > 0 && ctx.Err() == nil {
		batch := min(64, r.out.left())
		b, err := cons.Fetch(batch, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			return fmt.Errorf("tap: fetch: %w", err)
		}
		var werr error
		for m := range b.Messages() {
			if werr != nil || ctx.Err() != nil {
				_ = m.Nak()
				continue
			}
			if ok, err := r.out.write(m, r.part); err != nil || !ok {
				werr = err
				_ = m.Nak()
				continue
			}
			if werr = m.Ack(); werr != nil {
				werr = fmt.Errorf("tap: ack: %w", werr)
			}
		}
		if werr != nil {
			return werr
		}
		if err := b.Error(); err != nil {
			return fmt.Errorf("tap: fetch: %w", err)
		}
	}
	return nil
}

// stored prints what cons holds up to stream sequence last, then
// returns (NoFollow). Each fetch takes only what is there (no wait); an empty
// one, or an event past last, is the end. With ack (a durable consumer)
// printed events are acknowledged and the others given back.
func (r reader) stored(ctx context.Context, nc *nats.Conn, cons jetstream.Consumer, last uint64, ack bool) error {
	if ack {
		defer nc.FlushTimeout(5 * time.Second) // as readDurable
	}
	giveBack := func(m jetstream.Msg) {
		if ack {
			_ = m.Nak()
		}
	}
	for r.out.left() > 0 && ctx.Err() == nil {
		// An ordered consumer is recreated on every fetch: take big batches.
		batch := 1000
		if ack {
			batch = 64
		}
		batch = min(batch, r.out.left())
		b, err := cons.FetchNoWait(batch)
		if err != nil {
			return fmt.Errorf("tap: fetch: %w", err)
		}
		got, end := 0, false
		var werr error
		for m := range b.Messages() {
			got++
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream > last {
				end = true
			}
			if end || werr != nil || ctx.Err() != nil {
				giveBack(m)
				continue
			}
			ok, err := r.out.write(m, r.part)
			if err != nil || !ok {
				werr = err
				giveBack(m)
				end = end || !ok
				continue
			}
			if ack {
				if werr = m.Ack(); werr != nil {
					werr = fmt.Errorf("tap: ack: %w", werr)
				}
			}
		}
		if werr != nil {
			return werr
		}
		if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("tap: fetch: %w", err)
		}
		if end || got == 0 {
			return nil
		}
	}
	return nil
}
