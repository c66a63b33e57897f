package main

import (
	"fmt"
	"log/slog"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/registry"
)

// openRegistry returns the etcd registry at endpoints (comma-separated), or
// the in-process one when endpoints is empty (dev only: callers enforce that
// a cluster process has --etcd).
func openRegistry(endpoints string, log *slog.Logger) (registry.Registry, error) {
	if endpoints == "" {
		return registry.NewMemory(), nil
	}
	// Wired when registry/etcd.go (issue 4) lands: clientv3.New + registry.NewEtcd.
	return nil, fmt.Errorf("--etcd %s: the etcd registry (registry.NewEtcd, issue 4) is not built yet", endpoints)
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
	// Wired when cache/redis.go (issue 3) lands: cache.NewRedis(addr).
	return nil, fmt.Errorf("--redis %s: the redis cache (cache.NewRedis, issue 3) is not built yet", addr)
}
