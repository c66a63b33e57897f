package events

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
)

// These tests drive the group directly: commands are queued before a flight
// starts, so which of them share a batch does not depend on timing.

func newGroupStore(t *testing.T) *Store {
	t.Helper()
	n := testenv.StartNATS(t)
	s, err := NewStore(context.Background(), n.JS, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pair is a two-subject command: one message on each of evt.gt.<a> and
// evt.gt.<b>, expecting the given last sequences.
func pair(id string, a, b int64, ea, eb uint64) *batchCmd {
	c := &batchCmd{done: make(chan batchResult, 1)}
	for i, agg := range []int64{a, b} {
		subj := "evt.gt." + strconv.FormatInt(agg, 10)
		m := nats.NewMsg(subj)
		m.Data = []byte(id)
		m.Header.Set(jetstream.MsgIDHeader, id+"-"+subj)
		exp := []uint64{ea, eb}[i]
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(exp, 10))
		c.msgs = append(c.msgs, m)
		c.subjects = append(c.subjects, subj)
		c.expect = append(c.expect, exp)
	}
	return c
}

// queue puts cmds in the queue and starts one flight; it returns once all
// are answered.
func queue(t *testing.T, g *group, cmds ...*batchCmd) []batchResult {
	t.Helper()
	g.mu.Lock()
	g.queue = append(g.queue, cmds...)
	g.running++
	g.mu.Unlock()
	go g.fly()
	out := make([]batchResult, len(cmds))
	for i, c := range cmds {
		select {
		case out[i] = <-c.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("command %d not answered", i)
		}
	}
	return out
}

func lastSeq(t *testing.T, s *Store, subj string) uint64 {
	t.Helper()
	seq, err := s.LastSeq(context.Background(), subj)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestGroupSharesOneBatch(t *testing.T) {
	s := newGroupStore(t)
	res := queue(t, s.groups[0], pair("a", 1, 2, 0, 0), pair("b", 3, 4, 0, 0), pair("c", 5, 6, 0, 0))
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("command %d: %v", i, r.err)
		}
	}
	// One batch of six messages at sequences 1..6, each command ending
	// where its messages end.
	for i, want := range []uint64{2, 4, 6} {
		if res[i].last != want {
			t.Errorf("command %d last = %d, want %d", i, res[i].last, want)
		}
	}
	if st := s.Stats(); st.Batches != 1 || st.BatchedCmds != 3 {
		t.Errorf("%d batches of %d commands, want 1 of 3", st.Batches, st.BatchedCmds)
	}
	for agg, want := range map[int64]uint64{1: 1, 2: 2, 5: 5, 6: 6} {
		if got := lastSeq(t, s, "evt.gt."+strconv.FormatInt(agg, 10)); got != want {
			t.Errorf("last of %d = %d, want %d", agg, got, want)
		}
	}
}

func TestGroupIsolatesAStaleCommand(t *testing.T) {
	s := newGroupStore(t)
	// Aggregate 3 already has an event the stale command does not expect.
	if r := queue(t, s.groups[0], pair("x", 3, 9, 0, 0)); r[0].err != nil {
		t.Fatal(r[0].err)
	}
	res := queue(t, s.groups[0], pair("a", 1, 2, 0, 0), pair("stale", 3, 4, 0, 0), pair("c", 5, 6, 0, 0))
	if !errors.Is(res[1].err, errStale) {
		t.Fatalf("stale: %v, want errStale", res[1].err)
	}
	if !isConflict(res[1].err) {
		t.Error("errStale is not a conflict for Exec")
	}
	for _, i := range []int{0, 2} {
		if res[i].err != nil {
			t.Fatalf("command %d sank with the stale one: %v", i, res[i].err)
		}
	}
	// The refused batch stored nothing; the retry stored a and c only.
	if got := lastSeq(t, s, "evt.gt.4"); got != 0 {
		t.Errorf("stale command's aggregate 4 at %d, want nothing stored", got)
	}
	if a, c := lastSeq(t, s, "evt.gt.2"), lastSeq(t, s, "evt.gt.6"); a != res[0].last || c != res[2].last {
		t.Errorf("stored at %d, %d; answered %d, %d", a, c, res[0].last, res[2].last)
	}
}

func TestGroupIsolatesARepeatedCommand(t *testing.T) {
	s := newGroupStore(t)
	if r := queue(t, s.groups[0], pair("dup", 1, 2, 0, 0)); r[0].err != nil {
		t.Fatal(r[0].err)
	}
	// The same command again (its ack was lost, say): same Msg-Ids, same
	// expectations. It is reported stale (Exec then finds it stored); the
	// other command is stored once.
	res := queue(t, s.groups[0], pair("dup", 1, 2, 0, 0), pair("b", 3, 4, 0, 0))
	if !errors.Is(res[0].err, errStale) {
		t.Fatalf("dup: %v, want errStale", res[0].err)
	}
	if res[1].err != nil {
		t.Fatalf("b: %v", res[1].err)
	}
	stream, err := s.js.Stream(context.Background(), bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 {
		t.Errorf("stream holds %d messages, want 4 (dup stored once, b once)", info.State.Msgs)
	}
}

// A batch refused twice for a duplicate Msg-Id that no stale check
// explains (here a command repeated with up-to-date expectations) must not
// pass the refusal on as each command's outcome: Exec takes "duplicate" for
// "already stored", and the other command's client would be answered OK for
// events the stream never took.
func TestGroupDuplicateIsNotTheOthersOutcome(t *testing.T) {
	s := newGroupStore(t)
	if r := queue(t, s.groups[0], pair("dup", 1, 2, 0, 0)); r[0].err != nil {
		t.Fatal(r[0].err)
	}
	res := queue(t, s.groups[0], pair("dup", 1, 2, 1, 2), pair("b", 3, 4, 0, 0))
	if isDuplicateBatch(res[1].err) || errors.Is(res[1].err, errDuplicateAck) {
		t.Fatalf("b: %v: told it was stored already", res[1].err)
	}
	if res[1].err != nil && !errors.Is(res[1].err, errStale) {
		t.Fatalf("b: %v, want stored or errStale (reload and decide again)", res[1].err)
	}
	if res[1].err != nil {
		if got := lastSeq(t, s, "evt.gt.4"); got != 0 {
			t.Errorf("b refused but its aggregate 4 is at %d", got)
		}
	}
}

func TestGroupCancelledWhileQueued(t *testing.T) {
	s := newGroupStore(t)
	c := pair("a", 1, 2, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// No flight may start before the cancel is seen: hold the slots.
	s.groups[0].mu.Lock()
	s.groups[0].running = s.groups[0].flights
	s.groups[0].mu.Unlock()
	if _, err := s.groups[0].publish(ctx, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	s.groups[0].mu.Lock()
	n := len(s.groups[0].queue)
	s.groups[0].mu.Unlock()
	if n != 0 {
		t.Fatalf("%d commands left queued after their context ended", n)
	}
}

func TestTurnsGiveUpWithTheContext(t *testing.T) {
	tr := newTurns(8)
	done, err := tr.take(context.Background(), []string{"evt.gt.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// evt.gt.2 may or may not share a slot with evt.gt.1; evt.gt.1 is held.
	if _, err := tr.take(ctx, []string{"evt.gt.2", "evt.gt.1"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take of a held aggregate = %v, want the deadline", err)
	}
	done()
	// Nothing stays held by the attempt that gave up.
	again, err := tr.take(context.Background(), []string{"evt.gt.1", "evt.gt.2"})
	if err != nil {
		t.Fatal(err)
	}
	again()
}
