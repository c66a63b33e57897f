package faults

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/evt"
)

// verdict is what the end state says about the gifts.
type verdict struct {
	// conservation is the total gold held minus the total handed out at
	// sign-up: 0 when gold was conserved.
	conservation int64
	// inconsistent counts players whose gold differs from their start plus
	// the gifts their events record, and gifts whose sent and received
	// halves do not pair up.
	inconsistent int
	// lost counts acknowledged gifts with no event; doubled counts gifts
	// recorded more often than they were sent (or one command twice).
	lost, doubled int
	// uncertainApplied counts gifts whose request failed (error code, lost
	// connection, timeout) but which the game applied.
	uncertainApplied int
	problems         []string
}

func (v verdict) failed() bool {
	return v.conservation != 0 || v.inconsistent != 0 || v.lost != 0 || v.doubled != 0
}

// giftEvents are the gifts the event stream records.
type giftEvents struct {
	sent, received map[giftKey]int
	// returned counts the refunds of refused gifts (on the sender).
	returned map[giftKey]int
	sentSum  map[int64]int64
	recvSum  map[int64]int64
	// lastTotal is each player's gold after its last gift event, as the
	// event itself records it.
	lastTotal map[int64]int64
	dupCmds   int
}

// readGifts reads every player event stored in EVENTS (an ordered
// consumer, as hive tap reads) and tallies the gifts.
func readGifts(ctx context.Context, js jetstream.JetStream) (*giftEvents, error) {
	st, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	g := &giftEvents{sent: map[giftKey]int{}, received: map[giftKey]int{}, returned: map[giftKey]int{}, sentSum: map[int64]int64{}, recvSum: map[int64]int64{}, lastTotal: map[int64]int64{}}
	last := info.State.LastSeq
	if last == 0 {
		return g, nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.PlayerEventsWildcard}})
	if err != nil {
		return nil, err
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	cmds := map[string]bool{}
	for {
		m, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("reading events: %w", err)
		}
		e, err := events.DecodeJS(m)
		if err != nil {
			return nil, err
		}
		_, id, err := bus.ParseEventSubject(e.Subject)
		if err != nil {
			return nil, err
		}
		switch ev := e.Msg.(type) {
		case *evt.GiftSent:
			if ev.GetIdx() == goldIdx {
				g.sent[giftKey{id, ev.GetTo(), ev.GetNum()}]++
				g.sentSum[id] += ev.GetNum()
				g.lastTotal[id] = goldTotal(ev.GetTotals())
				if e.Cmd != "" {
					if cmds[e.Cmd] {
						g.dupCmds++
					}
					cmds[e.Cmd] = true
				}
			}
		case *evt.GiftReceived:
			if ev.GetIdx() == goldIdx {
				g.received[giftKey{ev.GetFrom(), id, ev.GetNum()}]++
				g.recvSum[id] += ev.GetNum()
				g.lastTotal[id] = goldTotal(ev.GetTotals())
			}
		case *evt.GiftReturned:
			if ev.GetIdx() == goldIdx {
				g.returned[giftKey{id, ev.GetTo(), ev.GetNum()}]++
				g.recvSum[id] += ev.GetNum()
				g.lastTotal[id] = goldTotal(ev.GetTotals())
			}
		}
		if e.Seq >= last {
			return g, nil
		}
	}
}

// unsettled counts the gifts whose debit is stored but whose credit (or
// refund) is not yet: a transfer in flight, settled by the worker that
// debited it or, when that worker died, by the transfer consumer.
func (g *giftEvents) unsettled() int {
	n := 0
	for k, s := range g.sent {
		n += max(0, s-g.received[k]-g.returned[k])
	}
	return n
}

func goldTotal(ds []*evt.ItemDelta) int64 {
	for _, d := range ds {
		if d.GetIdx() == goldIdx {
			return d.GetNum()
		}
	}
	return -1
}

// judge compares the ledger, the event stream and the players' gold as the
// game answers it now. Requests the players gave up on may still be applied
// after the load stopped, so it reads the gold, the events and the gold
// again until both reads of the gold agree and no gift is in flight (a
// transfer a killed worker left is settled by the transfer consumer): the
// events read between them are then the ones the gold reflects.
func judge(ctx context.Context, js jetstream.JetStream, players []*player, l *ledger) (verdict, error) {
	var v verdict
	golds := func(ctx context.Context) ([]int64, error) { return readGolds(ctx, players) }
	gifts := func(ctx context.Context) (*giftEvents, error) { return readGifts(ctx, js) }
	before, err := retry(ctx, golds)
	if err != nil {
		return v, err
	}
	var g *giftEvents
	for {
		if g, err = retry(ctx, gifts); err != nil {
			return v, err
		}
		again, err := retry(ctx, golds)
		if err != nil {
			return v, err
		}
		if slices.Equal(before, again) && g.unsettled() == 0 {
			break
		}
		before = again
		if ctx.Err() != nil {
			return v, fmt.Errorf("the players' gold kept changing after the load stopped (%d gifts still in flight)", g.unsettled())
		}
		if g.unsettled() > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
	var total int64
	for i, p := range players {
		total += before[i]
		if want := startGold + g.recvSum[p.id] - g.sentSum[p.id]; before[i] != want {
			v.inconsistent++
			v.problems = append(v.problems, fmt.Sprintf("player %d holds %d gold; its gift events sum to %d, the last one records %d", p.id, before[i], want, g.lastTotal[p.id]))
		}
	}
	v.conservation = total - int64(len(players))*startGold
	for k, n := range g.sent {
		if g.received[k]+g.returned[k] != n {
			v.inconsistent++
			v.problems = append(v.problems, fmt.Sprintf("gift %+v: %d sent events, %d received, %d returned", k, n, g.received[k], g.returned[k]))
		}
	}
	for k, n := range g.received {
		if _, ok := g.sent[k]; !ok {
			v.inconsistent++
			v.problems = append(v.problems, fmt.Sprintf("gift %+v: %d received events, none sent", k, n))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, a := range l.acked {
		if n := g.sent[k]; n < a {
			v.lost += a - n
			v.problems = append(v.problems, fmt.Sprintf("gift %+v: %d acknowledged, %d in the events", k, a, n))
		}
	}
	for k, n := range g.sent {
		a, u := l.acked[k], l.uncertain[k]
		switch {
		case n > a+u:
			v.doubled += n - a - u
			v.problems = append(v.problems, fmt.Sprintf("gift %+v: %d in the events, %d acknowledged and %d of unknown outcome", k, n, a, u))
		case n > a:
			v.uncertainApplied += n - a
		}
	}
	if g.dupCmds > 0 {
		v.doubled += g.dupCmds
		v.problems = append(v.problems, fmt.Sprintf("%d gift commands recorded twice", g.dupCmds))
	}
	return v, nil
}

// retry runs read until it succeeds or ctx ends: right after a fault the
// cluster may still answer "JetStream system temporarily unavailable".
func retry[T any](ctx context.Context, read func(context.Context) (T, error)) (T, error) {
	for {
		v, err := read(ctx)
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// readGolds reads every player's gold (8 players at a time).
func readGolds(ctx context.Context, players []*player) ([]int64, error) {
	golds := make([]int64, len(players))
	errs := make([]error, len(players))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			gctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			golds[i], errs[i] = p.gold(gctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("player %d's gold: %w", players[i].id, err)
		}
	}
	return golds, nil
}
