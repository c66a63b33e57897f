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
	NC       *nats.Conn
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
	name  string
	issue int
	// bind registers the part's flags on fs (names unique across parts,
	// prefixed --<name>-) and returns the constructor that reads them once parsed.
	bind func(fs *flag.FlagSet) func(d deps) (service, error)
}

// partOrder is the order parts start in: uc first (it publishes the token
// key), then game (subscribes before gates forward), then gate (accepts
// clients). They shut down in reverse: gate first, so clients are drained
// while game and uc still answer.
var partOrder = []string{"uc", "game", "gate"}

// parts holds the wired parts by name. Each is added by its own file
// (part_uc.go, part_gate.go, part_game.go) once its package builds, so
// wiring a part is one self-contained file.
var parts = map[string]part{}

// wire registers p; called from the init of a part_<name>.go file.
func wire(p part) { parts[p.name] = p }
