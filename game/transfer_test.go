package game

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// stopsAfterDebit is a worker that stores debits and stops there: no
// credit, no transfer consumer. The debits it stores are sent on debits.
func stopsAfterDebit(debits chan<- transfer) func(*Worker) {
	return func(w *Worker) {
		w.tr.consume = false
		w.tr.afterDebit = func(t transfer) bool { debits <- t; return false }
	}
}

// playerEvents replays player id and returns its events and the state
// replayed, which must equal what the game answers for it.
func playerEvents(t *testing.T, h *harness, p *player) []*events.Event {
	t.Helper()
	var evs []*events.Event
	replayed, err := Replay(context.Background(), h.n.JS, p.uid, ReplayOptions{Step: func(e *events.Event, _ *def.User) error {
		evs = append(evs, e)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	answered := p.call(&msg.GetUser_Req{Id: proto.Int64(0)}).(*msg.GetUser_Res).GetUser()
	if !proto.Equal(replayed, answered) {
		t.Fatalf("player %d: replay %v\n != answer %v", p.uid, replayed, answered)
	}
	return evs
}

// ofTransfer counts the events of type T carrying transfer id.
func ofTransfer[T interface {
	proto.Message
	GetTransfer() string
}](evs []*events.Event, id string) int {
	n := 0
	for _, e := range evs {
		if m, ok := e.Msg.(T); ok && m.GetTransfer() == id {
			n++
		}
	}
	return n
}

func gift(t *testing.T, from *player, to int64, idx int32, num int32) {
	t.Helper()
	if res := from.call(&msg.GiftItems_Req{DstId: proto.Int64(to), ItemIdx: proto.Int32(idx), ItemNum: proto.Int32(num)}); code(res) != def.ResCode_RC_OK {
		t.Fatalf("gift = %v", res)
	}
}

// The worker stops between a gift's debit and its credit: the sender is
// debited and answered, the receiver not yet credited; a worker started
// after it credits the receiver through the transfer consumer, exactly once,
// and a replay of both equals the game's answers.
func TestGiftCreditedAfterRestart(t *testing.T) {
	h := newHarness(t)
	debits := make(chan transfer, 1)
	w1 := h.worker(testConfig(), stopsAfterDebit(debits))
	a, b := h.player(301, "g1"), h.player(302, "g1")
	login(t, a)
	login(t, b)
	gift(t, a, b.uid, gold, 100)
	tr := <-debits
	if got := items(t, a)[gold]; got != 900 {
		t.Fatalf("sender after the debit: %d", got)
	}
	if got := items(t, b)[gold]; got != 1000 {
		t.Fatalf("receiver before the credit: %d", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	w2 := h.worker(testConfig())
	eventually(t, "the credit", func() bool { return items(t, b)[gold] == 1100 })
	if n := count(t, w2.tr.recovered); n != 1 {
		t.Fatalf("recovered = %v, want 1", n)
	}
	// The consumer's delivery done, the worker's own attempt comes late:
	// nothing more is stored.
	if res, err := w2.settleTransfer(ctx, tr, time.Now()); err != nil || res != transferDone {
		t.Fatalf("settling again = %v, %v", res, err)
	}
	if n := ofTransfer[*evt.GiftReceived](playerEvents(t, h, b), tr.ID); n != 1 {
		t.Fatalf("%d credits of %s", n, tr.ID)
	}
	if n := ofTransfer[*evt.GiftSent](playerEvents(t, h, a), tr.ID); n != 1 {
		t.Fatalf("%d debits of %s", n, tr.ID)
	}
	if items(t, a)[gold]+items(t, b)[gold] != 2000 {
		t.Fatal("gold not conserved")
	}
}

// The same credit delivered many times at once, by two workers, is stored once.
func TestDuplicateCreditStoredOnce(t *testing.T) {
	h := newHarness(t)
	debits := make(chan transfer, 1)
	w1 := h.worker(testConfig(), stopsAfterDebit(debits))
	w2 := h.worker(testConfig(), stopsAfterDebit(debits)) // either may take the gift
	a, b := h.player(311, "g1"), h.player(312, "g1")
	login(t, a)
	login(t, b)
	gift(t, a, b.uid, gold, 7)
	tr := <-debits
	var wg sync.WaitGroup
	results := make(chan settleResult, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := []*Worker{w1, w2}[i%2]
			res, err := w.settleTransfer(context.Background(), tr, time.Now())
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	wg.Wait()
	close(results)
	credited := 0
	for r := range results {
		if r == transferCredited {
			credited++
		}
	}
	if credited != 1 {
		t.Fatalf("%d deliveries credited", credited)
	}
	if n := ofTransfer[*evt.GiftReceived](playerEvents(t, h, b), tr.ID); n != 1 {
		t.Fatalf("%d credits stored", n)
	}
	if got := items(t, b)[gold]; got != 1007 {
		t.Fatalf("receiver: %d", got)
	}
}

// A receiver that reached its stack limit between the debit and the credit
// refuses the gift: the sender gets it back (GiftReturned, with its own
// push), both linked to the debit by the transfer id.
func TestRefusedGiftReturned(t *testing.T) {
	h := newHarness(t)
	debits := make(chan transfer, 1)
	h.worker(testConfig(), stopsAfterDebit(debits))
	a, b := h.player(321, "g1"), h.player(322, "g1")
	login(t, a)
	login(t, b)
	grant := func(p *player, n int64) {
		g := &evt.ItemsGranted{Items: []*evt.ItemDelta{{Idx: proto.Int32(card), Num: proto.Int64(n)}}, At: proto.Int64(1)}
		data, _ := proto.Marshal(g)
		if _, err := h.n.JS.PublishMsg(context.Background(), natsMsg(bus.PlayerSubject(p.uid), data, string(g.ProtoReflect().Descriptor().FullName()))); err != nil {
			t.Fatal(err)
		}
	}
	grant(a, 10)
	grant(b, 9990)
	gift(t, a, b.uid, card, 9) // fits: 9999
	tr := <-debits
	grant(b, 1) // now it does not

	pushes := make(chan *nats.Msg, 16)
	sub, err := h.n.Conn.ChanSubscribe(bus.UserSubject(a.uid), pushes)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	h.n.Conn.Flush()
	w2 := h.worker(testConfig())
	eventually(t, "the refund", func() bool { return items(t, a)[card] == 10 })
	select {
	case m := <-pushes:
		res, err := frame.Decode([]byte(m.Header.Get(envelope.HdrAPI)), m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if it := res.(*msg.GetItems_Res).GetItems(); len(it) == 0 || held(&Player{User: &def.User{Items: it}}, card) != 10 {
			t.Fatalf("refund push = %v", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no push of the refund")
	}
	if got := items(t, b)[card]; got != 9991 {
		t.Fatalf("receiver's cards: %d", got)
	}
	evsA, evsB := playerEvents(t, h, a), playerEvents(t, h, b)
	if ofTransfer[*evt.GiftRefused](evsB, tr.ID) != 1 || ofTransfer[*evt.GiftReturned](evsA, tr.ID) != 1 || ofTransfer[*evt.GiftReceived](evsB, tr.ID) != 0 {
		t.Fatalf("events of %s: sender %v, receiver %v", tr.ID, evsA, evsB)
	}
	if n := count(t, w2.tr.returned); n != 1 {
		t.Fatalf("returned = %v", n)
	}
}

// count is a counter's value.
func count(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A transfer its receiver no longer remembers (transfersKept settled
// there since) but sent within the stream's dedup window is settled again
// by a late delivery: the stream drops the repeated credit (its Msg-Id),
// so it is stored once and nothing is left unresolved.
func TestForgottenCreditStoredOnce(t *testing.T) {
	h := newHarness(t)
	w := h.worker(testConfig())
	a, b, c := h.player(321, "g1"), h.player(322, "g1"), h.player(323, "g1")
	for _, p := range []*player{a, b, c} {
		login(t, p)
	}
	gift(t, a, b.uid, gold, 5)
	var tr transfer
	for _, e := range playerEvents(t, h, a) {
		if m, ok := e.Msg.(*evt.GiftSent); ok {
			tr, _ = transferOf(a.uid, e.Corr, m)
		}
	}
	if tr.ID == "" {
		t.Fatal("no debit found")
	}
	for range transfersKept {
		gift(t, c, b.uid, gold, 1)
	}
	eventually(t, "the receiver past what it remembers", func() bool {
		return items(t, b)[gold] == 1000+5+transfersKept
	})
	res, err := w.settleTransfer(context.Background(), tr, time.Now())
	if err != nil || res != transferDone {
		t.Fatalf("settling a forgotten transfer again = %v, %v; want it dropped as a repeat", res, err)
	}
	if n := ofTransfer[*evt.GiftReceived](playerEvents(t, h, b), tr.ID); n != 1 {
		t.Fatalf("%d credits of %s", n, tr.ID)
	}
	if got := items(t, b)[gold]; got != 1000+5+transfersKept {
		t.Fatalf("receiver: %d", got)
	}
	if n := count(t, w.tr.unresolved); n != 0 {
		t.Fatalf("unresolved = %v", n)
	}
}
