package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/registry"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// openRegistry returns the etcd registry at endpoints (comma-separated), or
// the in-process one when endpoints is empty (dev only: callers enforce that
// a cluster process has --etcd). gateTTL and sessionTTL are its leases' TTLs
// (registry defaults when 0).
func openRegistry(endpoints string, gateTTL, sessionTTL time.Duration, log *slog.Logger) (registry.Registry, error) {
	if endpoints == "" {
		return registry.NewMemory(), nil
	}
	var eps []string
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", endpoints, err)
	}
	reg, err := registry.NewEtcd(cli, gateTTL, log, registry.SessionTTL(sessionTTL))
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd %s: %w", endpoints, err)
	}
	return &etcdRegistry{Etcd: reg, cli: cli}, nil
}

// etcdRegistry is the etcd registry owning its client: Close closes both.
type etcdRegistry struct {
	*registry.Etcd
	cli *clientv3.Client
}

// Close stops the registry (watch, keep-alives), then closes the client.
func (r *etcdRegistry) Close() error {
	err := r.Etcd.Close()
	if cerr := r.cli.Close(); err == nil {
		err = cerr
	}
	return err
}

// openCache returns the redis cache at addr, or an in-process cache when addr
// is empty; outside dev that is logged as a warning, since several processes
// then do not share snapshots, codes or rate limits.
func openCache(addr string, dev bool, log *slog.Logger) (cache.Cache, error) {
	if addr == "" {
		if !dev {
			log.Warn("no --redis: using an in-process cache; processes will not share snapshots, verification codes or rate limits")
		}
		return cache.NewMemory(), nil
	}
	r, err := cache.NewRedis(addr)
	if err != nil {
		return nil, err // "cache: redis <addr>: ...": names the address already
	}
	return r, nil
}
