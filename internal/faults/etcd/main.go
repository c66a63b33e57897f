// Command etcd runs a single-node etcd server of the module's pinned
// version (go.etcd.io/etcd/server/v3, through its embed package) until
// SIGTERM or SIGINT. The fault suite (internal/faults) builds it so that
// etcd is a process of its own, which the suite can freeze and resume,
// without an install on the machine.
//
//	etcd --data-dir DIR --client http://127.0.0.1:2379 --peer http://127.0.0.1:2380
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dir := flag.String("data-dir", "", "data directory (required)")
	client := flag.String("client", "http://127.0.0.1:2379", "client URL to listen on and advertise")
	peer := flag.String("peer", "http://127.0.0.1:2380", "peer URL to listen on and advertise")
	flag.Parse()
	if err := run(*dir, *client, *peer); err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		os.Exit(1)
	}
}

func run(dir, client, peer string) error {
	if dir == "" {
		return fmt.Errorf("--data-dir is required")
	}
	cu, err := url.Parse(client)
	if err != nil {
		return fmt.Errorf("--client: %w", err)
	}
	pu, err := url.Parse(peer)
	if err != nil {
		return fmt.Errorf("--peer: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "faults"
	cfg.Dir = dir
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{"stderr"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-srv.Server.ReadyNotify():
		fmt.Println("etcd: ready on", client)
	case err := <-srv.Err():
		return err
	}
	select {
	case <-sig:
		return nil
	case err := <-srv.Err():
		return err
	}
}
