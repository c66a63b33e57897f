package game

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

// TransferConsumer is the durable consumer on the player events that every
// worker pulls from: it settles the gifts whose debit is stored but whose
// credit (or refund) is not, because the worker that debited stopped in
// between. It is shared, so each event goes to one worker.
const TransferConsumer = "game-transfers"

// transferGrace is how old a debit is before the consumer looks at it: the
// worker that stored it settles it within milliseconds, so the consumer,
// running this far behind the stream, finds almost every transfer settled
// and rarely races that worker for the receiver.
const transferGrace = time.Second

// transfers is a worker's side of the gifts in flight: the credits it
// carries, bounded so that debits wait rather than pile up, and the series
// that show them.
type transfers struct {
	slots    chan struct{}        // one per credit carried at once
	mu       sync.Mutex           // guards inFlight
	inFlight map[string]time.Time // transfer id -> when its debit was stored

	lag                             prometheus.Histogram
	recovered, returned, unresolved prometheus.Counter

	// consume runs the consumer (tests turn it off to hold a transfer between its halves).
	consume bool
	// afterDebit, when set, runs after a debit is stored; false leaves the
	// credit undone, as if the worker stopped right there. For tests.
	afterDebit func(transfer) bool
}

func newTransfers(carried int) *transfers {
	return &transfers{
		slots: make(chan struct{}, carried), inFlight: map[string]time.Time{}, consume: true,
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hive_game_transfer_settle_seconds", Help: "Time from a gift's debit stored to its credit (or refund) stored.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1, 2.5, 10, 60},
		}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_game_transfers_recovered_total",
			Help: "Gifts settled by the transfer consumer rather than the worker that debited them."}),
		returned: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_game_transfers_returned_total",
			Help: "Gifts the receiver refused (stack limit) and returned to the sender."}),
		unresolved: prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_game_transfers_unresolved_total",
			Help: "Gifts left unsettled because they are older than what the player remembers of its transfers and than half the stream's dedup window (see the log)."}),
	}
}

// collectors are the series of the transfers, hive_game_transfer*.
func (tr *transfers) collectors() []prometheus.Collector {
	return []prometheus.Collector{tr.lag, tr.recovered, tr.returned, tr.unresolved,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hive_game_transfers_in_flight",
			Help: "Gifts this worker is settling: debit stored, credit or refund not yet."},
			func() float64 { n, _ := tr.flight(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hive_game_transfer_oldest_seconds",
			Help: "Age of the oldest gift this worker is settling (0 when none)."},
			func() float64 { _, d := tr.flight(); return d.Seconds() }),
	}
}

func (tr *transfers) begin(id string, debited time.Time) {
	tr.mu.Lock()
	if _, ok := tr.inFlight[id]; !ok {
		tr.inFlight[id] = debited
	}
	tr.mu.Unlock()
}

func (tr *transfers) end(id string) {
	tr.mu.Lock()
	delete(tr.inFlight, id)
	tr.mu.Unlock()
}

// flight returns how many transfers are in flight and the oldest one's age.
func (tr *transfers) flight() (int, time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var oldest time.Duration
	for _, t := range tr.inFlight {
		oldest = max(oldest, time.Since(t))
	}
	return len(tr.inFlight), oldest
}

// gift serves GiftItems and SetEvent ITEM_GIFT: the debit is stored on the
// sender and answered; the credit follows on the receiver, carried by this
// worker, with the transfer consumer as the net if it stops in between.
func (w *Worker) gift(ctx context.Context, r *Request, dst int64, idx int32, num int64) (def.ResCode, error) {
	if rc := checkGift(w.data, r.uid, dst, idx, num); !isOK(rc) {
		return rc, nil
	}
	t := transfer{ID: r.cmd.ID, Corr: r.cmd.Corr, From: r.uid, To: dst, Idx: idx, Num: num, SentMs: time.Now().UnixMilli()}
	// The receiver is read, not held, for the early answers (unknown
	// receiver, stack limit; canReceive).
	to, err := w.load(ctx, dst)
	if err != nil {
		return 0, err
	}
	if w.cfg.ReadsFromCache && canReceive(w.data, to, t) != def.ResCode_RC_OK {
		// A refusal is answered on the stream's word, not the cache's.
		s, err := w.players.Load(ctx, dst)
		if err != nil {
			return 0, err
		}
		to = s.State
	}
	rc, out, err := command(ctx, w, r.cmd, ids(r.uid), func(s []*Snap) ([]events.Emit, def.ResCode) {
		return decideGift(w.data, s[0].State, to, t, r.now)
	})
	if err != nil || len(out.Events) == 0 {
		// Refused, or a retry of a stored debit: that one's worker or the
		// consumer settles it.
		return rc, err
	}
	if f := w.tr.afterDebit; f != nil && !f(t) {
		return rc, nil
	}
	debited := time.Now()
	w.tr.begin(t.ID, debited)
	w.tr.slots <- struct{}{}
	w.pool.Add(1) // inside a pool goroutine: Shutdown waits for the credit too
	go func() {
		defer w.pool.Done()
		defer func() { <-w.tr.slots }()
		defer w.tr.end(t.ID)
		// Cut by a NATS drop and run again, as the request was (linked).
		err := w.linked(context.Background(), func(ctx context.Context) error {
			_, err := w.settleTransfer(ctx, t, debited)
			return err
		}, "transfer", t.ID)
		if err != nil {
			w.log.Warn("game: gift credit left to the transfer consumer", "transfer", t.ID, "err", err)
		}
	}()
	return rc, nil
}

// settleTransfer credits transfer t to its receiver, or when the receiver
// refuses it returns it to its sender; debited is when its debit was
// stored. The worker that debited and the consumer both run it: a transfer
// settled before is not settled again (Player.Transfers, and the commands'
// ids t.ID+"/credit" and t.ID+"/return").
func (w *Worker) settleTransfer(ctx context.Context, t transfer, debited time.Time) (settleResult, error) {
	res, out, err := command(ctx, w, events.Cmd{ID: t.ID + "/credit", Corr: t.Corr}, ids(t.To), func(s []*Snap) ([]events.Emit, settleResult) {
		return decideCredit(w.data, s[0].State, t, time.Now().Unix(), w.repeatFrom())
	})
	switch {
	case err != nil:
		return 0, err
	case res == transferCredited:
		w.tr.lag.Observe(time.Since(debited).Seconds())
	case res == transferRefused:
		return w.returnTransfer(ctx, t, def.ResCode(out.Events[0].Msg.(*evt.GiftRefused).GetCode()), debited)
	case res == transferUnresolved:
		w.unresolved(t, t.To)
	}
	return res, nil
}

// returnTransfer refunds a transfer its receiver refused with rc.
func (w *Worker) returnTransfer(ctx context.Context, t transfer, rc def.ResCode, debited time.Time) (settleResult, error) {
	res, _, err := command(ctx, w, events.Cmd{ID: t.ID + "/return", Corr: t.Corr}, ids(t.From), func(s []*Snap) ([]events.Emit, settleResult) {
		return decideReturn(s[0].State, t, rc, time.Now().Unix(), w.repeatFrom())
	})
	switch {
	case err != nil:
		return 0, err
	case res == transferReturned:
		w.tr.lag.Observe(time.Since(debited).Seconds())
		w.tr.returned.Inc()
	case res == transferUnresolved:
		w.unresolved(t, t.From)
	}
	return res, nil
}

// repeatFrom is settledHere's: transfers sent in the last half of the
// stream's dedup window (the other half is margin for the clocks of the
// worker that sent it and this one) may be settled again.
func (w *Worker) repeatFrom() int64 {
	return time.Now().Add(-w.store.DedupWindow() / 2).UnixMilli()
}

func (w *Worker) unresolved(t transfer, on int64) {
	w.tr.unresolved.Inc()
	w.log.Error("game: transfer older than what the player remembers of its transfers and than the stream's dedup window; not settled (check its events)",
		"transfer", t.ID, "player", on, "from", t.From, "to", t.To, "idx", t.Idx, "num", t.Num)
}

// startTransfers starts this worker's share of the transfer consumer; it
// stops with the pool (Shutdown).
func (w *Worker) startTransfers() {
	if !w.tr.consume {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.pool.Add(1)
	go func() {
		defer w.pool.Done()
		<-w.quit
		cancel()
	}()
	w.pool.Add(1)
	go func() {
		defer w.pool.Done()
		w.project(ctx, TransferConsumer, transferEvents, w.settleStored)
	}()
}

// transferEvents are the events settleStored acts on.
var transferEvents = eventTypes{events.TypeName(&evt.GiftSent{}): true, events.TypeName(&evt.GiftRefused{}): true}

// settleStored is the transfer consumer's step: a debit is settled (once
// transferGrace old), a refusal returned; other events pass.
func (w *Worker) settleStored(ctx context.Context, e *events.Event) error {
	_, id, err := bus.ParseEventSubject(e.Subject)
	if err != nil {
		return nil
	}
	switch m := e.Msg.(type) {
	case *evt.GiftSent:
		t, ok := transferOf(id, e.Corr, m)
		if !ok {
			return nil
		}
		if err := sleep(ctx, transferGrace-time.Since(e.Time)); err != nil {
			return err
		}
		if c := w.players.Peek(ctx, t.To); c != nil {
			if done, _ := settledHere(c.State, t, 0); done {
				return nil // the usual case: the worker that debited it settled it
			}
		}
		w.tr.begin(t.ID, e.Time)
		defer w.tr.end(t.ID)
		var res settleResult
		err := w.linked(ctx, func(ctx context.Context) (err error) {
			res, err = w.settleTransfer(ctx, t, e.Time)
			return err
		}, "transfer", t.ID)
		if err == nil && res != transferDone && res != transferUnresolved {
			w.tr.recovered.Inc()
		}
		return err
	case *evt.GiftRefused:
		t := refusedTransfer(id, e.Corr, m)
		return w.linked(ctx, func(ctx context.Context) error {
			_, err := w.returnTransfer(ctx, t, def.ResCode(m.GetCode()), e.Time)
			return err
		}, "transfer", t.ID)
	}
	return nil
}

// linked runs one settling of a transfer (the debiting worker's or the
// consumer's) as a request runs (untilLinked), within ctx and the request
// timeout: it holds its player's turn, and a call whose reply went with a
// dropped connection would hold it, and the player's own requests, until
// the timeout (the consumer's step: for ever).
func (w *Worker) linked(ctx context.Context, fn func(context.Context) error, attrs ...any) error {
	return w.untilLinked(ctx, time.Now().Add(w.cfg.RequestTimeout), fn, attrs...)
}
