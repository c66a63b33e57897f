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
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/qeetap/hive/bus"
)

// NATS is an embedded nats-server with JetStream and a client connected to it.
//
// The server runs with Hive's identities and permissions on, as production
// does: anonymous clients are refused, each role (bus.Roles) has its nkey
// in Secrets, and ConnectAs connects as one. Conn and Connect use a test
// identity that may do anything, for setting up and inspecting state; a part
// under test should get a ConnectAs connection of its role, so a missing
// permission fails its tests.
type NATS struct {
	Server *bus.Embedded
	Conn   *nats.Conn
	JS     jetstream.JetStream
	// URL is the server's nats:// address on loopback, for separate clients.
	URL string
	// Cluster holds the nodes of StartNATSCluster by server name (nil otherwise).
	Cluster map[string]*server.Server
	// Secrets holds one credentials file per role (Secrets.CredsFile), for
	// separate processes (--nats-creds).
	Secrets *bus.Secrets
	// test is the test identity's key pair.
	test nkeys.KeyPair
	// cfg starts the server again (Restart): same store, same port.
	cfg bus.EmbeddedConfig
}

// StartNATS starts an embedded nats-server with JetStream (store in a temp
// dir, listening on a free loopback port) and permissions on, creates the
// EVENTS stream and the KV buckets, and stops it all when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	return StartNATSStore(t, bus.StoreConfig{})
}

// StartNATSStore is StartNATS with the store made by c (its partitions).
func StartNATSStore(t testing.TB, c bus.StoreConfig) *NATS {
	t.Helper()
	sec, test, users := identities(t)
	cfg := bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Users: users}
	srv, err := bus.StartEmbedded(cfg)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	n := &NATS{Server: srv, URL: srv.ClientURL(), Secrets: sec, test: test, cfg: cfg}
	n.cfg.Listen = strings.TrimPrefix(n.URL, "nats://")
	n.connect(t)
	if err := bus.EnsureStore(context.Background(), n.JS, c); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return n
}

// identities makes the role secrets, a test identity that may do
// anything, and the server users accepting them all.
func identities(t testing.TB) (*bus.Secrets, nkeys.KeyPair, []*server.NkeyUser) {
	t.Helper()
	sec, err := bus.InitSecrets(t.TempDir())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	test, err := nkeys.CreateUser()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	testPub, _ := test.PublicKey()
	return sec, test, append(sec.Users(), &server.NkeyUser{Nkey: testPub}) // nil permissions: everything
}

// connect sets Conn and JS: an in-process connection with the test identity.
func (n *NATS) connect(t testing.TB) {
	t.Helper()
	nc, err := n.Server.Connect("test", n.testOption())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: jetstream: %v", err)
	}
	n.Conn, n.JS = nc, js
}

// Stop shuts the server down as an operator stopping nats-server does: its
// clients see the connection drop and try to reconnect.
func (n *NATS) Stop() { n.Server.Shutdown() }

// Restart starts the stopped server again on the same port and store
// directory, so the clients of Connect and ConnectAs reconnect by
// themselves and find the streams and buckets as they were. Conn and JS are
// replaced: an in-process connection cannot follow a new server.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	srv, err := bus.StartEmbedded(n.cfg)
	if err != nil {
		t.Fatalf("testenv: restart: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	n.Conn.Close()
	n.Server = srv
	n.connect(t)
}

// testOption authenticates as the test identity (everything allowed).
func (n *NATS) testOption() nats.Option {
	pub, _ := n.test.PublicKey()
	return nats.Nkey(pub, n.test.Sign)
}

// Connect opens another client connection to the server (as a second
// process would) with the test identity, which may do anything.
func (n *NATS) Connect(t testing.TB, name string) *nats.Conn {
	t.Helper()
	var opts []nats.Option
	if n.test != nil {
		opts = append(opts, n.testOption())
	}
	nc, err := bus.Connect(n.URL, name, opts...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ConnectAs opens a client connection as role r, with exactly the
// permissions production gives that role.
func (n *NATS) ConnectAs(t testing.TB, r bus.Role, opts ...nats.Option) *nats.Conn {
	t.Helper()
	if n.Secrets == nil {
		t.Fatalf("testenv: this NATS runs without identities")
	}
	creds, err := bus.CredsOption(n.Secrets.CredsFile(r))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	nc, err := bus.Connect(n.URL, "test-"+string(r), append([]nats.Option{creds, nats.RetryOnFailedConnect(false)}, opts...)...)
	if err != nil {
		t.Fatalf("testenv: connect as %s: %v", r, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// handedOut holds the ports FreePort returned in this process.
var handedOut sync.Map

// FreePort returns a loopback TCP port that was free a moment ago. It picks
// below Linux's ephemeral range (32768-60999): a port the kernel hands out
// for bind(:0) can be taken by any outgoing connection of a test running in
// parallel before the server binds it, which made hive dev fail to start.
// A port is handed out once per test process: two parallel tests of one
// package that drew the same free port would both try to bind it.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		port := 20000 + rand.IntN(12000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
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
