package tools

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client/clienttest"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/msg"
)

func TestBenchGameScenarios(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	for _, sc := range []string{ScenarioEcho, ScenarioItems, ScenarioGift} {
		t.Run(sc, func(t *testing.T) {
			var out, progress syncBuffer
			res, err := Bench(testCtx(t), BenchOptions{UC: uc.URL, Conns: 3, Duration: 1200 * time.Millisecond, Scenario: sc, Out: &out, Progress: &progress})
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
	res, err := Bench(testCtx(t), BenchOptions{UC: uc.URL, Gate: bad.Addr(), Conns: 2, Duration: 300 * time.Millisecond, Scenario: ScenarioItems})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != res.Requests {
		t.Fatalf("result %+v, want every request an error", res)
	}
}

func TestBenchNATSRR(t *testing.T) {
	n := testenv.StartNATS(t)
	res, err := Bench(testCtx(t), BenchOptions{NATS: n.URL, Conns: 4, Duration: 300 * time.Millisecond, Scenario: ScenarioNATSRR})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 || res.Conns != 4 {
		t.Fatalf("result %+v", res)
	}
}

func TestBenchBadOptions(t *testing.T) {
	for _, c := range []struct {
		opt  BenchOptions
		want string
	}{
		{BenchOptions{Scenario: "nope", UC: "http://x"}, "unknown scenario"},
		{BenchOptions{Scenario: ScenarioEcho}, "--uc"},
		{BenchOptions{Scenario: ScenarioNATSRR}, "--nats"},
		{BenchOptions{UC: "http://x", Conns: -1}, "conns"},
		{BenchOptions{UC: "http://127.0.0.1:1", Conns: 1}, "sign up"},
	} {
		if _, err := Bench(testCtx(t), c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%+v: err = %v, want %q", c.opt, err, c.want)
		}
	}
}

type protoMessage = proto.Message

// errorRes is a refusal with RC_SERVER_INTERNAL_ERROR for api.
func errorRes(api string) proto.Message {
	return &msg.Error_Res{Code: proto.Int32(1), Api: proto.String(api)}
}
