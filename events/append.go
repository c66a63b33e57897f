package events

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
)

// AppendOnce stores ev on subject as the single event of command cmd, with
// no expected sequence: for facts decided outside an aggregate, whose
// decision already committed elsewhere (uc's account records and their
// outbox). It is idempotent: when an event of cmd is already on subject
// (read back, so beyond the server's dedup window too) nothing is stored,
// and a concurrent twin is dropped by the server through the Nats-Msg-Id.
// It reports whether this call stored the event. The subject is read whole,
// so it is meant for short subjects (an account's few events).
func (s *Store) AppendOnce(ctx context.Context, subject string, ev proto.Message, cmd Cmd) (bool, error) {
	if cmd.ID == "" {
		return false, fmt.Errorf("events: append to %s: empty command id", subject)
	}
	found := false
	if err := s.Read(ctx, subject, 1, func(e *Event) (bool, error) {
		found = e.Cmd == cmd.ID
		return !found, nil
	}); err != nil {
		return false, err
	}
	if found {
		s.st.dups.Add(1)
		return false, nil
	}
	m, err := encodeMsg(subject, ev, cmd, 0)
	if err != nil {
		return false, err
	}
	m.Subject = bus.IngestSubject(subject, len(s.streams))
	ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectStream(s.streamOf(subject)))
	if err != nil {
		return false, fmt.Errorf("events: append to %s: %w", subject, err)
	}
	if ack.Duplicate {
		s.st.dups.Add(1)
		return false, nil
	}
	s.st.appends.Add(1)
	s.st.events.Add(1)
	return true, nil
}
