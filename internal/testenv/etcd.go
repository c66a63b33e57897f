package testenv

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Etcd is an embedded single-node etcd and a client of it.
type Etcd struct {
	Server    *embed.Etcd
	Client    *clientv3.Client
	Endpoints []string
}

// StartEtcd starts an embedded etcd on free loopback ports with its data in a
// temp dir, and stops it when the test ends.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	var srv *embed.Etcd
	var err error
	// A port found free can be taken before etcd binds it; try a few.
	for range 5 {
		cu := mustURL(fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)))
		pu := mustURL(fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)))
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		if srv, err = embed.StartEtcd(cfg); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("testenv: etcd: %v", err)
	}
	select {
	case <-srv.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		srv.Close()
		t.Fatal("testenv: etcd did not become ready in 30s")
	}
	t.Cleanup(srv.Close)
	eps := []string{cfg.ListenClientUrls[0].String()}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("testenv: etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Etcd{Server: srv, Client: cli, Endpoints: eps}
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}
