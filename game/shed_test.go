package game

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// A worker offered far more requests than its pool and queue hold answers
// the excess RC_COMMON_SERVER_NOT_READY at once, while the rest are still
// being handled: nothing waits for a deadline, and what it holds is bounded
// by --game-workers plus --game-queue, whatever the offered load.
func TestOverloadShedsAtOnce(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	cfg.Workers, cfg.Queue = 2, 3
	cfg.Projections = false
	release := make(chan struct{})
	var entered atomic.Int64
	slow := Route(func(_ context.Context, _ *Request, _ *msg.GetUser_Req) (*msg.GetUser_Res, error) {
		entered.Add(1)
		<-release
		return &msg.GetUser_Res{Code: okCode()}, nil
	})
	w := h.worker(cfg, func(w *Worker) { w.handlers[slow.api] = slow })
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the worker's shutdown, which waits for the handlers

	answers, err := h.n.Conn.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	if err := answers.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	const n = 200
	data, _ := proto.Marshal(&msg.GetUser_Req{Id: proto.Int64(0)})
	for i := range n {
		m := nats.NewMsg(bus.RequestSubject(slow.api))
		m.Reply, m.Data = answers.Subject, data
		m.Header.Set(envelope.HdrGate, "g1")
		m.Header.Set(envelope.HdrSession, "1")
		m.Header.Set(envelope.HdrUser, "1")
		m.Header.Set(envelope.HdrReq, strconv.Itoa(i))
		if err := h.n.Conn.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	held := int64(cfg.Workers + cfg.Queue)
	// Every request beyond what the worker holds is answered while the
	// handlers are still blocked.
	codes := map[def.ResCode]int{}
	read := func() {
		t.Helper()
		m, err := answers.NextMsg(15 * time.Second)
		if err != nil {
			t.Fatalf("answers so far %v: %v", codes, err)
		}
		res, err := frame.Decode([]byte(m.Header.Get(envelope.HdrAPI)), m.Data)
		if err != nil {
			t.Fatal(err)
		}
		codes[code(res)]++
	}
	for range n - held {
		read()
	}
	if got := codes[def.ResCode_RC_COMMON_SERVER_NOT_READY]; got != int(n-held) {
		t.Fatalf("answers while the handlers were blocked: %v, want %d RC_COMMON_SERVER_NOT_READY", codes, n-held)
	}
	if e, q := entered.Load(), len(w.jobs); e > int64(cfg.Workers) || q > cfg.Queue {
		t.Fatalf("holding %d in handlers and %d queued, bounds %d and %d", e, q, cfg.Workers, cfg.Queue)
	}
	unblock()
	for range held {
		read()
	}
	if codes[def.ResCode_RC_OK] != int(held) || len(codes) != 2 {
		t.Fatalf("answers = %v, want %d RC_OK and the rest shed", codes, held)
	}
	var d dto.Metric
	if err := w.m.shed.Write(&d); err != nil {
		t.Fatal(err)
	}
	if v := d.GetCounter().GetValue(); v != float64(n-held) {
		t.Fatalf("shed metric = %v, want %d", v, n-held)
	}
}
