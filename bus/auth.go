package bus

import (
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Role is a NATS identity of Hive: each process and tool connects as one,
// and NATS lets it publish and subscribe only what the role needs
// (DESIGN §5, SECURITY.md "NATS identities and permissions").
type Role string

// The roles. Each has its own nkey (see Secrets) and permission set (Permissions).
const (
	// RoleUC is the account server: the accounts, counters and
	// token-versions buckets, account events, kicks on user.*.
	RoleUC Role = "uc"
	// RoleGate is a gateway: requests on msg.*.Req, answers on gate.>,
	// user.* (pushes and kicks), the token-versions bucket read-only.
	RoleGate Role = "gate"
	// RoleGame is a game worker: serves msg.*.Req and admin.mail, appends
	// player events, the snapshots, names and presence buckets.
	RoleGame Role = "game"
	// RoleTools is the read-only operator tools (tap, replay, admin
	// player): reads the EVENTS stream and the presence bucket, nothing else.
	RoleTools Role = "tools"
	// RoleAdmin is the operator: what RoleTools reads, plus the operator
	// commands (admin.mail, admin.gates, kicks on user.*).
	RoleAdmin Role = "admin"
	// RoleBench is the load generator's raw NATS baseline (nats-rr): its own
	// subjects hive.bench.> and inboxes only.
	RoleBench Role = "bench"
)

// Roles lists every role, in the order the generated server config lists them.
var Roles = []Role{RoleUC, RoleGate, RoleGame, RoleTools, RoleAdmin, RoleBench}

// ParseRole returns the named role; ok is false for an unknown name.
func ParseRole(s string) (Role, bool) {
	r := Role(s)
	return r, slices.Contains(Roles, r)
}

// BenchPrefix starts the subjects of `hive bench --scenario nats-rr`.
const BenchPrefix = "hive.bench."

// ProjectionConsumers are the game's durable consumers on EVENTS: the one
// all workers share to settle gifts (game.TransferConsumer) and the one
// earlier versions kept presence with (game.PresenceConsumer, read once for
// its position and deleted; the leader's projections now read with ordered
// consumers and keep their positions themselves). The read-only roles may
// make consumers of their own but not fetch from, acknowledge or delete
// these: a tool that acked their events would make the game skip them.
var ProjectionConsumers = []string{"game-presence", "game-transfers"}

// kvStream is the JetStream stream behind KV bucket b.
func kvStream(b string) string { return "KV_" + b }

// jsAPI is the JetStream API subject prefix.
const jsAPI = "$JS.API."

// streamInfo is the subject of a stream's info (js.Stream, js.KeyValue).
func streamInfo(stream string) string { return jsAPI + "STREAM.INFO." + stream }

// manageStream is what bus.EnsureStore publishes for a stream it owns:
// info, create, update. Never delete or purge.
func manageStream(stream string) []string {
	return []string{streamInfo(stream), jsAPI + "STREAM.CREATE." + stream, jsAPI + "STREAM.UPDATE." + stream}
}

// directGet is a stream's direct gets: the batched form (no subject in the
// name) and the last-by-subject form (KV gets).
func directGet(stream string) []string {
	return []string{jsAPI + "DIRECT.GET." + stream, jsAPI + "DIRECT.GET." + stream + ".>"}
}

// kvRead is what reading bucket b needs: its info and direct gets.
func kvRead(b string) []string {
	return append([]string{streamInfo(kvStream(b))}, directGet(kvStream(b))...)
}

// kvWrite is what writing bucket b needs: reads, puts/deletes on $KV.<b>.>,
// and consumers on it (kv.ListKeys and kv.Watch are ordered consumers).
func kvWrite(b string) []string {
	return append(kvRead(b), append(consumers(kvStream(b)), "$KV."+b+".>")...)
}

// consumers is what making and reading consumers of a stream needs: create
// (both API forms), info, next (pull), delete (ordered consumers replace
// theirs), acks and flow control.
func consumers(stream string) []string {
	return []string{
		jsAPI + "CONSUMER.CREATE." + stream, jsAPI + "CONSUMER.CREATE." + stream + ".>",
		jsAPI + "CONSUMER.DURABLE.CREATE." + stream + ".>",
		jsAPI + "CONSUMER.INFO." + stream + ".>",
		jsAPI + "CONSUMER.MSG.NEXT." + stream + ".>",
		jsAPI + "CONSUMER.DELETE." + stream + ".>",
		"$JS.ACK." + stream + ".>",
		"$JS.FC." + stream + ".>",
	}
}

// eventStreams is every stream a store's partitions may have (EVENTS,
// EVENTS-1 .. EVENTS-15): permissions are fixed before a store's number of
// partitions is known.
func eventStreams() []string {
	out := make([]string, MaxPartitions)
	for p := range out {
		out[p] = EventsStreamFor(p)
	}
	return out
}

// manageEvents is manageStream of every event stream, and the leader step
// downs that spread their leaders (SpreadLeaders).
func manageEvents() []string {
	var out []string
	for _, s := range eventStreams() {
		out = append(out, manageStream(s)...)
	}
	return append(out, leaderStepDowns()...)
}

// eventsRead is what reading the event streams needs: info, direct gets,
// the leader's message get (events.Store.LeaderLastSeq) and consumers.
func eventsRead() []string {
	var out []string
	for _, s := range eventStreams() {
		out = append(out, streamInfo(s), jsAPI+"STREAM.MSG.GET."+s)
		out = append(out, directGet(s)...)
		out = append(out, consumers(s)...)
	}
	return out
}

// projectionDenies keeps a reader off the game leader's durable consumers.
func projectionDenies() []string {
	var out []string
	for _, s := range eventStreams() {
		for _, c := range ProjectionConsumers {
			out = append(out,
				jsAPI+"CONSUMER.CREATE."+s+"."+c, jsAPI+"CONSUMER.CREATE."+s+"."+c+".>",
				jsAPI+"CONSUMER.DURABLE.CREATE."+s+"."+c,
				jsAPI+"CONSUMER.MSG.NEXT."+s+"."+c,
				jsAPI+"CONSUMER.DELETE."+s+"."+c,
				"$JS.ACK."+s+"."+c+".>")
		}
	}
	return out
}

// inbox is the subscription every requester needs: its replies, and the
// JetStream API's answers, come to _INBOX.<random>.
const inbox = "_INBOX.>"

// RoleBuckets are the KV buckets a role creates or updates at start
// (EnsureStoreFor), besides the event streams. A role only manages what it
// writes: the game may not touch the accounts bucket's config, which could
// otherwise republish every account record to a subject it reads.
func RoleBuckets(r Role) []string {
	switch r {
	case RoleUC:
		return []string{AccountsBucket, CountersBucket, TokenVersionsBucket}
	case RoleGame:
		return []string{SnapshotsBucket, NamesBucket, PresenceBucket}
	}
	return nil
}

// Permissions is what role r may publish and subscribe (nil for an unknown
// role). Both the generated server config and the embedded server of
// `hive dev` and the tests use it, so a missing permission fails in dev and
// in tests first.
func Permissions(r Role) *server.Permissions {
	pub := []string{jsAPI + "INFO"} // account info: JetStream clients ask for it
	var sub, pubDeny []string
	var resp *server.ResponsePermission
	switch r {
	case RoleUC:
		pub = append(pub, AccountEventsWildcard, "user.*")
		pub = append(pub, manageEvents()...)
		// The outbox looks for an event's command id on its account's subject
		// before appending it, so an event is stored once.
		pub = append(pub, directGet(EventsStream)...)
		for _, b := range RoleBuckets(r) {
			pub = append(pub, manageStream(kvStream(b))...)
			pub = append(pub, kvWrite(b)...)
		}
		// admin.gates: `hive dev` answers it from the registry uc picks gates from.
		sub = []string{inbox, AdminSubject("gates")}
		resp = &server.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	case RoleGate:
		pub = append(pub, RequestWildcard, "user.*")
		pub = append(pub, kvRead(TokenVersionsBucket)...)
		pub = append(pub, consumers(kvStream(TokenVersionsBucket))...) // a watch of the versions
		sub = []string{inbox, "gate.>", "user.*"}
	case RoleGame:
		pub = append(pub, PlayerEventsWildcard, PartitionIngestWildcard, "gate.>", "user.*", inbox)
		pub = append(pub, manageEvents()...)
		pub = append(pub, eventsRead()...)
		for _, b := range RoleBuckets(r) {
			pub = append(pub, manageStream(kvStream(b))...)
			pub = append(pub, kvWrite(b)...)
		}
		sub = []string{inbox, RequestWildcard, AdminSubject("mail")}
	case RoleTools, RoleAdmin:
		pub = append(pub, eventsRead()...)
		pub = append(pub, kvRead(PresenceBucket)...)
		pubDeny = projectionDenies()
		sub = []string{inbox}
		if r == RoleAdmin {
			pub = append(pub, AdminPrefix+">", "user.*")
		}
	case RoleBench:
		pub = []string{BenchPrefix + ">", inbox}
		sub = []string{BenchPrefix + ">", inbox}
	default:
		return nil
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: unique(pub), Deny: pubDeny},
		Subscribe: &server.SubjectPermission{Allow: sub},
		Response:  resp,
	}
}

// unique drops repeated subjects (a stream's info is both managed and read),
// keeping the first of each: the generated config stays short.
func unique(subjects []string) []string {
	seen := make(map[string]bool, len(subjects))
	out := subjects[:0]
	for _, s := range subjects {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
