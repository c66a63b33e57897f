package bus

import (
	"fmt"
	"strconv"
	"strings"
)

// The subject scheme of DESIGN §3. It is a public contract (analytics
// consumers depend on it): every subject is built and parsed here, nowhere else.

const (
	// RequestPrefix starts every client request subject: the api string itself.
	RequestPrefix = "msg."
	// RequestWildcard matches every request subject a game worker serves.
	RequestWildcard = "msg.*.Req"
	// GameQueue is the queue group of the game workers.
	GameQueue = "game"
	// EventsWildcard matches every event in the EVENTS stream.
	EventsWildcard = "evt.>"
	// PlayerEventsWildcard matches every player's events.
	PlayerEventsWildcard = "evt.player.*"
	// AccountEventsWildcard matches every account's events.
	AccountEventsWildcard = "evt.account.*"
	// AdminPrefix starts operator commands (hive admin); not reachable by clients.
	AdminPrefix = "admin."
)

// Aggregate kinds: the second token of an event subject.
const (
	AggPlayer  = "player"
	AggAccount = "account"
)

// RequestSubject is the subject a request is published on: the api itself
// (msg.GetItems.Req). The caller must have checked the api is a known request.
func RequestSubject(api string) string { return api }

// SessionSubject is where responses for one session are sent: gate.<gateID>.<sessionID>.
func SessionSubject(gateID string, session uint64) string {
	return "gate." + gateID + "." + strconv.FormatUint(session, 10)
}

// GateWildcard matches every session subject of one gate.
func GateWildcard(gateID string) string { return "gate." + gateID + ".>" }

// ParseSessionSubject splits gate.<gateID>.<sessionID>.
func ParseSessionSubject(subj string) (gateID string, session uint64, err error) {
	rest, ok := strings.CutPrefix(subj, "gate.")
	if !ok {
		return "", 0, fmt.Errorf("bus: %q is not a session subject", subj)
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", 0, fmt.Errorf("bus: %q is not a session subject", subj)
	}
	session, err = strconv.ParseUint(rest[i+1:], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("bus: %q: bad session id", subj)
	}
	return rest[:i], session, nil
}

// UserSubject carries pushes and control (kick) to a user's live session: user.<userID>.
func UserSubject(userID int64) string { return "user." + strconv.FormatInt(userID, 10) }

// ParseUserSubject returns the user id of user.<userID>.
func ParseUserSubject(subj string) (int64, error) {
	rest, ok := strings.CutPrefix(subj, "user.")
	if !ok {
		return 0, fmt.Errorf("bus: %q is not a user subject", subj)
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bus: %q: bad user id", subj)
	}
	return id, nil
}

// EventSubject is the one subject of an aggregate in the EVENTS stream: evt.<kind>.<id>.
func EventSubject(kind string, id int64) string {
	return "evt." + kind + "." + strconv.FormatInt(id, 10)
}

// IsPlayerEvent reports whether subj is a player's event subject
// (evt.player.<id>), cheaply: a reader of every event skips the others on it.
func IsPlayerEvent(subj string) bool { return strings.HasPrefix(subj, "evt."+AggPlayer+".") }

// PlayerSubject is EventSubject(AggPlayer, id).
func PlayerSubject(id int64) string { return EventSubject(AggPlayer, id) }

// AccountSubject is EventSubject(AggAccount, id).
func AccountSubject(id int64) string { return EventSubject(AggAccount, id) }

// ParseEventSubject splits evt.<kind>.<id>.
func ParseEventSubject(subj string) (kind string, id int64, err error) {
	parts := strings.Split(subj, ".")
	if len(parts) != 3 || parts[0] != "evt" || parts[1] == "" {
		return "", 0, fmt.Errorf("bus: %q is not an event subject", subj)
	}
	id, err = strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("bus: %q: bad aggregate id", subj)
	}
	return parts[1], id, nil
}

// AdminSubject is the subject of one operator command: admin.<cmd> (admin.mail, admin.kick).
func AdminSubject(cmd string) string { return AdminPrefix + cmd }

// GateControlSubject reaches one gate's control handler (kick a session,
// drain): gatectl.<gateID>.
func GateControlSubject(gateID string) string { return "gatectl." + gateID }
