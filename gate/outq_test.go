package gate

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/msg"
)

// TestPushesPastSocketBuffer: pushes that do not fit the socket buffers of
// a client that is not reading (partial and would-block writes, finished by
// a blocking write) all arrive, whole and in order, once it reads; then a
// request is still answered.
func TestPushesPastSocketBuffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.QueueBytes = 8 << 20; c.WriteTimeout = time.Minute })
	c := e.dial(g)
	_ = c.c.(*net.TCPConn).SetReadBuffer(64 << 10)
	c.login(e.token(1), 1)
	g.sessions.Range(func(_, v any) bool {
		_ = v.(*session).conn.(*net.TCPConn).SetWriteBuffer(16 << 10)
		return true
	})

	const pushes = 40 // 40 x 60 kB, far more than the socket buffers hold
	pub := e.nats.Connect(t, "pusher")
	for i := range pushes {
		detail := fmt.Sprintf("%06d", i) + string(make([]byte, 60000))
		data, _ := proto.Marshal(&msg.Error_Res{Code: proto.Int32(int32(i)), Detail: proto.String(detail)})
		if err := pub.PublishMsg(&nats.Msg{Subject: "user.1", Header: nats.Header{"Hive-Api": {envelope.ErrorRes}}, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pushes queued", func() bool { return metricValue(g.m.apiNamed(envelope.ErrorRes).framesOut) == pushes })
	time.Sleep(50 * time.Millisecond) // let the writes run into the full socket (not a synchronisation)
	for i := range pushes {
		m, ok := c.next().(*msg.Error_Res)
		if !ok || m.GetCode() != int32(i) || len(m.GetDetail()) != 60006 || m.GetDetail()[:6] != fmt.Sprintf("%06d", i) {
			t.Fatalf("push %d: got code %d, detail of %d bytes", i, m.GetCode(), len(m.GetDetail()))
		}
	}
	c.echo(5)
	if v := metricValue(g.m.disconnects.WithLabelValues(closeSlowReader)); v != 0 {
		t.Fatalf("slow_reader disconnects = %v", v)
	}
}

// BenchmarkPushToSocket is the last step of the answer path: a Res from
// NATS is queued on its session and written to the client's socket; each
// op waits until the client has read the frame (one answer in flight, as
// with a client waiting for its answer).
//
//	go test ./gate -run '^$' -bench PushToSocket -benchmem -count 5
func BenchmarkPushToSocket(b *testing.B) {
	s, got := socketSession(b)
	payload := []byte{8, 42, 16, 1}
	b.ReportAllocs()
	for b.Loop() {
		s.push("msg.Echo.Res", payload)
		if _, ok := <-got; !ok {
			b.Fatal("client connection ended")
		}
	}
}
