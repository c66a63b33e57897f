package game

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
)

// The BenchmarkHandle* benchmarks measure one request inside the worker,
// without the client and without the subscription and pool handoff:
// w.handle on a request message as the gate sends it (decode, handler, the
// event store's load or append, the answer publish and any pushes). Their
// allocs/op are the worker's own per request (plus the event store's).
// cpu-ns/op is the CPU time of the whole process (the embedded NATS server
// included) per request, which other load on the machine disturbs much less
// than ns/op.

// handleBench starts a worker and logs in players uid 1..n through it.
func handleBench(b *testing.B, n int) (*Worker, *nats.Conn) {
	b.Helper()
	env := testenv.StartNATS(b)
	nc := env.Connect(b, "game")
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Projections = false
	w, err := New(cfg, Deps{NC: nc, JS: js, Cache: cache.NewMemory(), Registry: registry.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Shutdown(context.Background()) })
	client := env.Connect(b, "gate")
	for uid := int64(1); uid <= int64(n); uid++ {
		p := &player{t: b, nc: client, gate: "bench", session: uint64(uid), uid: uid}
		if res := p.call(&msg.Login_Req{Token: proto.String("t")}); code(res) != def.ResCode_RC_OK {
			b.Fatal(res)
		}
	}
	return w, client
}

// gateMsg is a request as the gate publishes it (headers parsed, as the
// subscription hands them to the worker), answered on reply.
func gateMsg(b *testing.B, req proto.Message, uid int64, reply string) *nats.Msg {
	b.Helper()
	data, err := proto.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	m := nats.NewMsg(string(req.ProtoReflect().Descriptor().FullName()))
	m.Data, m.Reply = data, reply
	m.Header.Set(envelope.HdrGate, "bench")
	m.Header.Set(envelope.HdrSession, strconv.FormatInt(uid, 10))
	if uid != 0 {
		m.Header.Set(envelope.HdrUser, strconv.FormatInt(uid, 10))
	}
	m.Header.Set(envelope.HdrReq, "1")
	return m
}

// checkAnswer handles m once and checks the answer on m.Reply: the Res
// named in Hive-Api, the request's Hive-Req, and ok for its content.
func checkAnswer(b *testing.B, w *Worker, client *nats.Conn, m *nats.Msg, ok func(proto.Message) bool) {
	b.Helper()
	sub, err := client.SubscribeSync(m.Reply)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := client.Flush(); err != nil {
		b.Fatal(err)
	}
	w.handle(m)
	got, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		b.Fatal(err)
	}
	if got.Header.Get(envelope.HdrReq) != m.Header.Get(envelope.HdrReq) {
		b.Fatalf("answer Hive-Req %q, want %q", got.Header.Get(envelope.HdrReq), m.Header.Get(envelope.HdrReq))
	}
	res, err := frame.Decode([]byte(got.Header.Get(envelope.HdrAPI)), got.Data)
	if err != nil || !ok(res) {
		b.Fatalf("answer %v, %v", res, err)
	}
}

// loop runs op b.N times, reporting allocations and cpu-ns/op.
func loop(b *testing.B, op func()) {
	b.ReportAllocs()
	cpu0, ok := testenv.CPUTime()
	for b.Loop() {
		op()
	}
	if cpu1, _ := testenv.CPUTime(); ok {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkHandleEcho: an Echo request (no event store).
func BenchmarkHandleEcho(b *testing.B) {
	w, client := handleBench(b, 0)
	m := gateMsg(b, &msg.Echo_Req{Val: proto.Int64(42), Ct: proto.Int64(1)}, 0, "gate.bench.1")
	checkAnswer(b, w, client, m, func(res proto.Message) bool { return res.(*msg.Echo_Res).GetVal() == 42 })
	loop(b, func() { w.handle(m) })
}

// BenchmarkHandleGetItems: a GetItems request (a cached load checked
// against the stream with one direct get).
func BenchmarkHandleGetItems(b *testing.B) {
	w, client := handleBench(b, 1)
	m := gateMsg(b, &msg.GetItems_Req{}, 1, "gate.bench.1")
	checkAnswer(b, w, client, m, func(res proto.Message) bool {
		return code(res) == def.ResCode_RC_OK && len(res.(*msg.GetItems_Res).GetItems()) > 0
	})
	loop(b, func() { w.handle(m) })
}

// BenchmarkHandleGetItemsActive: GetItems of a player with a full window
// of recent command ids in its snapshot (after 80 motto changes), as an
// active player's is.
func BenchmarkHandleGetItemsActive(b *testing.B) {
	w, client := handleBench(b, 1)
	p := &player{t: b, nc: client, gate: "bench", session: 1, uid: 1}
	for i := range 80 {
		ev := &def.Event{Oper: proto.Int32(int32(def.EventType_EVENT_MOD_MOTTO)), ArgStr: proto.String(strconv.Itoa(i))}
		if res := p.call(&msg.SetEvent_Req{Event: ev}); code(res) != def.ResCode_RC_OK {
			b.Fatal(res)
		}
	}
	m := gateMsg(b, &msg.GetItems_Req{}, 1, "gate.bench.1")
	checkAnswer(b, w, client, m, func(res proto.Message) bool {
		return code(res) == def.ResCode_RC_OK && len(res.(*msg.GetItems_Res).GetItems()) > 0
	})
	loop(b, func() { w.handle(m) })
}

// BenchmarkHandleGiftItems: a gift of 1 gold, alternating between two
// players (an atomic two-subject append, two ItemsChanged pushes). Each
// iteration sets a fresh Hive-Req (counted: one small allocation).
func BenchmarkHandleGiftItems(b *testing.B) {
	w, client := handleBench(b, 2)
	ms := [2]*nats.Msg{
		gateMsg(b, &msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1)}, 1, "gate.bench.1"),
		gateMsg(b, &msg.GiftItems_Req{DstId: proto.Int64(1), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1)}, 2, "gate.bench.2"),
	}
	checkAnswer(b, w, client, ms[0], func(res proto.Message) bool { return code(res) == def.ResCode_RC_OK })
	i := 2
	loop(b, func() {
		m := ms[i%2]
		m.Header[envelope.HdrReq] = []string{strconv.Itoa(i)}
		w.handle(m)
		i++
	})
}
