package game

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/evt"
)

// Logout reasons recorded in evt.LoggedOut.
const (
	ReasonLogout   = "logout"
	ReasonGateLost = "gate lost"
)

// deltas turns amounts into event item deltas.
func deltas(as []Amount) []*evt.ItemDelta {
	out := make([]*evt.ItemDelta, len(as))
	for i, a := range as {
		out[i] = &evt.ItemDelta{Idx: proto.Int32(a.Idx), Num: proto.Int64(a.Num)}
	}
	return out
}

// decideCreate creates the player with the starting items on its first
// login; for an existing player it changes nothing.
func decideCreate(d *Data, s *Player, uid int64, now int64) []events.Emit {
	if s.GetCreated() {
		return nil
	}
	start := mergeAmounts(d.Start)
	return []events.Emit{{ID: uid, Event: &evt.PlayerCreated{
		Account: proto.Int64(uid), Items: deltas(start), Totals: deltas(start), At: proto.Int64(now),
	}}}
}

// decideLogin records the session of a login (after decideCreate). It
// always succeeds.
func decideLogin(s *Player, uid int64, gate, session string, now int64) []events.Emit {
	return []events.Emit{{ID: uid, Event: &evt.LoggedIn{Gate: proto.String(gate), Session: proto.String(session), At: proto.Int64(now)}}}
}

// decideLogout ends the session's login. A logout from a session that is no
// longer the player's live one (a later login replaced it) changes nothing.
func decideLogout(s *Player, uid int64, gate, session string, now int64) []events.Emit {
	if !s.GetOnline() || s.GetGate() != gate || s.GetSession() != session {
		return nil
	}
	return []events.Emit{{ID: uid, Event: &evt.LoggedOut{Reason: proto.String(ReasonLogout), At: proto.Int64(now)}}}
}

// decideGateLost logs the player out if its live session was on the lost gate.
func decideGateLost(s *Player, uid int64, gate string, now int64) []events.Emit {
	if !s.GetOnline() || s.GetGate() != gate {
		return nil
	}
	return []events.Emit{{ID: uid, Event: &evt.LoggedOut{Reason: proto.String(ReasonGateLost), At: proto.Int64(now)}}}
}

// sumAmounts is mergeAmounts with every sum checked against the item's
// limit: false when an amount or a sum of amounts of one kind passes it.
// Amounts must be > 0.
func sumAmounts(d *Data, as []Amount) ([]Amount, bool) {
	var out []Amount
	for _, a := range as {
		i := slices.IndexFunc(out, func(o Amount) bool { return o.Idx == a.Idx })
		if i < 0 {
			if _, ok := d.add(a.Idx, 0, a.Num); !ok {
				return nil, false
			}
			out = append(out, a)
			continue
		}
		n, ok := d.add(a.Idx, out[i].Num, a.Num)
		if !ok {
			return nil, false
		}
		out[i].Num = n
	}
	return out, true
}

// mergeAmounts sums amounts of the same idx, keeping first-seen order and
// dropping zeros.
func mergeAmounts(as []Amount) []Amount {
	var out []Amount
	for _, a := range as {
		found := false
		for i := range out {
			if out[i].Idx == a.Idx {
				out[i].Num += a.Num
				found = true
			}
		}
		if !found {
			out = append(out, a)
		}
	}
	n := 0
	for _, a := range out {
		if a.Num != 0 {
			out[n] = a
			n++
		}
	}
	return out[:n]
}
