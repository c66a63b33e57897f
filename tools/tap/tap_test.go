package tap

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/tools/internal/tooltest"
)

// tapLines runs Tap to completion and parses its output.
func tapLines(t *testing.T, nc *nats.Conn, opt Options) []map[string]any {
	t.Helper()
	var out bytes.Buffer
	opt.Out = &out
	ctx := tooltest.Ctx(t)
	if err := Run(ctx, nc, opt); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Tap %+v ran until the test's time was up: it did not stop by itself", opt)
	}
	return tooltest.ParseLines(t, out.Bytes())
}

func seqs(lines []map[string]any) []float64 {
	var s []float64
	for _, l := range lines {
		s = append(s, l["stream_seq"].(float64))
	}
	return s
}

func TestTapFromStart(t *testing.T) {
	n := testenv.StartNATS(t)
	tooltest.PublishEvent(t, n, "evt.player.10001", &evt.ItemsGranted{Items: []*evt.ItemDelta{{Idx: proto.Int32(100), Num: proto.Int64(5)}}, Reason: proto.String("mail"), At: proto.Int64(1700000000)})
	tooltest.PublishEvent(t, n, "evt.player.10001", &evt.Renamed{Name: proto.String("neo")})
	tooltest.Publish(t, n, "evt.player.10001", "evt.FromTheFuture", []byte{8, 1})
	tooltest.Publish(t, n, "evt.player.10001", "", []byte{8, 1})
	tooltest.Publish(t, n, "evt.player.10001", "evt.Renamed", []byte{0xff})

	lines := tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{FromStart: true, Limit: 5})
	if len(lines) != 5 {
		t.Fatalf("%d lines", len(lines))
	}
	l := lines[0]
	if l["stream_seq"].(float64) != 1 || l["subject"] != "evt.player.10001" || l["type"] != "evt.ItemsGranted" ||
		l["cmd"] != "cmd-evt.player.10001" || l["corr"] != "corr-1" || l["error"] != nil {
		t.Fatalf("line 1: %v", l)
	}
	if _, err := time.Parse(time.RFC3339, l["time"].(string)); err != nil {
		t.Fatalf("time: %v", err)
	}
	ev := l["event"].(map[string]any)
	item := ev["items"].([]any)[0].(map[string]any)
	if item["idx"].(float64) != 100 || item["num"] != "5" || ev["reason"] != "mail" {
		t.Fatalf("event: %v", ev)
	}
	if lines[1]["event"].(map[string]any)["name"] != "neo" {
		t.Fatalf("line 2: %v", lines[1])
	}
	for i, want := range map[int]string{2: "unknown event type", 3: "no Hive-Event header", 4: "decode evt.Renamed"} {
		l := lines[i]
		if ev, ok := l["event"]; !ok || ev != nil || !strings.Contains(l["error"].(string), want) {
			t.Fatalf("line %d: %v, want event null and an error about %q", i+1, l, want)
		}
	}
}

func TestTapSubjectFilter(t *testing.T) {
	n := testenv.StartNATS(t)
	tooltest.PublishEvent(t, n, "evt.player.1", &evt.Renamed{Name: proto.String("a")})
	tooltest.PublishEvent(t, n, "evt.account.2", &evt.GuestCreated{AccountId: proto.Int64(2)})
	tooltest.PublishEvent(t, n, "evt.player.1", &evt.Renamed{Name: proto.String("b")})
	lines := tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{Subject: "evt.account.*", FromStart: true, Limit: 1})
	if len(lines) != 1 || lines[0]["subject"] != "evt.account.2" || lines[0]["type"] != "evt.GuestCreated" {
		t.Fatalf("lines %v", lines)
	}
	lines = tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{Subject: "evt.player.1", Since: time.Hour, Limit: 2})
	if got := seqs(lines); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("player 1 since an hour: seqs %v", got)
	}
}

// waitConsumer waits until the EVENTS stream has want consumers, i.e. a
// Tap started in another goroutine is in place.
func waitConsumer(t *testing.T, n *testenv.NATS, want int) {
	t.Helper()
	ctx := tooltest.Ctx(t)
	s, err := n.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Consumers >= want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("tap consumer never appeared")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// By default Tap shows only new events, follows until cancelled and then
// returns nil.
func TestTapFollowsNewEvents(t *testing.T) {
	n := testenv.StartNATS(t)
	tooltest.PublishEvent(t, n, "evt.player.1", &evt.Renamed{Name: proto.String("old")})
	ctx, cancel := context.WithCancel(tooltest.Ctx(t))
	var out tooltest.Buffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, n.ConnectAs(t, bus.RoleTools), Options{Out: &out}) }()
	waitConsumer(t, n, 1)
	tooltest.PublishEvent(t, n, "evt.player.1", &evt.Renamed{Name: proto.String("new1")})
	tooltest.PublishEvent(t, n, "evt.player.1", &evt.Renamed{Name: proto.String("new2")})
	deadline := time.After(20 * time.Second)
	for len(tooltest.ParseLines(t, out.Bytes())) < 2 {
		select {
		case <-deadline:
			t.Fatalf("output so far: %s", out.Bytes())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Tap after cancel: %v", err)
	}
	lines := tooltest.ParseLines(t, out.Bytes())
	if got := seqs(lines); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("seqs %v, want [2 3]", got)
	}
}

// A durable consumer resumes after the last event printed.
func TestTapDurableResumes(t *testing.T) {
	n := testenv.StartNATS(t)
	for i := range 5 {
		tooltest.PublishEvent(t, n, "evt.player.1", &evt.SceneEntered{Scene: proto.Int32(int32(i))})
	}
	nc := n.ConnectAs(t, bus.RoleTools)
	if got := seqs(tapLines(t, nc, Options{Consumer: "job", FromStart: true, Limit: 2})); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("first run: %v", got)
	}
	// A new connection, as a restarted job would have.
	nc2 := n.ConnectAs(t, bus.RoleTools)
	if got := seqs(tapLines(t, nc2, Options{Consumer: "job", FromStart: true, Limit: 2})); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Fatalf("second run: %v", got)
	}
	// Cancelled mid-follow: what it printed stays acknowledged.
	ctx, cancel := context.WithCancel(tooltest.Ctx(t))
	var out tooltest.Buffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, nc2, Options{Consumer: "job", Out: &out}) }()
	deadline := time.After(20 * time.Second)
	for len(tooltest.ParseLines(t, out.Bytes())) < 1 {
		select {
		case <-deadline:
			t.Fatal("no event")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := seqs(tooltest.ParseLines(t, out.Bytes())); len(got) != 1 || got[0] != 5 {
		t.Fatalf("third run: %v", got)
	}
	tooltest.PublishEvent(t, n, "evt.player.1", &evt.SceneLeft{})
	if got := seqs(tapLines(t, nc2, Options{Consumer: "job", Limit: 1})); len(got) != 1 || got[0] != 6 {
		t.Fatalf("fourth run: %v", got)
	}
	var out2 bytes.Buffer
	err := Run(tooltest.Ctx(t), nc2, Options{Consumer: "job", Subject: "evt.account.*", Limit: 1, Out: &out2})
	if err == nil || !strings.Contains(err.Error(), "filters") {
		t.Fatalf("filter change: %v", err)
	}
}

func TestTapBadOptions(t *testing.T) {
	n := testenv.StartNATS(t)
	for _, opt := range []Options{{}, {Out: &bytes.Buffer{}, Limit: -1}, {Out: &bytes.Buffer{}, Since: -time.Second}} {
		if err := Run(tooltest.Ctx(t), n.ConnectAs(t, bus.RoleTools), opt); err == nil {
			t.Fatalf("%+v accepted", opt)
		}
	}
}

// NoFollow stops at the end of what was stored when Tap started, without a
// limit, for an ordered and a durable consumer alike.
func TestTapNoFollow(t *testing.T) {
	n := testenv.StartNATS(t)
	// An empty stream: nothing to print, and it returns.
	if lines := tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{FromStart: true, NoFollow: true}); len(lines) != 0 {
		t.Fatalf("empty stream: %v", lines)
	}
	for i := range 3 {
		tooltest.PublishEvent(t, n, "evt.player.1", &evt.SceneEntered{Scene: proto.Int32(int32(i))})
	}
	tooltest.PublishEvent(t, n, "evt.account.2", &evt.GuestCreated{AccountId: proto.Int64(2)})
	if got := seqs(tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{FromStart: true, NoFollow: true})); len(got) != 4 || got[3] != 4 {
		t.Fatalf("from start: %v", got)
	}
	if got := seqs(tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{Since: time.Hour, Subject: "evt.player.1", NoFollow: true})); len(got) != 3 || got[2] != 3 {
		t.Fatalf("since, one player: %v", got)
	}
	// Nothing matches from where it starts (new events only).
	if got := tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{NoFollow: true}); len(got) != 0 {
		t.Fatalf("new events only: %v", got)
	}
	if got := seqs(tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{FromStart: true, NoFollow: true, Limit: 2})); len(got) != 2 {
		t.Fatalf("with a limit: %v", got)
	}
	nc := n.Connect(t, "job")
	if got := seqs(tapLines(t, nc, Options{Consumer: "nf", FromStart: true, NoFollow: true})); len(got) != 4 {
		t.Fatalf("durable, first run: %v", got)
	}
	tooltest.PublishEvent(t, n, "evt.player.1", &evt.SceneLeft{})
	if got := seqs(tapLines(t, nc, Options{Consumer: "nf", NoFollow: true})); len(got) != 1 || got[0] != 5 {
		t.Fatalf("durable, second run: %v", got)
	}
	if got := tapLines(t, nc, Options{Consumer: "nf", NoFollow: true}); len(got) != 0 {
		t.Fatalf("durable, nothing new: %v", got)
	}
}

// A durable consumer's first run starts where Since says.
func TestTapDurableFirstRunSince(t *testing.T) {
	n := testenv.StartNATS(t)
	for i := range 3 {
		tooltest.PublishEvent(t, n, "evt.player.1", &evt.SceneEntered{Scene: proto.Int32(int32(i))})
	}
	if got := seqs(tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{Consumer: "since-job", Since: time.Hour, Limit: 3})); len(got) != 3 || got[0] != 1 {
		t.Fatalf("first run with since: %v", got)
	}
}

// An existing consumer refuses a start that differs from the one it was
// created with, naming it and how to reset it; the same start, or none,
// resumes it; Reset starts it over.
func TestTapDurableConflictingStart(t *testing.T) {
	n := testenv.StartNATS(t)
	for i := range 3 {
		tooltest.PublishEvent(t, n, "evt.player.1", &evt.SceneEntered{Scene: proto.Int32(int32(i))})
	}
	if got := tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{Consumer: "fresh", NoFollow: true}); len(got) != 0 {
		t.Fatalf("new-events consumer printed %v", got)
	}
	for _, opt := range []Options{{Consumer: "fresh", FromStart: true}, {Consumer: "fresh", Since: time.Hour}} {
		opt.Out, opt.NoFollow = &bytes.Buffer{}, true
		err := Run(tooltest.Ctx(t), n.ConnectAs(t, bus.RoleTools), opt)
		if err == nil || !strings.Contains(err.Error(), `"fresh"`) || !strings.Contains(err.Error(), "--reset") {
			t.Fatalf("%+v on an existing consumer: %v, want an error naming it and --reset", opt, err)
		}
	}
	if got := seqs(tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{Consumer: "old", Since: time.Hour, Limit: 1})); len(got) != 1 {
		t.Fatalf("since: %v", got)
	}
	if got := seqs(tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{Consumer: "old", Since: time.Hour, NoFollow: true})); len(got) != 2 || got[0] != 2 {
		t.Fatalf("the same --since resumes: %v", got)
	}
	err := Run(tooltest.Ctx(t), n.Conn, Options{Consumer: "old", Since: 2 * time.Hour, NoFollow: true, Out: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "--since 1h") {
		t.Fatalf("another --since: %v, want an error naming the one it was created with", err)
	}
	if got := seqs(tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{Consumer: "old", FromStart: true, Reset: true, NoFollow: true})); len(got) != 3 || got[0] != 1 {
		t.Fatalf("reset, from start: %v", got)
	}
}

func TestCheckSubject(t *testing.T) {
	for _, ok := range []string{"evt.>", "evt.player.10001", "evt.account.*"} {
		if err := CheckSubject(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for in, want := range map[string]string{"player.10001": "evt.player.10001", ">": "evt.>", "evt": "evt.>", "": "evt.>"} {
		if err := CheckSubject(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error suggesting %s", in, err, want)
		}
	}
}

// In a store of 4 partitions tap prints every partition's events, each
// line with its partition and the sequence in that partition's stream,
// each player's events in order; a one-player filter reads its partition.
func TestTapEveryPartition(t *testing.T) {
	const parts = 4
	n := testenv.StartNATSStore(t, bus.StoreConfig{Partitions: parts})
	ids := []int64{}
	seen := map[int]bool{}
	for id := int64(10001); len(seen) < parts || len(ids) < 8; id++ {
		seen[bus.PlayerPartition(id, parts)] = true
		ids = append(ids, id)
	}
	for round := range 3 {
		for _, id := range ids {
			tooltest.PublishEvent(t, n, bus.PlayerSubject(id), &evt.SceneEntered{Scene: proto.Int32(int32(round))})
		}
	}
	lines := tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{FromStart: true, NoFollow: true})
	if len(lines) != 3*len(ids) {
		t.Fatalf("%d lines, want %d", len(lines), 3*len(ids))
	}
	next := map[string]float64{}     // the scene each player's next line must have
	lastSeq := map[float64]float64{} // the last sequence printed of each partition
	for _, l := range lines {
		subj := l["subject"].(string)
		_, id, err := bus.ParseEventSubject(subj)
		if err != nil {
			t.Fatal(err)
		}
		part := l["partition"].(float64)
		if int(part) != bus.PlayerPartition(id, parts) {
			t.Fatalf("%s printed as partition %v, it is in %d", subj, part, bus.PlayerPartition(id, parts))
		}
		if seq := l["stream_seq"].(float64); seq <= lastSeq[part] {
			t.Fatalf("partition %v: seq %v after %v", part, seq, lastSeq[part])
		} else {
			lastSeq[part] = seq
		}
		if scene := l["event"].(map[string]any)["scene"].(float64); scene != next[subj] {
			t.Fatalf("%s: scene %v, want %v: out of order", subj, scene, next[subj])
		}
		next[subj]++
	}
	if len(lastSeq) != parts {
		t.Fatalf("lines of %d partitions, want %d", len(lastSeq), parts)
	}
	one := bus.PlayerSubject(ids[len(ids)-1])
	if got := tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{FromStart: true, NoFollow: true, Subject: one}); len(got) != 3 {
		t.Fatalf("one player: %d lines, want 3", len(got))
	}
	if got := tapLines(t, n.ConnectAs(t, bus.RoleTools), Options{FromStart: true, NoFollow: true, Limit: 5}); len(got) != 5 {
		t.Fatalf("limit 5 over the partitions: %d lines", len(got))
	}
	nc := n.Connect(t, "job")
	if got := tapLines(t, nc, Options{Consumer: "all", FromStart: true, NoFollow: true}); len(got) != 3*len(ids) {
		t.Fatalf("durable over the partitions: %d lines", len(got))
	}
}
