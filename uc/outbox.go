package uc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
)

// pendingEvent is an account event committed with the record that caused it
// and not yet known to be in the EVENTS stream (the account's outbox).
type pendingEvent struct {
	Cmd  string `json:"cmd"`  // command id: Hive-Cmd, and what makes the append idempotent
	Type string `json:"type"` // full proto name (Hive-Event)
	Data []byte `json:"data"` // the event, protobuf
}

// stage adds ev to a's outbox under a fresh command id. It is called inside
// the write of the record (store.create, store.update), so the record and
// the event it owes commit together.
func (a *account) stage(kind string, ev proto.Message) error {
	b, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("uc: encode event: %w", err)
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return err
	}
	a.Outbox = append(a.Outbox, pendingEvent{
		Cmd:  fmt.Sprintf("uc-%s-%d-%s", kind, a.ID, hex.EncodeToString(r[:])),
		Type: string(ev.ProtoReflect().Descriptor().FullName()),
		Data: b,
	})
	return nil
}

// outbox moves staged account events into the event store: right after the
// write that staged them (flush), and from a sweeper that finds the ones a
// failed append or a crash left behind.
type outbox struct {
	store  *store
	events *events.Store
	log    *slog.Logger
	failed func() // counts appends that failed (metrics)
	// afterWrite, if set, runs after a record with staged events is written
	// and before they are flushed; returning false skips the flush, as if
	// the process died right there. For tests of crash safety only.
	afterWrite func(id int64) bool
}

// committed is called by a handler after its write committed: it flushes
// the account's outbox unless the test hook says the process died. A
// failure is logged and counted, not answered: the change and its event
// are both durable, and the sweeper stores the event.
func (o *outbox) committed(ctx context.Context, id int64) {
	if o.afterWrite != nil && !o.afterWrite(id) {
		return
	}
	if err := o.flush(ctx, id); err != nil {
		o.log.Warn("uc: account event left to the sweeper", "account", id, "err", err)
		if o.failed != nil {
			o.failed()
		}
	}
}

// flush appends the staged events of account id in order, each once, and
// removes the stored ones from the record by compare-and-set.
func (o *outbox) flush(ctx context.Context, id int64) error {
	a, _, err := o.store.get(ctx, id)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	stored := map[string]bool{}
	var ferr error
	for _, p := range a.Outbox {
		if ferr = o.append(ctx, id, p); ferr != nil {
			break // later events wait: the stream keeps the account's order
		}
		stored[p.Cmd] = true
	}
	if len(stored) > 0 {
		if err := o.store.clearOutbox(ctx, id, stored); err != nil && ferr == nil {
			ferr = err
		}
	}
	return ferr
}

func (o *outbox) append(ctx context.Context, id int64, p pendingEvent) error {
	mt, err := events.TypeOf(p.Type)
	if err != nil {
		return err
	}
	ev := mt.New().Interface()
	if err := proto.Unmarshal(p.Data, ev); err != nil {
		return fmt.Errorf("uc: staged %s of account %d: %w", p.Type, id, err)
	}
	_, err = o.events.AppendOnce(ctx, bus.AccountSubject(id), ev, events.Cmd{ID: p.Cmd})
	return err
}

// sweep runs until ctx ends: it watches the account records and flushes
// every outbox that stays non-empty for one interval. Records found at
// start with staged events (a crash between record and event) are flushed
// at once.
func (o *outbox) sweep(ctx context.Context, every time.Duration) {
	for ctx.Err() == nil {
		if err := o.watch(ctx, every); err != nil && ctx.Err() == nil {
			o.log.Warn("uc: outbox sweeper restarts", "err", err)
			select {
			case <-time.After(every):
			case <-ctx.Done():
			}
		}
	}
}

func (o *outbox) watch(ctx context.Context, every time.Duration) error {
	w, err := o.store.kv.Watch(ctx, "id.*")
	if err != nil {
		return fmt.Errorf("watch accounts: %w", err)
	}
	defer w.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	since := map[int64]time.Time{} // accounts whose outbox is not empty, since when
	flush := func(now time.Time, all bool) {
		for id, t := range since {
			if !all && now.Sub(t) < every {
				continue
			}
			if err := o.flush(ctx, id); err != nil {
				o.log.Warn("uc: outbox sweep", "account", id, "err", err)
				if o.failed != nil {
					o.failed()
				}
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch of accounts ended")
			}
			if e == nil { // the records as they were at start are all read
				flush(time.Now(), true)
				continue
			}
			id, err := strconv.ParseInt(strings.TrimPrefix(e.Key(), "id."), 10, 64)
			if err != nil {
				continue
			}
			var a account
			if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &a) != nil || len(a.Outbox) == 0 {
				delete(since, id)
				continue
			}
			if _, ok := since[id]; !ok {
				since[id] = time.Now()
			}
		case now := <-tick.C:
			flush(now, false)
		}
	}
}
