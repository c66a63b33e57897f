package gate

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// A request's deadline counts from its arrival at the gate, not from when it
// leaves the session's queue: requests that waited behind an unanswered one
// past half their deadline are answered RC_COMMON_SERVER_NOT_READY without
// being sent (not applied; safe to send again), instead of each being sent
// in turn and answered up to (--gate-max-pending+1) deadlines after it came.
func TestWaitingRequestDeadlineCountsFromArrival(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) {
		c.RequestTimeout = 300 * time.Millisecond
		c.Retries = 0
		c.MaxPending = 8
	})
	e.game.handle("msg.GetItems.Req", func(*nats.Msg, proto.Message) proto.Message { return nil })
	c := e.dial(g)
	c.login(e.token(1), 1)
	const n = 9 // one in flight, eight waiting: all arrive together
	var batch []byte
	for i := range n {
		batch, _ = frame.AppendMessage(batch, &msg.GetItems_Req{Idx: proto.Int32(int32(i + 1))})
	}
	c.sendRaw(batch)
	codes := map[int32]int{}
	for range n {
		m := c.next()
		if apiOf(m) != "msg.GetItems.Res" {
			t.Fatalf("got %v", m)
		}
		codes[codeOf(m)]++
	}
	if codes[int32(def.ResCode_RC_TIMEOUT)] != 1 || codes[int32(def.ResCode_RC_COMMON_SERVER_NOT_READY)] != n-1 {
		t.Fatalf("answers by code %v: want 1 RC_TIMEOUT and the %d that waited past half their deadline RC_COMMON_SERVER_NOT_READY", codes, n-1)
	}
	if sent := len(e.game.requests("msg.GetItems.Req")); sent != 1 {
		t.Fatalf("game saw %d requests, want 1", sent)
	}
	if got := metricValue(g.m.requests.WithLabelValues("expired")); got != n-1 {
		t.Fatalf("expired outcomes = %v, want %d", got, n-1)
	}
}
