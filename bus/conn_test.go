package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
)

// Link ends at a connection drop, with ErrConnectionLost, and the next one
// lives on: a request made with it while the server is away is buffered and
// answered once the restarted server is back (the responder is on the same
// connection: nats.go subscribes again before it sends what it buffered).
func TestLinkEndsAtADrop(t *testing.T) {
	n := testenv.StartNATS(t)
	nc := n.Connect(t, "client")
	if _, err := nc.Subscribe("svc.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	before := bus.Link(nc)
	if before.Err() != nil {
		t.Fatalf("link of a connected client ended: %v", before.Err())
	}
	n.Stop()
	select {
	case <-before.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("link did not end when the server stopped")
	}
	if cause := context.Cause(before); !errors.Is(cause, bus.ErrConnectionLost) {
		t.Fatalf("cause = %v, want ErrConnectionLost", cause)
	}
	after := bus.Link(nc)
	if after.Err() != nil {
		t.Fatalf("the next link ended already: %v", after.Err())
	}
	answer := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(after, 15*time.Second)
		defer cancel()
		_, err := nc.RequestWithContext(ctx, "svc.echo", []byte("hi"))
		answer <- err
	}()
	n.Restart(t)
	if err := <-answer; err != nil {
		t.Fatalf("request made during the hole: %v", err)
	}
	if bus.Link(nc) != after {
		t.Fatal("a new link after a reconnect without a drop")
	}
	// A connection Connect did not make has a link that never ends.
	if l := bus.Link(&nats.Conn{}); l.Done() != nil {
		t.Fatal("link of a foreign connection can end")
	}
}

// A client whose server stops answering without closing the connection (a
// frozen process, a stalled network) finds out from its unanswered pings
// within seconds and moves to another URL, instead of waiting minutes on
// a connection that looks open.
func TestConnectLeavesAFrozenServer(t *testing.T) {
	n := testenv.StartNATS(t)
	frozen, live := testenv.StartProxy(t, strings.TrimPrefix(n.URL, "nats://")), testenv.StartProxy(t, strings.TrimPrefix(n.URL, "nats://"))
	creds, err := bus.CredsOption(n.Secrets.CredsFile(bus.RoleTools))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := bus.Connect("nats://"+frozen.Addr+",nats://"+live.Addr, "client", creds, nats.DontRandomize())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil || nc.ConnectedAddr() != frozen.Addr {
		t.Fatalf("connected to %s (%v), want the first URL %s", nc.ConnectedAddr(), err, frozen.Addr)
	}
	link := bus.Link(nc)
	frozen.Freeze()
	select {
	case <-link.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("still on the frozen server after 30 s")
	}
	deadline := time.Now().Add(30 * time.Second)
	for nc.ConnectedAddr() != live.Addr || nc.FlushTimeout(time.Second) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not serving through %s: on %q", live.Addr, nc.ConnectedAddr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
