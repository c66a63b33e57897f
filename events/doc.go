// Package events is Hive's event store on JetStream (DESIGN §4), written once
// and generic over aggregates.
//
// An aggregate (a player, an account) lives on exactly one subject of the
// EVENTS stream, evt.<kind>.<id>; its version is the stream sequence of its
// last event. Its state is the fold of a pure apply function over its events.
// A Repo loads an aggregate from the newest snapshot (the cache, then the
// durable KV snapshot) plus the events after it, and runs commands: decide
// (pure) on the loaded states, append the resulting events with the expected
// last subject sequence of every aggregate touched (one atomic batch when
// there are several), retry on conflict a bounded number of times, then
// write the new snapshot to the cache (and every ~100 events to the KV
// bucket).
//
// Idempotency: every event carries its command id (Hive-Cmd) and a Nats-Msg-Id
// derived from it, and a snapshot remembers the most recent command ids of its
// aggregate. A command whose id is among them is reported as a duplicate and
// not decided again; after a publish whose outcome was not seen, the retry
// reloads the tail first, so it finds its own events if they were stored.
package events
