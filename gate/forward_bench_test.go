package gate

import (
	"net"
	"strconv"
	"testing"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/frame"
)

// BenchmarkForwardPath is the gate's own work per request, without the
// network round trips: a logged-in session handles an Echo.Req frame
// (validate, forward: publish to NATS, where nobody subscribes) and then
// takes its answer as it would come from NATS (match, queue, write to the
// client's socket). Each op waits until the client has read the answer, as
// a client with one request in flight does.
//
//	go test ./gate -run '^$' -bench ForwardPath -benchmem -count 5
func BenchmarkForwardPath(b *testing.B) {
	s, got := socketSession(b)
	s.srv.cfg.Rate = 0
	s.srv.sessions.Store(s.id, s)
	s.state, s.uid, s.user = stateLoggedIn, 10001, "10001"

	api := []byte(envelope.EchoReq)
	payload := []byte{8, 42, 16, 1}
	b.ReportAllocs()
	for b.Loop() {
		s.handle(api, payload)
		s.mu.Lock()
		r := s.inflight
		s.mu.Unlock()
		if r == nil {
			b.Fatal("request not in flight")
		}
		s.onAnswer("msg.Echo.Res", strconv.FormatUint(r.id, 10), payload)
		if _, ok := <-got; !ok {
			b.Fatal("client connection ended")
		}
	}
}

// socketSession is a session of a gate on a fresh NATS server, on the
// server side of a loopback TCP connection whose client side is read by a
// goroutine: got receives once per frame read and is closed when the
// connection ends.
func socketSession(b *testing.B) (*session, <-chan struct{}) {
	n := testenv.StartNATS(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { server.Close() })
	got := make(chan struct{})
	go func() {
		r := frame.NewReader(client, frame.MaxSize)
		for {
			if _, _, err := r.Next(); err != nil {
				close(got)
				return
			}
			got <- struct{}{}
		}
	}()
	return newPublishSession(b, n, server), got
}
