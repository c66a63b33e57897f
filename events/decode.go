package events

import (
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
)

// DecodeJSEnvelope is DecodeJS for readers that show what they cannot
// decode (hive tap): the Event always carries the envelope (sequence,
// subject, time, type, command, correlation) and Msg only when the payload
// decodes; the error is the one DecodeJS would return.
func DecodeJSEnvelope(m jetstream.Msg) (*Event, error) {
	h := m.Headers()
	e := &Event{Subject: m.Subject(), Type: h.Get(bus.HdrEvent), Cmd: h.Get(bus.HdrCmd), Corr: h.Get(bus.HdrCorr)}
	md, err := m.Metadata()
	if err != nil {
		return e, fmt.Errorf("events: metadata of %s: %w", m.Subject(), err)
	}
	e.Seq, e.Time = md.Sequence.Stream, md.Timestamp
	msg, _, err := DecodeMsg(h, m.Data())
	if err != nil {
		return e, fmt.Errorf("%s seq %d: %w", m.Subject(), e.Seq, err)
	}
	e.Msg = msg
	return e, nil
}
