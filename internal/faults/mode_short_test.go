//go:build !faults

package faults

import "time"

// The short suite, part of `go test ./...`: every scenario briefly.
var timing = timings{
	players: 40, think: 20 * time.Millisecond, timeout: 10 * time.Second,
	warm: time.Second, settle: 30 * time.Second, tail: time.Second,
	etcdFreeze: 5 * time.Second, natsFreeze: 5 * time.Second,
	long: false,
}
