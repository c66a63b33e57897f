package tap

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/tools/internal/jsonl"
)

// Line is one line of Run's output (DESIGN §8). Event is the event in
// protojson (proto field names); it is null when the event cannot be
// decoded, and Error then says why.
type Line struct {
	// Partition is the partition whose stream holds the event (0 in a
	// store of one; bus.EventsStreamFor names its stream). StreamSeq is
	// the sequence in that stream.
	Partition int             `json:"partition"`
	StreamSeq uint64          `json:"stream_seq"`
	Subject   string          `json:"subject"`
	Time      string          `json:"time"`
	Type      string          `json:"type"`
	Event     json.RawMessage `json:"event"`
	Cmd       string          `json:"cmd,omitempty"`
	Corr      string          `json:"corr,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// writeLine prints one event of partition part.
func writeLine(w io.Writer, m jetstream.Msg, part int) error {
	e, err := events.DecodeJSEnvelope(m)
	l := LineOf(e, err)
	l.Partition = part
	b, merr := json.Marshal(l)
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
