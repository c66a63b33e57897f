package game

import (
	"flag"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/registry"
)

// Config is every knob of a game worker.
type Config struct {
	// Workers is the number of goroutines handling requests (--game-workers).
	Workers int
	// Queue bounds the requests received but not yet handled; past it a
	// request is answered RC_COMMON_SERVER_NOT_READY at once (shed), so an
	// overloaded worker answers within the deadline instead of letting
	// requests pile up. (--game-queue)
	Queue int
	// DataFile is the game data JSON file; empty = built-in defaults (--game-data).
	DataFile string
	// SnapshotEvery writes a durable snapshot every this many events of a
	// player; 0 writes none (--game-snapshot-every).
	SnapshotEvery int
	// AdminToken authorises operator commands on the bus (admin.mail); empty
	// disables them (--game-admin-token).
	AdminToken string
	// RequestTimeout bounds the handling of one request (--game-request-timeout).
	RequestTimeout time.Duration
	// PresenceInterval is how often the leader compares live gates with the
	// gates players logged in on (--game-presence-interval).
	PresenceInterval time.Duration
	// GateGrace is how long a gate that players are on may stay unseen in the
	// registry (never registered while this leader ran) before it counts as
	// lost (--game-gate-grace). A gate seen live and then gone is lost at once.
	GateGrace time.Duration
	// BatchFlights bounds the atomic batches (gifts and other commands on
	// several players) this worker has in flight; commands waiting meanwhile
	// share the next batch (--game-batch-flights).
	BatchFlights int
	// BatchMaxMsgs bounds the events of one shared atomic batch, at most the
	// server's max_batch_size (1,000 by default) (--game-batch-max-msgs).
	BatchMaxMsgs int
	// MailMaxAmount bounds each attachment of an operator mail (per item
	// kind, summed over the mail): a typo of a few zeros in `hive admin mail
	// --items` is refused (RC_ITEM_OVERFLOW) instead of minting a fortune.
	// 1..MaxStack (--game-mail-max-amount).
	MailMaxAmount int64
	// ReadsFromCache answers reads (GetUser, GetItems, GetMails, the
	// leaderboard's profiles, a gift's look at its receiver) from the cached
	// snapshot without asking the stream whether it is the latest. Right
	// when this worker is its players' only writer (`hive dev`, on by
	// default there); with several workers a read may then miss another
	// worker's last write. Commands never depend on it: their appends check
	// the version they decided on. (--game-reads-from-cache)
	ReadsFromCache bool
	// Projections runs the leader jobs (leaderboards, presence, gate loss)
	// in this worker when it wins the election (--game-projections).
	Projections bool
}

// DefaultConfig returns the defaults of every flag.
func DefaultConfig() Config {
	store := events.DefaultOptions() // the event store's settings default there
	return Config{
		Workers:          64,
		Queue:            1024,
		SnapshotEvery:    store.SnapshotEvery,
		RequestTimeout:   5 * time.Second,
		PresenceInterval: 2 * time.Second,
		GateGrace:        30 * time.Second,
		BatchFlights:     store.BatchFlights,
		BatchMaxMsgs:     store.BatchMaxMsgs,
		MailMaxAmount:    1_000_000,
		Projections:      true,
	}
}

// Flags registers the game flags on fs with c's values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "game-workers", c.Workers, "game: goroutines handling requests (commands wait on NATS and JetStream, so more than cores)")
	fs.IntVar(&c.Queue, "game-queue", c.Queue, "game: requests received but not yet handled, at most; more are answered RC_COMMON_SERVER_NOT_READY at once")
	fs.StringVar(&c.DataFile, "game-data", c.DataFile, "game: game data JSON file (items, item usage, starting items); empty = built-in defaults")
	fs.IntVar(&c.SnapshotEvery, "game-snapshot-every", c.SnapshotEvery, "game: durable player snapshot every this many events (0: none)")
	fs.StringVar(&c.AdminToken, "game-admin-token", c.AdminToken, "game: token operator commands (hive admin) must present; empty disables them")
	fs.DurationVar(&c.RequestTimeout, "game-request-timeout", c.RequestTimeout, "game: time limit for handling one request")
	fs.DurationVar(&c.PresenceInterval, "game-presence-interval", c.PresenceInterval, "game: how often the leader looks for lost gates")
	fs.DurationVar(&c.GateGrace, "game-gate-grace", c.GateGrace, "game: how long a gate never seen live may hold online players before they are logged out")
	fs.IntVar(&c.BatchFlights, "game-batch-flights", c.BatchFlights, "game: atomic batches (multi-player commands) in flight at once; commands waiting meanwhile share the next one")
	fs.IntVar(&c.BatchMaxMsgs, "game-batch-max-msgs", c.BatchMaxMsgs, "game: events in one shared atomic batch, at most (the NATS server's max_batch_size, 1000 by default, is the ceiling)")
	fs.Int64Var(&c.MailMaxAmount, "game-mail-max-amount", c.MailMaxAmount, "game: most of one item kind an operator mail (hive admin mail) may attach; more is refused with RC_ITEM_OVERFLOW")
	fs.BoolVar(&c.ReadsFromCache, "game-reads-from-cache", c.ReadsFromCache, "game: answer reads from the cached player without asking the stream for its latest version (right when this is the only game worker; on in hive dev)")
	fs.BoolVar(&c.Projections, "game-projections", c.Projections, "game: run the leader jobs (leaderboards, presence, gate loss) when elected")
}

// Deps are the connections a worker uses. NC, JS and Cache are required
// (the EVENTS stream and buckets must exist: bus.EnsureStore); Registry is
// needed for leader election and gate loss (nil = no leader jobs); Routes
// adds a studio's commands.
type Deps struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Cache    cache.Cache
	Registry registry.Registry
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
	// Routes, if set, returns the routes a studio adds to the game's own,
	// each declared with Route from a handler that may use the worker (its
	// OnPlayer); an api routed twice fails New.
	Routes func(*Worker) []*Handler
	// Reads, if set, is a second connection (as the game role) for the event
	// store's direct gets, so a slow one cannot hold up the answers and
	// appends on NC (events.Options.Reads); nil reads on NC.
	Reads *nats.Conn
}
