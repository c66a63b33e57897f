package uc

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
)

// events appends account events to evt.account.<id> in stream EVENTS.
type events struct {
	js     jetstream.JetStream
	log    *slog.Logger
	failed func() // counts events that could not be stored (metrics)
}

// publish appends ev for account id. cmd is the command id: it becomes
// Hive-Cmd and Nats-Msg-Id, so a retried publish is stored once. uc derives
// it from the account and the record revision the command wrote.
//
// The accounts bucket is the truth for credentials; the event is the fact
// for everyone else. It is published after the record commits, retried a
// few times, and on final failure logged and counted, not reported to the
// client: the account change did happen, and answering an error would make
// the client retry something that already succeeded.
func (e *events) publish(ctx context.Context, id int64, cmd string, ev proto.Message) {
	b, err := proto.Marshal(ev)
	if err != nil {
		e.log.Error("uc: encode event", "err", err)
		return
	}
	m := nats.NewMsg(bus.AccountSubject(id))
	m.Data = b
	m.Header.Set(bus.HdrEvent, string(ev.ProtoReflect().Descriptor().FullName()))
	m.Header.Set(bus.HdrCmd, cmd)
	m.Header.Set(jetstream.MsgIDHeader, cmd)
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		_, err = e.js.PublishMsg(ctx, m)
		if err == nil {
			return
		}
		if attempt == 3 || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
	e.log.Error("uc: account event not stored", "account", id, "event", m.Header.Get(bus.HdrEvent), "cmd", cmd, "err", err)
	if e.failed != nil {
		e.failed()
	}
}

// cmdID names the command that wrote revision rev of account id's record.
func cmdID(kind string, id int64, rev uint64) string {
	return fmt.Sprintf("uc-%s-%d-%d", kind, id, rev)
}
