package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/registry"
)

// service is the process contract every part (uc, gate, game) implements.
type service interface {
	// Start listens/subscribes and returns once serving.
	Start() error
	// Addr is the actual listen address ("" for a part that does not listen).
	Addr() string
	// Shutdown drains gracefully until ctx ends.
	Shutdown(ctx context.Context) error
}

// deps is everything cmd/hive hands a part; each part's wiring copies what its
// package's Deps needs.
type deps struct {
	NC *nats.Conn
	// Reads is the game's second connection, for its direct gets
	// (game.Deps.Reads); nil for the other parts.
	Reads    *nats.Conn
	JS       jetstream.JetStream
	Registry registry.Registry
	Cache    cache.Cache
	Log      *slog.Logger
	// Metrics is the process's own registry (never the global default).
	Metrics prometheus.Registerer
	// DataDir is --data-dir: where a part keeps local files by default
	// (uc's signing key: <data-dir>/uc.key).
	DataDir string
	// Dev is true inside `hive dev` (one process, in-process registry and cache).
	Dev bool
}

// part is one long-running component as cmd/hive wires it.
type part struct {
	name string
	// bind registers the part's flags on fs (names unique across parts,
	// prefixed --<name>-) and returns the constructor that reads them once parsed.
	bind func(fs *flag.FlagSet) func(d deps) (service, error)
}

// parts returns every part in the order they start: uc first (it publishes
// the token key), then game (subscribes before gates forward), then gate
// (accepts clients). They shut down in reverse: gate first, so clients are
// drained while game and uc still answer. Each part's wiring is its own file
// (part_uc.go, part_game.go, part_gate.go).
func parts() []part {
	return []part{ucPart(), gamePart(), gatePart()}
}

// findPart returns the part called name.
func findPart(name string) (part, bool) {
	for _, p := range parts() {
		if p.name == name {
			return p, true
		}
	}
	return part{}, false
}
