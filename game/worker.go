// Package game is Hive's game worker: stateless goroutines in the NATS queue
// group "game" that serve msg.*.Req. Each command is a pure decide over the
// player states it touches and a pure apply per event (the core_*.go files);
// loading, appending, retrying and caching are the event store's (package
// events). Besides requests a worker serves operator mail (admin.mail) and,
// when elected leader, runs the leaderboard and presence projections and logs
// out the players of lost gates.
package game

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
)

// Worker is one game worker process's request handling.
type Worker struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	data    *Data
	store   *events.Store
	players *events.Repo[*Player]
	names   jetstream.KeyValue
	m       *metrics
	ranks   *rankCache
	tr      *transfers

	jobs     chan *nats.Msg
	quit     chan struct{}
	pool     sync.WaitGroup
	subs     []*nats.Subscription
	lead     context.CancelFunc
	leadDone chan struct{}
	leading  atomic.Bool // the leader jobs run here (hive_game_leader)
	handlers map[string]*Handler

	// storeOpts lets tests reach the event store's hooks.
	storeOpts events.Options
}

// New checks the configuration and loads the game data; Start connects the
// worker to the bus.
func New(cfg Config, deps Deps) (*Worker, error) {
	if deps.NC == nil || deps.JS == nil {
		return nil, errors.New("game: Deps.NC and Deps.JS are required")
	}
	if cfg.Workers <= 0 || cfg.Queue < 0 {
		return nil, fmt.Errorf("game: --game-workers must be > 0 and --game-queue >= 0 (got %d, %d)", cfg.Workers, cfg.Queue)
	}
	if cfg.BatchFlights <= 0 || cfg.BatchMaxMsgs < 2 || cfg.BatchMaxMsgs > 1000 {
		return nil, fmt.Errorf("game: --game-batch-flights must be > 0 and --game-batch-max-msgs in 2..1000 (got %d, %d)", cfg.BatchFlights, cfg.BatchMaxMsgs)
	}
	if cfg.MailMaxAmount <= 0 || cfg.MailMaxAmount > MaxStack {
		return nil, fmt.Errorf("game: --game-mail-max-amount must be 1..%d (got %d)", MaxStack, cfg.MailMaxAmount)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultConfig().RequestTimeout
	}
	if cfg.PresenceInterval <= 0 {
		cfg.PresenceInterval = DefaultConfig().PresenceInterval
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Cache == nil {
		deps.Cache = cache.NewMemory()
	}
	data := DefaultData()
	if cfg.DataFile != "" {
		var err error
		if data, err = LoadData(cfg.DataFile); err != nil {
			return nil, err
		}
	}
	w := &Worker{cfg: cfg, deps: deps, log: deps.Logger.With("component", "game"), data: data,
		jobs: make(chan *nats.Msg, cfg.Queue), quit: make(chan struct{}), tr: newTransfers(cfg.Workers)}
	w.storeOpts = events.Options{SnapshotEvery: cfg.SnapshotEvery, Logger: w.log,
		BatchFlights: cfg.BatchFlights, BatchMaxMsgs: cfg.BatchMaxMsgs, Reads: deps.Reads}
	routes := w.routes()
	if deps.Routes != nil {
		routes = append(routes, deps.Routes(w)...)
	}
	var err error
	if w.handlers, err = table(routes...); err != nil {
		return nil, err
	}
	if w.m, err = newMetrics(deps.Metrics, w); err != nil {
		return nil, err
	}
	return w, nil
}

// Data returns the game data in use.
func (w *Worker) Data() *Data { return w.data }

// Addr is empty: a worker listens on nothing but NATS.
func (w *Worker) Addr() string { return "" }

// Start opens the event store, subscribes to requests and operator commands,
// starts the pool and, with a registry, the leader campaign. It returns once
// the subscriptions are registered with the server.
func (w *Worker) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var err error
	if w.store, err = events.NewStore(ctx, w.deps.JS, w.deps.Cache, w.storeOpts); err != nil {
		return fmt.Errorf("game: %w (is the store created? bus.EnsureStore)", err)
	}
	w.players = events.NewRepo(w.store, playerAggregate)
	if w.names, err = w.deps.JS.KeyValue(ctx, bus.NamesBucket); err != nil {
		return fmt.Errorf("game: names bucket: %w", err)
	}
	w.ranks = newRankCache(w)
	for range w.cfg.Workers {
		w.pool.Add(1)
		go w.serve()
	}
	w.startTransfers()
	sub, err := w.deps.NC.QueueSubscribe(bus.RequestWildcard, bus.GameQueue, w.enqueue)
	if err != nil {
		w.stopPool()
		return fmt.Errorf("game: subscribe %s: %w", bus.RequestWildcard, err)
	}
	w.subs = append(w.subs, sub)
	admin, err := w.deps.NC.QueueSubscribe(bus.AdminSubject(AdminMail), bus.GameQueue, w.adminMail)
	if err != nil {
		w.stopSubs(ctx)
		w.stopPool()
		return fmt.Errorf("game: subscribe admin: %w", err)
	}
	w.subs = append(w.subs, admin)
	if err := w.deps.NC.FlushTimeout(5 * time.Second); err != nil {
		w.stopSubs(ctx)
		w.stopPool()
		return fmt.Errorf("game: flush subscriptions: %w", err)
	}
	if w.deps.Registry != nil && w.cfg.Projections {
		lctx, lcancel := context.WithCancel(context.Background())
		w.lead, w.leadDone = lcancel, make(chan struct{})
		go func() {
			defer close(w.leadDone)
			w.campaign(lctx)
		}()
	}
	w.log.Info("game worker serving", "subject", bus.RequestWildcard, "queue", bus.GameQueue, "workers", w.cfg.Workers)
	return nil
}

// Shutdown stops taking requests (drains the subscriptions), finishes the
// ones in flight and queued, and stops the leader jobs. If ctx ends first it
// returns ctx's error with requests possibly unanswered.
func (w *Worker) Shutdown(ctx context.Context) error {
	err := w.stopSubs(ctx)
	w.stopPool()
	if w.lead != nil {
		w.lead()
		select {
		case <-w.leadDone:
		case <-ctx.Done():
			err = errors.Join(err, ctx.Err())
		}
	}
	return err
}

// stopSubs drains the subscriptions: no new messages, pending callbacks run.
func (w *Worker) stopSubs(ctx context.Context) error {
	for _, s := range w.subs {
		if err := s.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			w.log.Warn("game: drain", "subject", s.Subject, "err", err)
		}
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for _, s := range w.subs {
		for s.IsValid() {
			select {
			case <-ctx.Done():
				return fmt.Errorf("game: drain %s: %w", s.Subject, ctx.Err())
			case <-t.C:
			}
		}
	}
	return nil
}

// stopPool lets the pool finish the queued requests and exit.
func (w *Worker) stopPool() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.pool.Wait()
}

// enqueue is the subscription callback: it hands the request to the pool,
// or, when the queue is full, answers it RC_COMMON_SERVER_NOT_READY at once
// (shed: the gate passes the code on, well before its deadline). A request
// without a reply subject (a disconnect logout, which nobody waits for but
// which must not be lost) waits for room instead.
func (w *Worker) enqueue(m *nats.Msg) {
	select {
	case w.jobs <- m:
		return
	case <-w.quit:
		return
	default:
	}
	if m.Reply == "" {
		select {
		case w.jobs <- m:
		case <-w.quit:
		}
		return
	}
	w.shed(m)
}

// shed answers m RC_COMMON_SERVER_NOT_READY without handling it.
func (w *Worker) shed(m *nats.Msg) {
	in := envelope.ReadRequest(m)
	var res proto.Message
	if h := w.handlers[m.Subject]; h != nil {
		res = envelope.CodeAnswer(h.resAPI, h.resAPI, def.ResCode_RC_COMMON_SERVER_NOT_READY)
	} else {
		res = envelope.ErrorAnswer(def.ResCode_RC_API_UNKNOWN, m.Subject, "")
	}
	w.send(in.Answer(res))
	w.m.shed.Inc()
}

func (w *Worker) serve() {
	defer w.pool.Done()
	for {
		select {
		case m := <-w.jobs:
			w.handle(m)
		case <-w.quit:
			for {
				select {
				case m := <-w.jobs:
					w.handle(m)
				default:
					return
				}
			}
		}
	}
}
