package main

import (
	"context"
	"flag"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/tools"
)

// defaultToolUC is where the tools find uc by default: `hive dev`'s --uc-listen.
const defaultToolUC = "http://127.0.0.1:8082"

// benchConfig is what `hive bench`'s flags parse into.
type benchConfig struct {
	tools.BenchOptions
	creds, dataDir string
}

// benchFlags is the FlagSet of `hive bench` (DESIGN §8).
func benchFlags() (*flag.FlagSet, *benchConfig) {
	o := &benchConfig{}
	fs := newFlagSet("bench", "Signs up --conns guest players, logs each in on its own connection and drives the\n"+
		"scenario for --duration, each connection sending its next request when the last is answered.\n"+
		"Progress each second on stderr, then one JSON line on stdout:\n"+
		`{"scenario":..., "conns":N, "requests":N, "errors":N, "rps":X, "p50_ms":X, "p99_ms":X, "p999_ms":X, "conservation_errors":N}`+"\n"+
		"Scenarios: echo, items (GetItems), gift (1 gold to the next player, ring), nats-rr (raw NATS\n"+
		"request-reply on --nats: the baseline). The gate's --gate-rate limits a session (0 = off).")
	fs.StringVar(&o.UC, "uc", defaultToolUC, "uc base URL (echo, items, gift)")
	fs.StringVar(&o.Gate, "gate", "", "gate address ip:port to use instead of the one uc hands out")
	fs.StringVar(&o.NATS, "nats", defaultToolNATS, "NATS URL (nats-rr)")
	toolCredsFlags(fs, &o.creds, &o.dataDir)
	fs.IntVar(&o.Conns, "conns", 10, "connections (players), each with one request in flight")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measurement time (sign-up and login come before)")
	fs.StringVar(&o.Scenario, "scenario", tools.ScenarioEcho, "echo | items | gift | nats-rr")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on each request; a timed-out request is an error")
	fs.StringVar(&o.Prefix, "prefix", "", `device id prefix of the bench guests (default "bench-<unix time>-": new players each run)`)
	return fs, o
}

// runBench is `hive bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, o := benchFlags()
	if err := parseFlags(fs, args, os.LookupEnv, stdout); err != nil {
		return err
	}
	switch {
	case o.Conns < 1:
		return usagef("--conns %d: must be 1 or more", o.Conns)
	case o.Duration <= 0:
		return usagef("--duration %v: must be positive", o.Duration)
	case o.Timeout <= 0:
		return usagef("--timeout %v: must be positive", o.Timeout)
	}
	switch o.Scenario {
	case tools.ScenarioEcho, tools.ScenarioItems, tools.ScenarioGift, tools.ScenarioNATSRR:
	default:
		return usagef("--scenario %q: want echo, items, gift or nats-rr", o.Scenario)
	}
	if o.Scenario == tools.ScenarioNATSRR {
		creds, err := natsCreds(o.creds, o.dataDir, bus.RoleBench)
		if err != nil {
			return err
		}
		o.NATSOptions = append(creds, nats.RetryOnFailedConnect(false)) // a refused login fails at once
	}
	o.Progress, o.Out = stderr, stdout
	_, err := tools.Bench(ctx, o.BenchOptions)
	return explainAuth(err, bus.RoleBench)
}
