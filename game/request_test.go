package game

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

func TestCommandID(t *testing.T) {
	c := commandID(7, "g1", "42", "r9")
	if c.ID != "7/g1/42/r9" || c.Corr != "r9" {
		t.Fatalf("commandID = %+v", c)
	}
	a, b := commandID(7, "g1", "42", ""), commandID(7, "g1", "42", "")
	if !strings.HasPrefix(a.ID, "n/") || a.ID == b.ID || a.Corr != "" {
		t.Fatalf("commandIDs without a request id: %+v, %+v", a, b)
	}
}

// TestSendHeaders: an answer names its Res in Hive-Api and carries the
// request's first Hive-Req only; a push carries no Hive-Req. The payloads
// survive the reuse of the marshal buffer.
func TestSendHeaders(t *testing.T) {
	h := newHarness(t)
	w := h.worker(testConfig())
	sub, err := h.n.Conn.SubscribeSync("gate.hdr.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.n.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	w.send(envelope.Answer{To: "gate.hdr.1", Req: []string{"r1", "r2"}, Res: &msg.Echo_Res{Val: proto.Int64(1)}})
	w.send(envelope.Answer{To: "gate.hdr.1", Res: &msg.GetItems_Res{Code: okCode()}})
	w.send(envelope.Answer{To: "gate.hdr.1", Req: []string{""}, Res: &msg.Echo_Res{Val: proto.Int64(2)}})
	for i, want := range []struct {
		api, req string
		val      int64
	}{{"msg.Echo.Res", "r1", 1}, {"msg.GetItems.Res", "", 0}, {"msg.Echo.Res", "", 2}} {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Values(envelope.HdrAPI); !slices.Equal(got, []string{want.api}) {
			t.Errorf("message %d: %s = %q, want %q", i, envelope.HdrAPI, got, want.api)
		}
		var wantReq []string
		if want.req != "" {
			wantReq = []string{want.req}
		}
		if got := m.Header.Values(envelope.HdrReq); !slices.Equal(got, wantReq) {
			t.Errorf("message %d: %s = %q, want %q", i, envelope.HdrReq, got, wantReq)
		}
		res, err := frame.Decode([]byte(want.api), m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := res.(*msg.Echo_Res); ok && e.GetVal() != want.val {
			t.Errorf("message %d: val %d, want %d", i, e.GetVal(), want.val)
		}
	}
}

// TestRequestMetrics: each answer counts once under its api and code, and
// its latency once under its api; unknown apis share one label.
func TestRequestMetrics(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	nc := h.n.Connect(t, "game")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(testConfig(), Deps{NC: nc, JS: js, Cache: h.cache, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Shutdown(context.Background()) })
	anon := h.player(0, "g1")
	for range 3 {
		anon.call(&msg.Echo_Req{Val: proto.Int64(1)})
	}
	if res := anon.call(&msg.GetItems_Req{}); code(res) != def.ResCode_RC_LOGIN_REQUIRED {
		t.Fatalf("GetItems without login = %v", res)
	}
	m := nats.NewMsg("msg.Nothing.Req")
	m.Header.Set(envelope.HdrReq, "1")
	if _, err := h.n.Conn.RequestMsg(m, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The answer is published before the metrics are recorded.
	gather := func() (counts map[string]float64, samples map[string]uint64) {
		counts, samples = map[string]float64{}, map[string]uint64{}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		label := func(m *dto.Metric, name string) string {
			for _, l := range m.GetLabel() {
				if l.GetName() == name {
					return l.GetValue()
				}
			}
			return ""
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "hive_game_requests_total":
					counts[label(m, "api")+" "+label(m, "code")] = m.GetCounter().GetValue()
				case "hive_game_request_seconds":
					samples[label(m, "api")] = m.GetHistogram().GetSampleCount()
				}
			}
		}
		return counts, samples
	}
	wantCounts := map[string]float64{
		"msg.Echo.Req 0": 3,
		"msg.GetItems.Req " + strconv.Itoa(int(def.ResCode_RC_LOGIN_REQUIRED)): 1,
		"unknown " + strconv.Itoa(int(def.ResCode_RC_API_UNKNOWN)):             1,
	}
	wantSamples := map[string]uint64{"msg.Echo.Req": 3, "msg.GetItems.Req": 1, "unknown": 1}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		counts, samples := gather()
		if maps.Equal(counts, wantCounts) && maps.Equal(samples, wantSamples) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests_total %v, want %v; request_seconds samples %v, want %v", counts, wantCounts, samples, wantSamples)
		}
	}
}

// TestHandlerDecode: every route decodes as frame.Decode does: the same
// message, and the same kind of error for payloads that do not parse or
// lack a required field.
func TestHandlerDecode(t *testing.T) {
	w := &Worker{}
	payloads := [][]byte{
		nil,
		{0xff},                   // a truncated tag
		{0x08, 0x01},             // field 1 varint
		{0x0a, 0x05, 'a'},        // field 1 bytes, truncated
		{0x0a, 0x02, 0x08, 0x07}, // field 1 bytes holding field 1 = 7
		{0x10, 0x02, 0x18, 0x03}, // fields 2 and 3 varints
	}
	payloads = append(payloads, mustMarshal(t, &msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1)}))
	payloads = append(payloads, mustMarshal(t, &msg.SetEvent_Req{Event: &def.Event{Oper: proto.Int32(1), ArgStr: proto.String("x")}}))
	kind := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, frame.ErrMissingRequired):
			return "missing required"
		case errors.Is(err, frame.ErrBadPayload):
			return "bad payload"
		}
		return err.Error()
	}
	seen := map[string]bool{}
	for _, h := range w.routes() {
		api := h.api
		for _, p := range payloads {
			want, wantErr := frame.Decode([]byte(api), p)
			got, err := h.decode(p)
			seen[kind(err)] = true
			if kind(err) != kind(wantErr) || (want == nil) != (got == nil) || (want != nil && !proto.Equal(got, want)) {
				t.Errorf("%s % x: decode = %v, %v; frame.Decode = %v, %v", api, p, got, err, want, wantErr)
			}
		}
	}
	if len(seen) != 3 {
		t.Fatalf("payloads gave only %v: cover ok, bad payload and missing required", seen)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
