package testenv

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
)

// StartNATSCluster starts a three-node JetStream cluster in this process
// (routes on loopback, a temp store each), creates the EVENTS stream and the
// KV buckets with three replicas, and returns a client connected to the
// EVENTS stream's leader; Server is nil. For benchmarks of the replicated
// (production) store: it is slow to start and heavy for 2 cores.
func StartNATSCluster(t testing.TB) *NATS {
	t.Helper()
	return StartNATSClusterStore(t, 1)
}

// StartNATSClusterStore is StartNATSCluster with a store of partitions
// event streams, each at R3 with its leader elected. Every node runs with
// Hive's identities and permissions, as StartNATS does: Conn, Connect and
// ConnectAs work as there.
func StartNATSClusterStore(t testing.TB, partitions int) *NATS {
	t.Helper()
	sec, test, users := identities(t)
	n := &NATS{Secrets: sec, test: test}
	srvs := startNodes(t, users)
	// The meta group must have a leader (and every node know it) before a
	// replicated stream can be placed.
	waitFor(t, "jetstream meta leader", func() bool {
		leader := false
		for _, s := range srvs {
			if s.JetStreamIsLeader() {
				leader = true
			}
			if !s.JetStreamIsCurrent() {
				return false
			}
		}
		return leader
	})
	n.URL = srvs["n0"].ClientURL()
	nc := n.Connect(t, "test")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: jetstream: %v", err)
	}
	// A fresh cluster may still lack the peers to place a replicated stream.
	waitFor(t, "EVENTS and buckets at R3", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return bus.EnsureStore(ctx, js, bus.StoreConfig{Replicas: 3, Partitions: partitions}) == nil
	})
	var leader string
	for p := partitions - 1; p >= 0; p-- {
		waitFor(t, bus.EventsStreamFor(p)+" stream leader", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st, err := js.Stream(ctx, bus.EventsStreamFor(p))
			if err != nil {
				return false
			}
			info, err := st.Info(ctx)
			if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
				return false
			}
			for _, r := range info.Cluster.Replicas {
				if !r.Current {
					return false
				}
			}
			leader = info.Cluster.Leader
			return true
		})
	}
	if leader != "n0" {
		n.URL = srvs[leader].ClientURL()
		nc = n.Connect(t, "test")
		if js, err = jetstream.New(nc); err != nil {
			t.Fatalf("testenv: jetstream: %v", err)
		}
	}
	n.Conn, n.JS, n.Cluster = nc, js, srvs
	return n
}

// StartNATSNodes starts the three nodes of a fresh JetStream cluster
// (servers n0, n1, n2) and returns them by name as soon as each accepts
// clients: the meta group may not have a leader yet.
func StartNATSNodes(t testing.TB) map[string]*server.Server {
	t.Helper()
	return startNodes(t, nil)
}

// startNodes is StartNATSNodes with users the nodes accept (nil = anyone).
func startNodes(t testing.TB, users []*server.NkeyUser) map[string]*server.Server {
	t.Helper()
	ports := []int{FreePort(t), FreePort(t), FreePort(t)}
	routes := make([]*url.URL, len(ports))
	for i, p := range ports {
		routes[i] = &url.URL{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(p)}
	}
	srvs := make(map[string]*server.Server, len(ports))
	for i, p := range ports {
		name := "n" + strconv.Itoa(i)
		srvs[name] = startClusterNode(t, &server.Options{
			ServerName: name,
			Cluster:    server.ClusterOpts{Name: "hive", Host: "127.0.0.1", Port: p},
			Routes:     routes,
			Nkeys:      users,
		})
	}
	return srvs
}

// startClusterNode completes opts (JetStream on a temp store, random client
// port on loopback), starts the server and waits until it accepts clients.
func startClusterNode(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	opts.Host = "127.0.0.1"
	opts.Port = server.RANDOM_PORT
	opts.NoSigs = true
	opts.NoLog = true
	opts.MaxPayload = 8 << 20
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatalf("testenv: server %s not ready", opts.ServerName)
	}
	return s
}

// waitFor polls cond every 50 ms for up to 30 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("testenv: timed out waiting for %s", what)
}
