package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/tools/internal/tooltest"
)

// A replay of a player without events says so; of a player with events it
// prints the state, or each step with --steps.
func TestReplay(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := tooltest.Ctx(t)
	var out bytes.Buffer
	err := Run(ctx, tooltest.ToolsJS(t, n), Options{Player: 424242, Out: &out})
	if !errors.Is(err, ErrNoEvents) || err.Error() != "player 424242 has no events" || out.Len() != 0 {
		t.Errorf("Replay of nobody: %v, output %q", err, out.String())
	}

	// A player with one event: PlayerCreated, as the game appends it.
	uid := tooltest.CreatePlayer(t, n)
	out.Reset()
	if err := Run(ctx, tooltest.ToolsJS(t, n), Options{Player: uid, Out: &out}); err != nil {
		t.Fatal(err)
	}
	var u struct {
		ID    string `json:"id"`
		Items []struct {
			Idx int32 `json:"idx"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out.Bytes(), &u); err != nil || u.ID == "" || len(u.Items) == 0 || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("Replay printed %q (%v), want one def.User line with items", out.String(), err)
	}
	out.Reset()
	if err := Run(ctx, tooltest.ToolsJS(t, n), Options{Player: uid, Steps: true, Out: &out}); err != nil {
		t.Fatal(err)
	}
	var step Step
	first, _, _ := strings.Cut(out.String(), "\n")
	if err := json.Unmarshal([]byte(first), &step); err != nil || step.Type != "evt.PlayerCreated" || step.StreamSeq == 0 || len(step.State) == 0 {
		t.Errorf("Replay --steps first line %q (%v)", first, err)
	}
}

// A replay bounded before the player's first event says when that event
// is, not that the player has no events.
func TestReplayBeforeFirstEvent(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := tooltest.Ctx(t)
	tooltest.PublishEvent(t, n, "evt.account.1", &evt.GuestCreated{AccountId: proto.Int64(1)}) // seq 1: someone else's
	uid := tooltest.CreatePlayer(t, n)                                                         // seq 2
	seq, at, found, err := FirstEvent(ctx, tooltest.ToolsJS(t, n), uid)
	if err != nil || !found || seq != 2 {
		t.Fatalf("FirstEvent = %d %v %v %v", seq, at, found, err)
	}
	var out bytes.Buffer
	err = Run(ctx, tooltest.ToolsJS(t, n), Options{Player: uid, ToTime: at.Add(-time.Hour), Out: &out})
	want := "player 20001's first event is at " + at.UTC().Format(time.RFC3339Nano) + " (stream seq 2): nothing of it is stored at or before --to-time "
	if !errors.Is(err, ErrNoEvents) || err == nil || !strings.HasPrefix(err.Error(), want) || out.Len() != 0 {
		t.Fatalf("replay before the first event: %v, want %q...", err, want)
	}
	err = Run(ctx, tooltest.ToolsJS(t, n), Options{Player: uid, ToSeq: 1, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "(stream seq 2): nothing of it is stored at or before --to-seq 1") {
		t.Fatalf("replay --to-seq before the first event: %v", err)
	}
	if err := Run(ctx, tooltest.ToolsJS(t, n), Options{Player: 424242, ToSeq: 1, Out: &out}); err == nil || err.Error() != "player 424242 has no events" {
		t.Fatalf("replay of nobody with a bound: %v", err)
	}
}

// In a store of 4 partitions a player replays from its partition's stream,
// its steps naming that partition and that stream's sequences.
func TestReplayInItsPartition(t *testing.T) {
	const parts = 4
	n := testenv.StartNATSStore(t, bus.StoreConfig{Partitions: parts})
	ctx := tooltest.Ctx(t)
	uid := tooltest.CreatePlayer(t, n)
	part := bus.PlayerPartition(uid, parts)
	if part == 0 {
		t.Fatalf("player %d is in partition 0: pick one elsewhere", uid)
	}
	// Others' events in partition 0 move EVENTS's sequence, not the player's.
	for i := range 5 {
		tooltest.PublishEvent(t, n, "evt.account."+string(rune('1'+i)), &evt.GuestCreated{AccountId: proto.Int64(1)})
	}
	tooltest.PublishEvent(t, n, bus.PlayerSubject(uid), &evt.Renamed{Name: proto.String("neo")})
	seq, _, found, err := FirstEvent(ctx, tooltest.ToolsJS(t, n), uid)
	if err != nil || !found || seq != 1 {
		t.Fatalf("FirstEvent = %d %v %v, want seq 1 of %s", seq, found, err, bus.EventsStreamFor(part))
	}
	var out bytes.Buffer
	if err := Run(ctx, tooltest.ToolsJS(t, n), Options{Player: uid, Steps: true, Out: &out}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("steps: %q", out.String())
	}
	for i, l := range lines {
		var step Step
		if err := json.Unmarshal([]byte(l), &step); err != nil || step.Partition != part || step.StreamSeq != uint64(i+1) {
			t.Fatalf("step %d: %s (%v), want partition %d seq %d", i, l, err, part, i+1)
		}
	}
	out.Reset()
	if err := Run(ctx, tooltest.ToolsJS(t, n), Options{Player: uid, ToSeq: 1, Out: &out}); err != nil || strings.Contains(out.String(), "neo") {
		t.Fatalf("replay to seq 1 of its stream: %s, %v", out.String(), err)
	}
}
