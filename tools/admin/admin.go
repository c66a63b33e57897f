// Package admin is the logic of `hive admin`: kicks, player status, mail
// attachments and the admin.gates service.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/game"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/tools/internal/jsonl"
	"github.com/qeetap/hive/tools/replay"
)

// ParseItems parses `hive admin mail --items`: comma-separated idx:num
// pairs, e.g. "100:10,101:5" (10 gold, 5 diamonds). Empty = no attachments. Each idx is a number
// >= 0 that may appear once, each num a number > 0; at most
// game.MaxMailItems pairs. Whether an idx is in the item table is the
// game's to check (it answers RC_BAD_REQUEST naming it).
func ParseItems(s string) ([]game.Amount, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []game.Amount
	seen := map[int32]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		idxS, numS, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("item %d %q: want idx:num, e.g. 100:10", i+1, part)
		}
		idx, err := strconv.ParseInt(strings.TrimSpace(idxS), 10, 32)
		if err != nil || idx < 0 {
			return nil, fmt.Errorf("item %d %q: idx %q is not an item index (a number >= 0)", i+1, part, idxS)
		}
		num, err := strconv.ParseInt(strings.TrimSpace(numS), 10, 64)
		if err != nil || num <= 0 {
			return nil, fmt.Errorf("item %d %q: num %q is not a count (a number > 0)", i+1, part, numS)
		}
		if seen[int32(idx)] {
			return nil, fmt.Errorf("item %d %q: idx %d given twice", i+1, part, idx)
		}
		seen[int32(idx)] = true
		out = append(out, game.Amount{Idx: int32(idx), Num: num})
	}
	if len(out) > game.MaxMailItems {
		return nil, fmt.Errorf("%d items: at most %d attachments", len(out), game.MaxMailItems)
	}
	return out, nil
}

// ParseIDs parses a comma-separated list of player ids (`--to 10001,10002`).
func ParseIDs(s string) ([]int64, error) {
	var out []int64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%q is not a player id (a number > 0)", part)
		}
		out = append(out, id)
	}
	return out, nil
}

// KickReason is the reason an operator kick gives when none is asked for.
const KickReason = "kicked by an operator"

// Kick kicks every session of player uid on every gate: it publishes
// msg.Kick.Res{code: RC_LOGIN_KICKED, reason} on user.<uid> with Hive-Api
// msg.Kick.Res and no Hive-Kick-Keep (package envelope's kick contract).
// A player that is not online is not an error: nobody receives it.
func Kick(nc *nats.Conn, uid int64, reason string) error {
	if uid <= 0 {
		return fmt.Errorf("kick: bad player id %d", uid)
	}
	if reason == "" {
		reason = KickReason
	}
	m := envelope.Kick{User: uid, Code: def.ResCode_RC_LOGIN_KICKED, Reason: reason}.Msg()
	if err := nc.PublishMsg(m); err != nil {
		return fmt.Errorf("kick: %w", err)
	}
	// The kick is fire-and-forget; a round trip makes sure the server has it
	// before the caller closes the connection.
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("kick: %w", err)
	}
	return nil
}

// KickPlayer is `hive admin kick`: Kick, for a player that exists. A
// player without events does not exist: an error wrapping replay.ErrNoEvents, and
// nothing is published. A player that exists but is offline is kicked all
// the same (nobody receives it).
func KickPlayer(ctx context.Context, nc *nats.Conn, uid int64, reason string) error {
	if uid <= 0 {
		return fmt.Errorf("kick: bad player id %d", uid)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("kick: %w", err)
	}
	_, _, found, err := replay.FirstEvent(ctx, js, uid)
	if err != nil {
		return fmt.Errorf("kick: %w", err)
	}
	if !found {
		return fmt.Errorf("kick: player %d does not exist (it has %w on %s); nothing was sent", uid, replay.ErrNoEvents, bus.PlayerSubject(uid))
	}
	return Kick(nc, uid, reason)
}

// PlayerStatus is `hive admin player`: the player rebuilt from its events,
// and whether it is online (the presence bucket the game's leader keeps).
type PlayerStatus struct {
	Player json.RawMessage `json:"player"` // def.User, proto field names
	Online bool            `json:"online"`
	Gate   string          `json:"gate,omitempty"`
	// Session is the gate's session id of the live session.
	Session string `json:"session,omitempty"`
	// Since is the login time (RFC3339), when online.
	Since string `json:"since,omitempty"`
}

// Player returns uid's state (game.Replay: from the events alone) and
// presence. A player without events is an error wrapping replay.ErrNoEvents.
// Presence comes from the bucket bus.PresenceBucket, which the game's
// leader fills from LoggedIn/LoggedOut events: a moment behind a login.
func Player(ctx context.Context, js jetstream.JetStream, uid int64) (*PlayerStatus, error) {
	if uid <= 0 {
		return nil, fmt.Errorf("player: bad player id %d", uid)
	}
	u, err := game.Replay(ctx, js, uid, game.ReplayOptions{})
	if errors.Is(err, game.ErrNoPlayer) {
		return nil, fmt.Errorf("player %d has %w", uid, replay.ErrNoEvents)
	}
	if err != nil {
		return nil, fmt.Errorf("player %d: %w", uid, err)
	}
	b, err := jsonl.Proto.Marshal(u)
	if err != nil {
		return nil, err
	}
	st := &PlayerStatus{Player: b}
	kv, err := js.KeyValue(ctx, bus.PresenceBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return st, nil // no game leader ever ran: nobody is online
	}
	if err != nil {
		return nil, fmt.Errorf("player %d: presence: %w", uid, err)
	}
	e, err := kv.Get(ctx, strconv.FormatInt(uid, 10))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("player %d: presence: %w", uid, err)
	}
	var on game.Online
	if err := json.Unmarshal(e.Value(), &on); err != nil {
		return nil, fmt.Errorf("player %d: presence entry: %w", uid, err)
	}
	st.Online, st.Gate, st.Session = true, on.Gate, on.Session
	if on.At > 0 {
		st.Since = time.Unix(on.At, 0).UTC().Format(time.RFC3339)
	}
	return st, nil
}

// GatesCommand is the operator command on admin.gates (bus.AdminSubject): the
// live gates of the registry of whoever answers (`hive dev` does).
const GatesCommand = "gates"

// GatesAnswer is the answer on admin.gates: Code RC_OK with the gates, or
// RC_FORBIDDEN for a bad token.
type GatesAnswer struct {
	Code  int32           `json:"code"`
	Error string          `json:"error,omitempty"`
	Gates []registry.Gate `json:"gates"`
}

// ServeGates answers admin.gates with reg's live gates for requests that
// carry adminToken in the Hive-Admin-Token header. An empty adminToken
// refuses every request. Unsubscribe the result to stop.
func ServeGates(nc *nats.Conn, adminToken string, reg registry.Registry) (*nats.Subscription, error) {
	return nc.Subscribe(bus.AdminSubject(GatesCommand), func(m *nats.Msg) {
		ans := GatesAnswer{Code: int32(def.ResCode_RC_OK), Gates: reg.Gates()}
		tok := m.Header.Get(game.HdrAdminToken)
		if adminToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(adminToken)) != 1 {
			ans = GatesAnswer{Code: int32(def.ResCode_RC_FORBIDDEN), Error: "bad admin token"}
		}
		if ans.Gates == nil && ans.Code == int32(def.ResCode_RC_OK) {
			ans.Gates = []registry.Gate{}
		}
		b, _ := json.Marshal(ans)
		_ = m.Respond(b)
	})
}

// ErrNoGatesService means nobody answers admin.gates on this NATS: not a
// `hive dev` (a cluster's gates are listed from etcd: --etcd).
var ErrNoGatesService = errors.New("nobody answers admin.gates on this NATS (a cluster lists its gates from etcd: give --etcd)")

// GatesOverBus asks admin.gates for the live gates (`hive dev`).
func GatesOverBus(ctx context.Context, nc *nats.Conn, adminToken string) ([]registry.Gate, error) {
	m := nats.NewMsg(bus.AdminSubject(GatesCommand))
	m.Header.Set(game.HdrAdminToken, adminToken)
	resp, err := nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, ErrNoGatesService
	}
	if err != nil {
		return nil, fmt.Errorf("gates: %w", err)
	}
	var ans GatesAnswer
	if err := json.Unmarshal(resp.Data, &ans); err != nil {
		return nil, fmt.Errorf("gates: bad answer: %w", err)
	}
	if ans.Code != int32(def.ResCode_RC_OK) {
		return nil, fmt.Errorf("gates refused: %s %s", def.ResCode(ans.Code), ans.Error)
	}
	return ans.Gates, nil
}
