package game

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
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
	w.send("gate.hdr.1", &msg.Echo_Res{Val: proto.Int64(1)}, []string{"r1", "r2"})
	w.reply("gate.hdr.1", &msg.GetItems_Res{Code: okCode()})
	w.send("gate.hdr.1", &msg.Echo_Res{Val: proto.Int64(2)}, []string{""})
	for i, want := range []struct {
		api, req string
		val      int64
	}{{"msg.Echo.Res", "r1", 1}, {"msg.GetItems.Res", "", 0}, {"msg.Echo.Res", "", 2}} {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Values(bus.HdrAPI); !slices.Equal(got, []string{want.api}) {
			t.Errorf("message %d: %s = %q, want %q", i, bus.HdrAPI, got, want.api)
		}
		var wantReq []string
		if want.req != "" {
			wantReq = []string{want.req}
		}
		if got := m.Header.Values(bus.HdrReq); !slices.Equal(got, wantReq) {
			t.Errorf("message %d: %s = %q, want %q", i, bus.HdrReq, got, wantReq)
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
