package gate

import (
	"maps"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/registry"
)

// newPublishSession is a session of an unstarted gate, enough to publish
// requests on n's connection, on client connection c (nil: none).
func newPublishSession(tb testing.TB, n *testenv.NATS, c net.Conn) *session {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.ID = "g7"
	g, err := New(cfg, Deps{NC: n.Connect(tb, "gate"), Registry: registry.NewMemory()})
	if err != nil {
		tb.Fatal(err)
	}
	return newSession(g, c)
}

// TestPublishRequestHeaders: every request carries exactly the headers of
// DESIGN §3, Hive-User only with a user, also when a pooled header set last
// carried one.
func TestPublishRequestHeaders(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	sub, err := n.Conn.SubscribeSync("msg.*.Req")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	s := newPublishSession(t, n, nil)
	sid := s.subj[len("gate.g7."):]
	sends := []struct {
		api, reply, user string
		id               uint64
	}{
		{envelope.EchoReq, s.subj, "10001", 1},
		{envelope.EchoReq, s.subj, "", 123456789},
		{envelope.LogoutReq, "", "42", 2},
		{envelope.EchoReq, s.subj, "", 3},
	}
	for _, c := range sends {
		if err := s.publishRequest(c.api, c.reply, c.id, c.user, []byte{8, 1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range sends {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want := nats.Header{envelope.HdrGate: {"g7"}, envelope.HdrSession: {sid}, envelope.HdrReq: {strconv.FormatUint(c.id, 10)}}
		if c.user != "" {
			want[envelope.HdrUser] = []string{c.user}
		}
		if m.Subject != c.api || m.Reply != c.reply || string(m.Data) != "\x08\x01" ||
			!maps.EqualFunc(m.Header, want, slices.Equal) {
			t.Fatalf("got %s reply %q data %x headers %v; want %s reply %q headers %v",
				m.Subject, m.Reply, m.Data, m.Header, c.api, c.reply, want)
		}
	}
}

// BenchmarkPublishRequest publishes an Echo.Req with the request headers
// (no subscriber: the cost of building and sending, not of a round trip).
//
//	go test ./gate -run '^$' -bench PublishRequest -benchmem -count 5
func BenchmarkPublishRequest(b *testing.B) {
	n := testenv.StartNATS(b)
	s := newPublishSession(b, n, nil)
	payload := []byte{8, 42, 16, 1}
	b.ReportAllocs()
	id := uint64(1000)
	for b.Loop() {
		id++
		if err := s.publishRequest(envelope.EchoReq, s.subj, id, "10001", payload); err != nil {
			b.Fatal(err)
		}
	}
}
