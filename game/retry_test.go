package game

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// The gate re-sends an unanswered request with the same Hive-Req, so the
// original and its copy may run at once on two workers. Both must answer
// alike and the command be stored once: gifts (an atomic batch over two
// players) and mail claims (one player) race here on two workers, each
// command handed to both at the same moment.
func TestRetryRacingOriginalStoresOnce(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	w1 := h.worker(cfg)
	cfg.Projections = false
	w2 := h.worker(cfg)
	a, b := h.player(1, "g1"), h.player(2, "g1")
	login(t, a)
	login(t, b)
	const n = 12
	for i := range n {
		if _, err := SendMail(context.Background(), h.n.Conn, "s3cret", MailRequest{To: []int64{1}, Title: "t" + strconv.Itoa(i), Items: []Amount{{card, 3}}}); err != nil {
			t.Fatal(err)
		}
	}

	answers, err := h.n.Conn.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	// race hands the same request to both workers at once and returns the
	// two answers.
	race := func(req proto.Message, id string) [2]proto.Message {
		t.Helper()
		api := frame.API(req)
		data, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, w := range []*Worker{w1, w2} {
			m := nats.NewMsg(bus.RequestSubject(api))
			m.Reply, m.Data = answers.Subject, data
			m.Header.Set(envelope.HdrGate, a.gate)
			m.Header.Set(envelope.HdrSession, strconv.FormatUint(a.session, 10))
			m.Header.Set(envelope.HdrUser, "1")
			m.Header.Set(envelope.HdrReq, id)
			wg.Go(func() { w.handle(m) })
		}
		wg.Wait()
		var out [2]proto.Message
		for i := range out {
			m, err := answers.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if out[i], err = frame.Decode([]byte(m.Header.Get(envelope.HdrAPI)), m.Data); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}

	for i := range n {
		got := race(&msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(10)}, "gift-"+strconv.Itoa(i))
		for _, res := range got {
			if code(res) != def.ResCode_RC_OK {
				t.Fatalf("gift %d answered %v", i, got)
			}
		}
		got = race(&msg.ClaimMail_Req{Id: proto.Int64(int64(i + 1))}, "claim-"+strconv.Itoa(i))
		for _, res := range got {
			if c := res.(*msg.ClaimMail_Res); code(res) != def.ResCode_RC_OK || len(c.GetItems()) != 1 || c.GetItems()[0].GetNum() != 3 {
				t.Fatalf("claim %d answered %v", i, got)
			}
		}
	}
	// Each twin ran and found its command already stored (or lost the race
	// to store it): one duplicate per command.
	if d := w1.store.Stats().Duplicates + w2.store.Stats().Duplicates; d != 2*n {
		t.Fatalf("duplicates = %d, want %d", d, 2*n)
	}
	if ga, gb := items(t, a)[gold], items(t, b)[gold]; ga != 1000-10*n || gb != 1000+10*n {
		t.Fatalf("gold after %d gifts of 10, each run twice at once: %d, %d", n, ga, gb)
	}
	if got := items(t, a)[card]; got != 3*n {
		t.Fatalf("cards after %d claims of 3, each run twice at once: %d", n, got)
	}
}
