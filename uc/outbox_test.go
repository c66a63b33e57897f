package uc

import (
	"context"
	"testing"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
)

// A uc that dies between writing the account record and storing its event
// loses nothing: the event waits in the record's outbox, and a fresh uc on
// the same NATS stores it at start, once.
func TestAccountEventSurvivesCrashBetweenRecordAndEvent(t *testing.T) {
	e := newEnvDeps(t, cache.NewMemory(), func(c *Config) {
		c.OutboxSweep = time.Hour // only the fresh server's start may sweep
	}, func(d *Deps) {
		d.afterWrite = func(int64) bool { return false } // "dies" after the record
	})
	a := e.post(client.PathRegister, form("username", "phoenix", "password", "correct horse"))
	want(t, "register", a, 200, def.ResCode_RC_OK)
	id := a.int("account_id")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.eventTypes(id); len(got) != 0 {
		t.Fatalf("events %v before the restart: the fault point did not hold the event back", got)
	}
	rec, _, err := e.srv.store.get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Outbox) != 1 || rec.Outbox[0].Type != "evt.AccountRegistered" {
		t.Fatalf("outbox %+v, want the staged evt.AccountRegistered", rec.Outbox)
	}
	staged := rec.Outbox[0].Cmd

	// Watch the account's subject before the fresh server starts.
	sub, err := e.nats.Conn.SubscribeSync(bus.AccountSubject(id))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	deps := e.deps
	deps.afterWrite = nil
	srv, err := New(e.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if _, err := sub.NextMsgWithContext(ctx); err != nil {
		t.Fatalf("no event after the restart: %v", err)
	}
	// The sweeper clears the outbox once the event is stored; flushing
	// again (a second replica, or a crash before the clear) adds nothing.
	for {
		rec, _, err := srv.store.get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Outbox) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("outbox still %+v", rec.Outbox)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, _, err := srv.store.update(ctx, id, func(cur *account) error {
		cur.Outbox = rec.Outbox // as if the clear had not happened
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.outbox.flush(ctx, id); err != nil {
		t.Fatal(err)
	}
	evs := e.events(id)
	if len(evs) != 1 || evs[0].typ != "evt.AccountRegistered" || evs[0].cmd != staged {
		t.Fatalf("events %+v, want one evt.AccountRegistered of command %s", evs, staged)
	}
}
