package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/obs"
)

// clusterRunner returns the run func of `hive uc|gate|game`: one part of a
// cluster, with NATS and etcd required and redis recommended.
func clusterRunner(name string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runCluster(ctx, name, args, stdout, stderr)
	}
}

// runCluster runs one cluster part until SIGINT/SIGTERM, then drains it.
func runCluster(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs, c := clusterFlags(name)
	if err := parseFlags(fs, args, os.LookupEnv, stdout); err != nil {
		return err
	}
	log, err := obs.NewLoggerTo(stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return usagef("%v", err)
	}
	if c.NATS == "" {
		return usagef("--nats (or HIVE_NATS) is required, e.g. --nats nats://127.0.0.1:4222; for a single process without servers use `hive dev`")
	}
	if c.Etcd == "" {
		return usagef("--etcd (or HIVE_ETCD) is required: a cluster process finds gates, keys and leaders in etcd, e.g. --etcd http://127.0.0.1:2379; for a single process use `hive dev`")
	}

	if _, err := c.storeConfig(); err != nil {
		return err
	}
	if err := c.checkTTLs(); err != nil {
		return err
	}
	if err := checkPorts(fs); err != nil {
		return err
	}

	creds, err := natsCreds(c.NATSCreds, c.DataDir, bus.Role(name))
	if err != nil {
		return err
	}
	connect := func(r bus.Role) (*nats.Conn, error) {
		return bus.Connect(c.NATS, "hive-"+string(r), append(creds, nats.PingInterval(c.NATSPingInterval))...)
	}
	return serve(ctx, c, connect, log, false, func(_ deps, up []running, _ *obs.Server, _ map[bus.Role]*nats.Conn) (func(), error) {
		for _, r := range up {
			fmt.Fprintf(stdout, "hive %s: serving on %s\n", r.name, r.svc.Addr())
		}
		return nil, nil
	})
}
