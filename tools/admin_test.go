package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/game"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
)

func TestParseItems(t *testing.T) {
	got, err := ParseItems(" 100:10, 102:1 ")
	if err != nil || len(got) != 2 || got[0] != (game.Amount{Idx: 100, Num: 10}) || got[1] != (game.Amount{Idx: 102, Num: 1}) {
		t.Fatalf("ParseItems = %v, %v", got, err)
	}
	if got, err := ParseItems(""); err != nil || got != nil {
		t.Errorf("ParseItems(\"\") = %v, %v; want none", got, err)
	}
	for in, want := range map[string]string{
		"100":           "want idx:num",
		"100:":          "not a count",
		"100:0":         "not a count",
		"100:-3":        "not a count",
		"x:1":           "not an item index",
		"-1:1":          "not an item index",
		"99999999999:1": "not an item index",
		"100:1,100:2":   "given twice",
		"100:1,,":       "want idx:num",
	} {
		if _, err := ParseItems(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseItems(%q) = %v, want an error with %q", in, err, want)
		}
	}
	var many []string
	for i := range game.MaxMailItems + 1 {
		many = append(many, strings.Repeat("1", i+1)+":1")
	}
	if _, err := ParseItems(strings.Join(many, ",")); err == nil {
		t.Errorf("ParseItems of %d items: no error", len(many))
	}
}

func TestParseIDs(t *testing.T) {
	if ids, err := ParseIDs("10001, 10002"); err != nil || len(ids) != 2 || ids[1] != 10002 {
		t.Errorf("ParseIDs = %v, %v", ids, err)
	}
	for _, in := range []string{"", "0", "-5", "abc", "1,,2"} {
		if _, err := ParseIDs(in); err == nil {
			t.Errorf("ParseIDs(%q): no error", in)
		}
	}
}

// Kick publishes the gate's kick contract: msg.Kick.Res on user.<uid>,
// with Hive-Api and no Hive-Kick-Keep.
func TestKick(t *testing.T) {
	n := testenv.StartNATS(t)
	sub, err := n.Conn.SubscribeSync(bus.UserSubject(10001))
	if err != nil {
		t.Fatal(err)
	}
	// The server must know the subscription before the other connection publishes.
	if err := n.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	other := n.ConnectAs(t, bus.RoleAdmin)
	if err := Kick(other, 10001, ""); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if api := m.Header.Get(bus.HdrAPI); api != "msg.Kick.Res" {
		t.Errorf("Hive-Api = %q, want msg.Kick.Res", api)
	}
	if m.Header.Get("Hive-Kick-Keep") != "" {
		t.Error("an operator kick must not carry Hive-Kick-Keep")
	}
	var res msg.Kick_Res
	if err := proto.Unmarshal(m.Data, &res); err != nil || res.GetCode() != int32(def.ResCode_RC_LOGIN_KICKED) || res.GetReason() != KickReason {
		t.Errorf("kick payload %v, %v", &res, err)
	}
	if err := Kick(other, 0, ""); err == nil {
		t.Error("Kick of player 0: no error")
	}
}

// ServeGates answers with the registry's gates for the right token only;
// without a server GatesOverBus says what to do.
func TestGatesOverBus(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := GatesOverBus(ctx, n.Conn, "tok"); !errors.Is(err, ErrNoGatesService) {
		t.Fatalf("no server: %v, want ErrNoGatesService", err)
	}
	reg := registry.NewMemory()
	if _, err := reg.Register(ctx, registry.Gate{ID: "g1", Addr: "127.0.0.1:9000", Conns: 3, Capacity: 10}); err != nil {
		t.Fatal(err)
	}
	sub, err := ServeGates(n.ConnectAs(t, bus.RoleUC), "tok", reg)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	cli := n.ConnectAs(t, bus.RoleAdmin)
	gates, err := GatesOverBus(ctx, cli, "tok")
	if err != nil || len(gates) != 1 || gates[0].ID != "g1" || gates[0].Conns != 3 {
		t.Errorf("gates = %+v, %v", gates, err)
	}
	if _, err := GatesOverBus(ctx, cli, "wrong"); err == nil || !strings.Contains(err.Error(), "RC_FORBIDDEN") {
		t.Errorf("wrong token: %v, want RC_FORBIDDEN", err)
	}
	// An empty server token refuses everyone, even an empty client token.
	sub.Unsubscribe()
	sub2, err := ServeGates(n.Conn, "", reg)
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Unsubscribe()
	if _, err := GatesOverBus(ctx, cli, ""); err == nil {
		t.Error("empty token accepted")
	}
}

// Replay and Player of a player without events say so; presence is read
// from the presence bucket.
func TestReplayAndPlayer(t *testing.T) {
	n := testenv.StartNATS(t)
	js, err := jetstream.New(n.ConnectAs(t, bus.RoleTools)) // the tools read with their own identity
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err = Replay(ctx, js, ReplayOptions{Player: 424242, Out: &out})
	if !errors.Is(err, ErrNoEvents) || err.Error() != "player 424242 has no events" || out.Len() != 0 {
		t.Errorf("Replay of nobody: %v, output %q", err, out.String())
	}
	if _, err := Player(ctx, js, 424242); !errors.Is(err, ErrNoEvents) {
		t.Errorf("Player of nobody: %v", err)
	}

	// A player with one event: PlayerCreated, as the game appends it.
	uid := createPlayer(t, n)
	out.Reset()
	if err := Replay(ctx, js, ReplayOptions{Player: uid, Out: &out}); err != nil {
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
	if err := Replay(ctx, js, ReplayOptions{Player: uid, Steps: true, Out: &out}); err != nil {
		t.Fatal(err)
	}
	var step ReplayStep
	first, _, _ := strings.Cut(out.String(), "\n")
	if err := json.Unmarshal([]byte(first), &step); err != nil || step.Type != "evt.PlayerCreated" || step.StreamSeq == 0 || len(step.State) == 0 {
		t.Errorf("Replay --steps first line %q (%v)", first, err)
	}

	// Presence: offline until the bucket has the player.
	st, err := Player(ctx, js, uid)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := n.JS.KeyValue(ctx, bus.PresenceBucket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Online {
		t.Errorf("Player without presence: %+v; want offline", st)
	}
	b, _ := json.Marshal(game.Online{Gate: "g1", Session: "7", At: 1700000000})
	if _, err := kv.Put(ctx, u.ID, b); err != nil {
		t.Fatal(err)
	}
	if st, err = Player(ctx, js, uid); err != nil || !st.Online || st.Gate != "g1" || st.Session != "7" || st.Since != "2023-11-14T22:13:20Z" {
		t.Errorf("Player with presence: %+v, %v", st, err)
	}
}

// createPlayer stores a PlayerCreated event for a new player, as the game
// appends it on a first login, and returns the player's id.
func createPlayer(t *testing.T, n *testenv.NATS) int64 {
	t.Helper()
	const uid = 20001
	b, err := proto.Marshal(&evt.PlayerCreated{
		Account: proto.Int64(uid),
		Items:   []*evt.ItemDelta{{Idx: proto.Int32(100), Num: proto.Int64(1000)}},
		Totals:  []*evt.ItemDelta{{Idx: proto.Int32(100), Num: proto.Int64(1000)}},
		At:      proto.Int64(1700000000),
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, n, bus.PlayerSubject(uid), "evt.PlayerCreated", b)
	return uid
}

// A kick of a player that does not exist says so and publishes nothing; a
// player that exists but is offline is kicked fine.
func TestKickPlayerOfNobody(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	sub, err := n.Conn.SubscribeSync("user.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	admin := n.Connect(t, "admin")
	err = KickPlayer(ctx, admin, 99999, "")
	if !errors.Is(err, ErrNoEvents) || !strings.Contains(err.Error(), "player 99999 does not exist") {
		t.Fatalf("kick of nobody: %v, want an error saying player 99999 does not exist", err)
	}
	uid := createPlayer(t, n)
	if err := KickPlayer(ctx, admin, uid, ""); err != nil {
		t.Fatalf("kick of an offline player with events: %v", err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil || m.Subject != bus.UserSubject(uid) {
		t.Fatalf("first kick published: %v %v; want only the one of %d", m, err, uid)
	}
}

// A replay bounded before the player's first event says when that event
// is, not that the player has no events.
func TestReplayBeforeFirstEvent(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	publishEvent(t, n, "evt.account.1", &evt.GuestCreated{AccountId: proto.Int64(1)}) // seq 1: someone else's
	uid := createPlayer(t, n)                                                         // seq 2
	seq, at, found, err := FirstEvent(ctx, n.JS, uid)
	if err != nil || !found || seq != 2 {
		t.Fatalf("FirstEvent = %d %v %v %v", seq, at, found, err)
	}
	var out bytes.Buffer
	err = Replay(ctx, n.JS, ReplayOptions{Player: uid, ToTime: at.Add(-time.Hour), Out: &out})
	want := "player 20001's first event is at " + at.UTC().Format(time.RFC3339Nano) + " (stream seq 2): nothing of it is stored at or before --to-time "
	if !errors.Is(err, ErrNoEvents) || err == nil || !strings.HasPrefix(err.Error(), want) || out.Len() != 0 {
		t.Fatalf("replay before the first event: %v, want %q...", err, want)
	}
	err = Replay(ctx, n.JS, ReplayOptions{Player: uid, ToSeq: 1, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "(stream seq 2): nothing of it is stored at or before --to-seq 1") {
		t.Fatalf("replay --to-seq before the first event: %v", err)
	}
	if err := Replay(ctx, n.JS, ReplayOptions{Player: 424242, ToSeq: 1, Out: &out}); err == nil || err.Error() != "player 424242 has no events" {
		t.Fatalf("replay of nobody with a bound: %v", err)
	}
}
