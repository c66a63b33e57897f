// Package tap is `hive tap`: it prints the events of the EVENTS stream as
// JSON lines, decoded through the events package (DESIGN §8).
package tap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	_ "github.com/qeetap/hive/proto/evt" // registers the event types for decoding
	"github.com/qeetap/hive/tools/internal/jsonl"
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

// Line is one line of Run's output (DESIGN §8). Event is the event in
// protojson (proto field names); it is null when the event cannot be
// decoded, and Error then says why.
type Line struct {
	StreamSeq uint64          `json:"stream_seq"`
	Subject   string          `json:"subject"`
	Time      string          `json:"time"`
	Type      string          `json:"type"`
	Event     json.RawMessage `json:"event"`
	Cmd       string          `json:"cmd,omitempty"`
	Corr      string          `json:"corr,omitempty"`
	Error     string          `json:"error,omitempty"`
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

// fetchWait is how long one fetch of a durable Tap waits for events. Fetches
// are not cancelled midway: a cancelled fetch would leave its pull request
// on the server, which would hand later events to a reader that is gone
// (they come back only after the ack wait). So cancelling takes up to this long.
const fetchWait = time.Second

// readDurable prints from a durable consumer, acknowledging each event once
// printed. It fetches no more than the limit still allows, and gives back
// (naks) what it fetched but did not print, so a restart resumes at once.
func readDurable(ctx context.Context, nc *nats.Conn, cons jetstream.Consumer, opt Options) error {
	// Acks are fire-and-forget; a round trip at the end makes sure the
	// server has processed them before the caller closes the connection.
	defer nc.FlushTimeout(5 * time.Second)
	n := 0
	for (opt.Limit == 0 || n < opt.Limit) && ctx.Err() == nil {
		batch := 64
		if opt.Limit > 0 {
			batch = min(batch, opt.Limit-n)
		}
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
			if werr = writeLine(opt.Out, m); werr != nil {
				_ = m.Nak()
				continue
			}
			n++
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

// tapStored prints what cons holds up to stream sequence last, then
// returns (NoFollow). Each fetch takes only what is there (no wait); an empty
// one, or an event past last, is the end. With ack (a durable consumer)
// printed events are acknowledged and the others given back.
func tapStored(ctx context.Context, nc *nats.Conn, cons jetstream.Consumer, opt Options, last uint64, ack bool) error {
	if ack {
		defer nc.FlushTimeout(5 * time.Second) // as readDurable
	}
	giveBack := func(m jetstream.Msg) {
		if ack {
			_ = m.Nak()
		}
	}
	n := 0
	for (opt.Limit == 0 || n < opt.Limit) && ctx.Err() == nil {
		// An ordered consumer is recreated on every fetch: take big batches.
		batch := 1000
		if ack {
			batch = 64
		}
		if opt.Limit > 0 {
			batch = min(batch, opt.Limit-n)
		}
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
			if werr = writeLine(opt.Out, m); werr != nil {
				giveBack(m)
				continue
			}
			n++
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

// writeLine prints one event.
func writeLine(w io.Writer, m jetstream.Msg) error {
	e, err := events.DecodeJSEnvelope(m)
	b, merr := json.Marshal(LineOf(e, err))
	if merr != nil {
		return fmt.Errorf("tap: %w", merr)
	}
	if err := jsonl.Write(w, b); err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	return nil
}

// LineOf is the output line of event e, decoded by the events package;
// derr is the error of that decoding, if any (e then has no Msg).
func LineOf(e *events.Event, derr error) Line {
	l := Line{StreamSeq: e.Seq, Subject: e.Subject, Type: e.Type, Cmd: e.Cmd, Corr: e.Corr, Event: json.RawMessage("null")}
	if !e.Time.IsZero() {
		l.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if derr != nil {
		l.Error = derr.Error()
		return l
	}
	b, err := jsonl.Proto.Marshal(e.Msg)
	if err != nil {
		l.Error = fmt.Sprintf("event %s: %v", e.Type, err)
		return l
	}
	l.Event = b
	return l
}
