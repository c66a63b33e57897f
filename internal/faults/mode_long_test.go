//go:build faults

package faults

import "time"

// The long suite, `go test -tags faults ./internal/faults`.
var timing = timings{
	players: 40, think: 5 * time.Millisecond, timeout: 10 * time.Second,
	warm: 10 * time.Second, settle: 90 * time.Second, tail: 10 * time.Second,
	etcdFreeze: 15 * time.Second, natsFreeze: 20 * time.Second,
	long: true,
}
