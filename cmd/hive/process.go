package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/internal/obs"
)

// shutdownTimeout bounds each part's drain on SIGINT/SIGTERM.
const shutdownTimeout = 30 * time.Second

// running is a started part.
type running struct {
	name string
	svc  service
}

// startParts builds and starts each bound part in order, each with the deps
// partDeps gives it (its own NATS connection). On a failure it stops the
// ones already started and returns the error.
func startParts(builders []builder, log *slog.Logger, partDeps func(name string) (deps, error)) ([]running, error) {
	var up []running
	for _, b := range builders {
		pd, err := partDeps(b.name)
		var svc service
		if err == nil {
			pd.Log = pd.Log.With("part", b.name)
			svc, err = b.build(pd)
		}
		if err == nil {
			err = svc.Start()
		}
		if err != nil {
			stopParts(up, log)
			if strings.HasPrefix(err.Error(), b.name+": ") {
				return nil, err // the part named itself already
			}
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		log.Info("started", "part", b.name, "addr", svc.Addr())
		up = append(up, running{b.name, svc})
	}
	return up, nil
}

// stopParts shuts the parts down in reverse start order (gate, game, uc),
// each bounded by shutdownTimeout; errors are logged, since every part must
// get its turn to drain.
func stopParts(up []running, log *slog.Logger) error {
	var errs []error
	for i := len(up) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		err := up[i].svc.Shutdown(ctx)
		cancel()
		if err != nil {
			log.Error("shutdown", "part", up[i].name, "err", err)
			errs = append(errs, fmt.Errorf("%s shutdown: %w", up[i].name, err))
		} else {
			log.Info("stopped", "part", up[i].name)
		}
	}
	return errors.Join(errs...)
}

// readiness tracks what /readyz reports: the NATS connections (one per
// part) and whether every part has started.
type readiness struct {
	mu      sync.Mutex
	conns   []*nats.Conn
	started atomic.Bool
}

// add makes nc one of the connections /readyz checks.
func (r *readiness) add(nc *nats.Conn) {
	r.mu.Lock()
	r.conns = append(r.conns, nc)
	r.mu.Unlock()
}

// check is the obs ready func.
func (r *readiness) check() error {
	if !r.started.Load() {
		return errors.New("starting")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, nc := range r.conns {
		if !nc.IsConnected() {
			return fmt.Errorf("nats %s", nc.Status())
		}
	}
	return nil
}

// startMetrics serves /metrics, /healthz and /readyz when --metrics-listen is set.
func startMetrics(addr string, reg *prometheus.Registry, r *readiness) (*obs.Server, error) {
	if addr == "" {
		return nil, nil
	}
	s, err := obs.Serve(addr, reg, r.check)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// stopMetrics stops a metrics server started by startMetrics (nil is fine).
func stopMetrics(s *obs.Server) {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}

// dialable turns a listen address into one a local client can dial:
// ":8082" and "0.0.0.0:8082" become "127.0.0.1:8082".
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// serve runs the configured parts until ctx ends, then drains them: the one
// sequence `hive dev` and `hive uc|gate|game` share. connect opens a NATS
// connection as a role: each part gets its own, as its role (the part's
// name), and a part that writes (uc, game) first makes sure the stream and
// its buckets exist (bus.EnsureStoreFor). announce runs once every part is
// up, before waiting (banners, extra subscriptions); conns are the parts'
// connections by role.
func serve(ctx context.Context, c *config, connect func(bus.Role) (*nats.Conn, error), log *slog.Logger, dev bool,
	announce func(d deps, up []running, ms *obs.Server, conns map[bus.Role]*nats.Conn) (stop func(), err error)) error {
	sc, err := c.storeConfig()
	if err != nil {
		return err
	}
	reg, err := openRegistry(c.Etcd, c.GateLeaseTTL, c.EtcdSessionTTL, log)
	if err != nil {
		return err
	}
	defer reg.Close()
	ch, err := openCache(c.Redis, dev, log)
	if err != nil {
		return err
	}
	defer ch.Close()

	metrics := prometheus.NewRegistry()
	if err := cache.RegisterMetrics(metrics, ch); err != nil {
		return err
	}
	ready := &readiness{}
	ms, err := startMetrics(c.MetricsListen, metrics, ready)
	if err != nil {
		return usagef("%v", err)
	}
	defer stopMetrics(ms)

	d := deps{Registry: reg, Cache: ch, Log: log, Metrics: metrics, DataDir: c.DataDir, Dev: dev}
	conns := map[bus.Role]*nats.Conn{}
	var extra []*nats.Conn // the parts' further connections (deps.Reads)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
		for _, nc := range extra {
			nc.Close()
		}
	}()
	partDeps := func(name string) (deps, error) {
		role := bus.Role(name)
		nc, err := connect(role)
		if err != nil {
			return deps{}, err
		}
		conns[role] = nc
		ready.add(nc)
		js, err := jetstream.New(nc)
		if err != nil {
			return deps{}, fmt.Errorf("jetstream: %w", err)
		}
		if len(bus.RoleBuckets(role)) > 0 { // the writers make sure the stream and their buckets exist
			sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			err = bus.EnsureStoreFor(sctx, js, sc, role)
			cancel()
			if err != nil {
				return deps{}, err
			}
		}
		pd := d
		pd.NC, pd.JS = nc, js
		if role == bus.RoleGame {
			if pd.Reads, err = connect(role); err != nil {
				return deps{}, err
			}
			extra = append(extra, pd.Reads)
			ready.add(pd.Reads)
		}
		return pd, nil
	}
	up, err := startParts(c.builders, log, partDeps)
	if err != nil {
		return err
	}
	stop, err := announce(d, up, ms, conns)
	if err != nil {
		stopParts(up, log)
		return err
	}
	if stop != nil {
		defer stop()
	}
	ready.started.Store(true)
	<-ctx.Done()
	log.Info("draining", "order", "gate, game, uc")
	return stopParts(up, log)
}
