// Package testenv starts the real servers Hive's tests run against, one set
// per test, torn down by t.Cleanup: an embedded nats-server with JetStream, an
// embedded etcd, and a redis-server process on a free port.
//
// redis-server comes from the machine (Debian's redis-server package). Where
// it is not installed the redis tests skip saying so, unless HIVE_REQUIRE_REDIS=1,
// where they fail: CI sets it so a missing install cannot pass silently.
package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/qeetap/hive/bus"
)

// NATS is an embedded nats-server with JetStream and a client connected to it.
type NATS struct {
	Server *bus.Embedded
	Conn   *nats.Conn
	JS     jetstream.JetStream
	// URL is the server's nats:// address on loopback, for separate clients.
	URL string
}

// StartNATS starts an embedded nats-server with JetStream (store in a temp
// dir, listening on a free loopback port), creates the EVENTS stream and the
// KV buckets, and stops it all when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: jetstream: %v", err)
	}
	if err := bus.EnsureStore(context.Background(), js, bus.StoreConfig{}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return &NATS{Server: srv, Conn: nc, JS: js, URL: srv.ClientURL()}
}

// Connect opens another client connection to the server (as a second process would).
func (n *NATS) Connect(t testing.TB, name string) *nats.Conn {
	t.Helper()
	nc, err := bus.Connect(n.URL, name)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// FreePort returns a loopback TCP port that was free a moment ago. It picks
// below Linux's ephemeral range (32768-60999): a port the kernel hands out
// for bind(:0) can be taken by any outgoing connection of a test running in
// parallel before the server binds it, which made hive dev fail to start.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
