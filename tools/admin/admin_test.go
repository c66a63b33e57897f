package admin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"strconv"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/game"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/tools/internal/tooltest"
	"github.com/qeetap/hive/tools/replay"
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
	if api := m.Header.Get(envelope.HdrAPI); api != "msg.Kick.Res" {
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

// A kick of a player that does not exist says so and publishes nothing; a
// player that exists but is offline is kicked fine.
func TestKickPlayerOfNobody(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := tooltest.Ctx(t)
	sub, err := n.Conn.SubscribeSync("user.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	admin := n.ConnectAs(t, bus.RoleAdmin)
	err = KickPlayer(ctx, admin, 99999, "")
	if !errors.Is(err, replay.ErrNoEvents) || !strings.Contains(err.Error(), "player 99999 does not exist") {
		t.Fatalf("kick of nobody: %v, want an error saying player 99999 does not exist", err)
	}
	uid := tooltest.CreatePlayer(t, n)
	if err := KickPlayer(ctx, admin, uid, ""); err != nil {
		t.Fatalf("kick of an offline player with events: %v", err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil || m.Subject != bus.UserSubject(uid) {
		t.Fatalf("first kick published: %v %v; want only the one of %d", m, err, uid)
	}
}

// Player of a player without events says so; presence is read from the
// presence bucket.
func TestPlayer(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := tooltest.Ctx(t)
	if _, err := Player(ctx, tooltest.ToolsJS(t, n), 424242); !errors.Is(err, replay.ErrNoEvents) {
		t.Errorf("Player of nobody: %v", err)
	}
	uid := tooltest.CreatePlayer(t, n)

	// Presence: offline until the bucket has the player.
	st, err := Player(ctx, tooltest.ToolsJS(t, n), uid)
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
	if _, err := kv.Put(ctx, strconv.FormatInt(uid, 10), b); err != nil {
		t.Fatal(err)
	}
	if st, err = Player(ctx, tooltest.ToolsJS(t, n), uid); err != nil || !st.Online || st.Gate != "g1" || st.Session != "7" || st.Since != "2023-11-14T22:13:20Z" {
		t.Errorf("Player with presence: %+v, %v", st, err)
	}
}
