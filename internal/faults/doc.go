// Package faults is Hive's fault suite: the real servers and the hive binary
// as separate processes on loopback (nats-server and etcd built from the
// module's pinned versions, redis-server from the machine, uc, two gates and
// two game workers), a load of players gifting gold to each other, and one
// fault injected per scenario (a process killed, frozen or restarted, the
// cache flushed). Each scenario prints one line of what the players saw and
// fails only when an acknowledged gift is lost, a gift is applied twice, gold
// is not conserved or a player's items disagree with the event stream.
//
// The package has only tests: `go test ./internal/faults` runs every
// scenario briefly (part of the default suite), `go test -tags faults
// ./internal/faults` runs them at length, and HIVE_FAULTS_SOAK=30m adds the
// soak. RELIABILITY.md at the repository root describes the scenarios and
// records the results.
package faults
