package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/client/clienttest"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/tools/internal/tooltest"
)

func TestBenchGameScenarios(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	for _, sc := range []string{ScenarioEcho, ScenarioItems, ScenarioGift} {
		t.Run(sc, func(t *testing.T) {
			var out, progress tooltest.Buffer
			res, err := Run(tooltest.Ctx(t), Options{UC: uc.URL, Conns: 3, Duration: 1200 * time.Millisecond, Scenario: sc, Out: &out, Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.Errors != 0 || res.Conns != 3 || res.Scenario != sc || res.P50ms <= 0 || res.P999ms < res.P50ms || res.RPS <= 0 {
				t.Fatalf("result %+v", res)
			}
			var line map[string]any
			if err := json.Unmarshal(out.Bytes(), &line); err != nil {
				t.Fatalf("final line %q: %v", out.Bytes(), err)
			}
			for _, k := range []string{"scenario", "conns", "requests", "errors", "rps", "p50_ms", "p99_ms", "p999_ms"} {
				if _, ok := line[k]; !ok {
					t.Fatalf("final line lacks %s: %s", k, out.Bytes())
				}
			}
			if !bytes.Contains(progress.Bytes(), []byte(`"t_s":1`)) {
				t.Fatalf("no progress line: %q", progress.Bytes())
			}
		})
	}
}

// Refusals count as errors.
func TestBenchCountsErrors(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	// A gate that answers every GetItems with a failure.
	_ = g
	bad := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m protoMessage) {
		if api == "msg.GetItems.Req" {
			p.Send(errorRes(api))
			return
		}
		clienttest.DefaultHandler(p, api, m)
	})
	res, err := Run(tooltest.Ctx(t), Options{UC: uc.URL, Gate: bad.Addr(), Conns: 2, Duration: 300 * time.Millisecond, Scenario: ScenarioItems})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != res.Requests {
		t.Fatalf("result %+v, want every request an error", res)
	}
	// Refusals are no throughput, and the breakdown names their code.
	if res.RPS != 0 || len(res.ErrorsByCode) != 1 || res.ErrorsByCode["RC_SERVER_INTERNAL_ERROR"] != res.Errors || res.Hint != "" || !res.Failed() {
		t.Fatalf("result %+v, want rps 0 and every error RC_SERVER_INTERNAL_ERROR, no hint, failed", res)
	}
}

// A gate refusing with RC_RATE_LIMITED: the final line breaks the errors
// down by code and names the flag that lifts the limit.
func TestBenchRateLimitedHint(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	var n atomic.Int64
	limited := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m protoMessage) {
		if api == "msg.Echo.Req" && n.Add(1)%2 == 0 {
			p.Send(&msg.Error_Res{Code: proto.Int32(3), Api: proto.String(api)}) // RC_RATE_LIMITED
			return
		}
		clienttest.DefaultHandler(p, api, m)
	})
	var out tooltest.Buffer
	res, err := Run(tooltest.Ctx(t), Options{UC: uc.URL, Gate: limited.Addr(), Conns: 2, Duration: 300 * time.Millisecond, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.ErrorsByCode["RC_RATE_LIMITED"] != res.Errors || !strings.Contains(res.Hint, "--gate-rate 0") || !res.Failed() {
		t.Fatalf("result %+v", res)
	}
	if ok := res.Requests - res.Errors; res.RPS <= 0 || res.RPS >= float64(res.Requests)/0.3 || ok <= 0 {
		t.Fatalf("rps %v counts more than the %d successful answers", res.RPS, ok)
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	by, _ := line["errors_by_code"].(map[string]any)
	if by["RC_RATE_LIMITED"] != float64(res.Errors) || !strings.Contains(line["hint"].(string), "--gate-rate") {
		t.Fatalf("final line %s", out.Bytes())
	}
}

func TestBenchErrorCause(t *testing.T) {
	for err, want := range map[error]string{
		&client.Error{Code: 3}:    "RC_RATE_LIMITED",
		&client.Error{Code: 4242}: "4242",
		errLate:                   ErrTimeout,
		fmt.Errorf("x: %w", context.DeadlineExceeded): ErrTimeout,
		&client.ProtocolError{Msg: "bad"}:             ErrProtocol,
		errServerClosed:                               ErrConnection,
		io.EOF:                                        ErrConnection,
		errors.New("something"):                       ErrOther,
	} {
		if got := errorCause(err); got != want {
			t.Errorf("errorCause(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestBenchNATSRR(t *testing.T) {
	n := testenv.StartNATS(t)
	creds, err := bus.CredsOption(n.Secrets.CredsFile(bus.RoleBench)) // the bench's own subjects only
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(tooltest.Ctx(t), Options{NATS: n.URL, NATSOptions: []nats.Option{creds}, Conns: 4, Duration: 300 * time.Millisecond, Scenario: ScenarioNATSRR})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 || res.Conns != 4 {
		t.Fatalf("result %+v", res)
	}
}

func TestBenchBadOptions(t *testing.T) {
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Scenario: "nope", UC: "http://x"}, "unknown scenario"},
		{Options{Scenario: ScenarioEcho}, "--uc"},
		{Options{Scenario: ScenarioNATSRR}, "--nats"},
		{Options{UC: "http://x", Conns: -1}, "conns"},
		{Options{UC: "http://127.0.0.1:1", Conns: 1}, "sign up"},
		{Options{UC: "http://x", Transport: "udp"}, "unknown transport"},
		{Options{UC: "http://x", Rate: -1}, "negative rate"},
		{Options{UC: "http://x", Rate: 100, Scenario: ScenarioMixed}, "paced by its rate per conn"},
		{Options{UC: "http://x", Rate: 0.5, Conns: 10, Duration: time.Second}, "less than one request per connection"},
	} {
		if _, err := Run(tooltest.Ctx(t), c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%+v: err = %v, want %q", c.opt, err, c.want)
		}
	}
}

// With --transport ws the players go to uc's ws_url; a uc that answers
// none (its gate serves no WebSocket) is an error that says so.
func TestBenchWSNeedsWSURL(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	_, err := Run(tooltest.Ctx(t), Options{UC: uc.URL, Conns: 1, Duration: time.Second, Transport: TransportWS})
	if err == nil || !strings.Contains(err.Error(), "no ws_url") {
		t.Fatalf("err = %v, want the missing ws_url named", err)
	}
}

type protoMessage = proto.Message

// errorRes is a refusal with RC_SERVER_INTERNAL_ERROR for api.
func errorRes(api string) proto.Message {
	return &msg.Error_Res{Code: proto.Int32(1), Api: proto.String(api)}
}

// startResponder starts a trivial TCP peer that answers every bench request
// (Login, Echo, GetItems, GiftItems) with a pre-encoded OK answer, so that a
// benchmark of the driver measures the driver and the loopback, not a gate.
// It allocates nothing per request.
func startResponder(tb testing.TB) string {
	ok := proto.Int32(0)
	answers := map[string][]byte{}
	for req, res := range map[string]proto.Message{
		"msg.Login.Req":     &msg.Login_Res{Code: ok, User: clienttest.TestUser()},
		"msg.Echo.Req":      &msg.Echo_Res{Val: proto.Int64(1), Ct: proto.Int64(1)},
		"msg.GetItems.Req":  &msg.GetItems_Res{Code: ok, Items: clienttest.Gold(100)},
		"msg.GiftItems.Req": &msg.GiftItems_Res{Code: ok},
	} {
		b, err := frame.AppendMessage(nil, res)
		if err != nil {
			tb.Fatal(err)
		}
		answers[req] = b
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	var conns sync.Map
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
				return
			}
			conns.Store(c, nil)
			wg.Go(func() {
				defer c.Close()
				r := frame.NewReader(c, 0)
				for {
					api, _, err := r.Next()
					if err != nil {
						return
					}
					a, ok := answers[string(api)]
					if !ok {
						tb.Errorf("responder: unexpected %s", api)
						return
					}
					if _, err := c.Write(a); err != nil {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

// BenchmarkDriver measures the load generator's own work per request of
// each game scenario: one request (write, read, check, record) against
// startResponder, on one connection (conns=1: the round trip's latency) and
// on 16 per core in parallel (par). cpu-ns/op is the CPU time of the
// process (driver and responder together) per request: what a request
// costs the machine, less disturbed by other load than ns/op.
//
//	go test ./tools -run '^$' -bench Driver -benchmem -count 5
func BenchmarkDriver(b *testing.B) {
	addr := startResponder(b)
	for _, sc := range []string{ScenarioEcho, ScenarioItems, ScenarioGift} {
		for _, par := range []bool{false, true} {
			name := sc + "/conns=1"
			conns := 1
			if par {
				conns = 16 * runtime.GOMAXPROCS(0)
				name = sc + "/par"
			}
			b.Run(name, func(b *testing.B) {
				benchDriver(b, addr, sc, conns, par)
			})
		}
	}
}

func benchDriver(b *testing.B, addr, sc string, conns int, par bool) {
	opt := Options{Scenario: sc, Conns: conns, Timeout: 10 * time.Second}
	n := conns
	if sc == ScenarioGift && n == 1 {
		n = 2 // as gameOps
	}
	players := make([]*benchPlayer, n)
	for i := range players {
		players[i] = &benchPlayer{opt: opt, token: "tok", addr: addr, id: int64(i + 1)}
	}
	defer func() {
		for _, p := range players {
			p.close()
		}
	}()
	ops, err := playerOps(opt, players, &giftRing{}) // no gold counted: the peer answers every gift
	if err != nil {
		b.Fatal(err)
	}
	var requests, errs atomic.Int64
	workers := make([]*benchWorker, len(ops))
	ctx, cancel := context.WithCancel(context.Background()) // as drive's
	defer cancel()
	for i, op := range ops {
		workers[i] = &benchWorker{op: op, timeout: opt.Timeout, h: newBenchHist(), requests: &requests, errs: &errs}
		workers[i].step(ctx) // connect and log in
		workers[i].step(ctx) // the other player of a one-connection gift
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, cpuOK := testenv.CPUTime()
	if !par {
		for range b.N {
			workers[0].step(ctx)
		}
	} else {
		var next atomic.Int64
		b.SetParallelism(conns / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			w := workers[int(next.Add(1)-1)%len(workers)]
			for pb.Next() {
				w.step(ctx)
			}
		})
	}
	b.StopTimer()
	if cpu1, ok := testenv.CPUTime(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
	if errs.Load() != 0 {
		b.Fatalf("%d errors in %d requests", errs.Load(), requests.Load())
	}
}
