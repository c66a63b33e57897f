// Package uc is Hive's account server: the REST API of PROTOCOL.md §3 on
// fiber. It registers and authenticates accounts (username+password, or a
// device id alone for a guest), binds guests to names and phones, sends and
// checks verification codes, changes and resets passwords, and answers each
// successful login with an EdDSA JWT and the address of the least-loaded live
// gate.
//
// Storage (DESIGN §4): credentials live in the JetStream KV bucket
// bus.AccountsBucket, one record per account under id.<id> (JSON), written
// only by compare-and-set on its revision. Unique names are index keys
// created atomically with kv.Create, so of two racing creators exactly one
// wins:
//
//	user.<lower-case username, '.' written as '='>   -> account id
//	device.<hex SHA-256 of the device id>             -> account id
//	phone.<E.164 digits without '+'>                  -> account id
//
// Order of writes and crash safety: an index is reserved first, then the
// record is created (or CAS-updated) to point back at it. The record is the
// commit point: an index counts only if the record it names exists and names
// it back. A crash between the two leaves a dangling index; whoever meets it
// after Config.IndexGrace (the longest a healthy create takes, with margin)
// deletes it by compare-and-set on its revision and carries on, so a dead
// half-registration never locks a name, device or phone forever. Within the
// grace it counts as taken (a registration in flight). Account ids come from
// bus.NextID on the counters bucket (durable, never the cache); an id lost
// to a crash is a harmless gap.
//
// Account events (evt.AccountRegistered, GuestCreated, AccountBound,
// PhoneBound, PasswordChanged, PasswordReset) go to evt.account.<id> in
// stream EVENTS through the event store (events.Store.AppendOnce). Each is
// staged in the record's outbox by the write that changes the account, so
// the two commit together, then appended and cleared; a sweeper appends
// whatever a failure or a crash left staged (outbox.go, DESIGN §4). They
// never carry a secret: no hash, phone, device id or code.
//
// Security (DESIGN §5): argon2id password hashes in PHC form with
// parameters from Config (OWASP's m=19 MiB, t=2, p=1 by default), at most
// Config.HashWorkers hashes at once so memory stays bounded; constant-time
// comparisons; a dummy hash for unknown users so timing does not tell which
// names exist; failed password checks counted per client source (an IPv4
// address or an IPv6 /64) and per account-and-source, with a lockout that
// doubles on each further failure (keyed on the source too, so a stranger
// cannot lock the owner out); a per-source request rate limit and quotas on
// account creation and on codes sent, plus a global cap on codes per
// minute; capped request bodies and fields; verification codes of 6 digits
// from crypto/rand, stored salted and hashed in the cache with a TTL and a
// try limit, sent at most once per interval and a daily number of times per
// phone; answers to bind/phone and password/reset that do not tell which
// phones are bound or which ids have one. Guest login never hashes with
// argon2 (the device id, 128+ bits, is looked up by its SHA-256), so it
// stays cheap. SECURITY.md lists every limit with its flag.
//
// Token versions: a password change or reset, or binding a username,
// raises the account's token version, writes it to bus.TokenVersionsBucket
// (gates refuse older tokens), and kicks the account's live sessions on
// user.<id>; tokens carry the version (claim ver).
package uc
