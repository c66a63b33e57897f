package events

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/qeetap/hive/bus"
	_ "github.com/qeetap/hive/proto/evt" // registers the event types for Decode
)

// ErrUnknownEvent means a stored message names no registered event type in
// its Hive-Event header (or has none). Loading such an aggregate fails rather
// than folding a state that silently skipped a fact.
var ErrUnknownEvent = errors.New("events: unknown event type")

// Event is one stored event, decoded.
type Event struct {
	Seq     uint64        // stream sequence: the aggregate's version after it
	Subject string        // evt.<kind>.<id>
	Time    time.Time     // when the stream stored it
	Type    string        // full proto name, from the Hive-Event header
	Cmd     string        // command id (Hive-Cmd)
	Corr    string        // request id the command came from (Hive-Corr)
	Msg     proto.Message // the decoded event
}

// msgTypes memoizes registry lookups; the set of event types is small.
var msgTypes sync.Map // string -> protoreflect.MessageType

// TypeOf returns the registered message type of a full proto name.
func TypeOf(name string) (protoreflect.MessageType, error) {
	if mt, ok := msgTypes.Load(name); ok {
		return mt.(protoreflect.MessageType), nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEvent, name)
	}
	msgTypes.Store(name, mt)
	return mt, nil
}

// DecodeMsg decodes the payload of an event message by the type named in its
// Hive-Event header, through the protobuf registry. It is what any consumer
// (tap, projections, replay) uses to read the stream.
func DecodeMsg(hdr nats.Header, data []byte) (proto.Message, string, error) {
	name := hdr.Get(bus.HdrEvent)
	if name == "" {
		return nil, "", fmt.Errorf("%w: no %s header", ErrUnknownEvent, bus.HdrEvent)
	}
	mt, err := TypeOf(name)
	if err != nil {
		return nil, name, err
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, name, fmt.Errorf("events: decode %s: %w", name, err)
	}
	return m, name, nil
}

// DecodeRaw decodes a message read by a direct get.
func DecodeRaw(m *jetstream.RawStreamMsg) (*Event, error) {
	msg, name, err := DecodeMsg(m.Header, m.Data)
	if err != nil {
		return nil, fmt.Errorf("%s seq %d: %w", m.Subject, m.Sequence, err)
	}
	return &Event{
		Seq: m.Sequence, Subject: m.Subject, Time: m.Time, Type: name,
		Cmd: m.Header.Get(bus.HdrCmd), Corr: m.Header.Get(bus.HdrCorr), Msg: msg,
	}, nil
}

// DecodeJS decodes a message delivered by a JetStream consumer.
func DecodeJS(m jetstream.Msg) (*Event, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("events: metadata of %s: %w", m.Subject(), err)
	}
	msg, name, err := DecodeMsg(m.Headers(), m.Data())
	if err != nil {
		return nil, fmt.Errorf("%s seq %d: %w", m.Subject(), md.Sequence.Stream, err)
	}
	return &Event{
		Seq: md.Sequence.Stream, Subject: m.Subject(), Time: md.Timestamp, Type: name,
		Cmd: m.Headers().Get(bus.HdrCmd), Corr: m.Headers().Get(bus.HdrCorr), Msg: msg,
	}, nil
}

// TypeName is an event's type as its Hive-Event header gives it: the
// message's full proto name (evt.GiftSent).
func TypeName(ev proto.Message) string { return string(ev.ProtoReflect().Descriptor().FullName()) }

// encodeMsg builds the message of one event to append: payload, Hive-Event,
// Hive-Cmd, Hive-Corr and a Nats-Msg-Id unique per command, subject and
// position, so a retried command is deduplicated by the server.
func encodeMsg(subject string, ev proto.Message, cmd Cmd, pos int) (*nats.Msg, error) {
	data, err := proto.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("events: marshal %T: %w", ev, err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(bus.HdrEvent, TypeName(ev))
	m.Header.Set(bus.HdrCmd, cmd.ID)
	if cmd.Corr != "" {
		m.Header.Set(bus.HdrCorr, cmd.Corr)
	}
	m.Header.Set(jetstream.MsgIDHeader, msgID(cmd.ID, subject, pos))
	return m, nil
}

// msgID is the Nats-Msg-Id of the pos-th event of a command on a subject.
func msgID(cmd, subject string, pos int) string {
	return cmd + "|" + subject + "|" + strconv.Itoa(pos)
}
