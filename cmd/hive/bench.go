package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/tools/bench"
)

// defaultToolUC is where the tools find uc by default: `hive dev`'s --uc-listen.
const defaultToolUC = "http://127.0.0.1:8082"

// benchConfig is what `hive bench`'s flags parse into.
type benchConfig struct {
	bench.Options
	creds, dataDir string
}

// benchFlags is the FlagSet of `hive bench` (DESIGN §8).
func benchFlags() (*flag.FlagSet, *benchConfig) {
	o := &benchConfig{}
	fs := newFlagSet("bench", "Signs up --conns guest players, logs each in on its own connection and drives the\n"+
		"scenario for --duration, each connection sending its next request when the last is answered\n"+
		"(or, with --rate, on an even schedule).\n"+
		"Progress each second on stderr, then one JSON line on stdout:\n"+
		`{"scenario":..., "conns":N, "requests":N, "errors":N, "rps":X, "p50_ms":X, "p99_ms":X, "p999_ms":X, "conservation_errors":N,`+"\n"+
		` "errors_by_code":{"RC_RATE_LIMITED":N, "timeout":N, ...}, "hint":"..."}`+"\n"+
		"requests counts answers and failures, rps and the percentiles successful answers only;\n"+
		"errors_by_code and hint appear only when something failed. Exit status 1 when more than 1%\n"+
		"of the requests failed. Scenarios: echo, items (GetItems), gift (1 gold to the next player,\n"+
		"ring; a player down to 32 gold by the bench's count waits for gold to come round), nats-rr\n"+
		"(raw NATS request-reply on --nats: the baseline). The gate's --gate-rate limits\n"+
		"a session (default 100 requests/s; 0 = off): start hive dev with --gate-rate 0 to measure.\n"+
		"mixed: players log in over a ramp (--ramp-rate per second), then each acts --rate-per-conn\n"+
		"times a second for --duration (--mix); its figures are those of that steady part, and the final\n"+
		"line adds \"apis\" (per api: requests, errors, p50_ms, p99_ms), \"ccu\" (logged in, sampled each\n"+
		"second), \"cpu\" (of the bench and of the server: --target-pid, else the process listening on\n"+
		"the gate's port; cores per 1,000 CCU) and \"ramp\" (the requests sent during the ramp, apart).\n"+
		"From one address the gate's per-address limits must be off: hive dev --gate-rate 0\n"+
		"--gate-max-conns-per-ip 0 --gate-ip-login-rate 0 --uc-ip-rate 0.")
	fs.StringVar(&o.UC, "uc", defaultToolUC, "uc base URL (echo, items, gift)")
	fs.StringVar(&o.Gate, "gate", "", "gate address ip:port (a ws:// URL with --transport ws) to use instead of the one uc hands out")
	fs.StringVar(&o.Transport, "transport", bench.TransportTCP, "how players reach the gate: tcp (uc's addr) | ws (uc's ws_url: the gate's WebSocket)")
	fs.StringVar(&o.NATS, "nats", defaultToolNATS, "NATS URL (nats-rr)")
	toolCredsFlags(fs, &o.creds, &o.dataDir)
	fs.IntVar(&o.Conns, "conns", 10, "connections (players), each with one request in flight")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measurement time (sign-up and login come before)")
	fs.StringVar(&o.Scenario, "scenario", bench.ScenarioEcho, "echo | items | gift | mixed | nats-rr")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on each request; a timed-out request is an error")
	fs.Float64Var(&o.Rate, "rate", 0, "echo, items, gift, nats-rr: requests per second over all connections, each on an even schedule, latency counted from when a request was due (0: each connection sends again as soon as it is answered)")
	fs.Float64Var(&o.RatePerConn, "rate-per-conn", 1, "mixed: actions per second of each connection")
	fs.Float64Var(&o.RampRate, "ramp-rate", 500, "mixed: connections logged in per second at the start (the ramp lasts conns/ramp-rate)")
	fs.StringVar(&o.Mix, "mix", bench.DefaultMix, "mixed: weights of the actions getuser, getitems, mail (GetMails, then ClaimMail of an unclaimed mail), gift (1 gold to a random bench player), relogin (Logout, Login)")
	fs.IntVar(&o.TargetPID, "target-pid", 0, "mixed: the server process whose CPU to report (0: the one listening on the gate's port)")
	fs.StringVar(&o.Prefix, "prefix", "", `device id prefix of the bench guests; ids are prefix+index, 22+ characters of [A-Za-z0-9_-] (default "bench-<unix ns>-": new players each run)`)
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
	case !(o.RatePerConn > 0):
		return usagef("--rate-per-conn %v: must be positive", o.RatePerConn)
	case !(o.RampRate > 0):
		return usagef("--ramp-rate %v: must be positive", o.RampRate)
	case !(o.Rate >= 0) || math.IsInf(o.Rate, 0):
		return usagef("--rate %v: must be 0 or a positive number", o.Rate)
	case o.Rate > 0 && o.Scenario == bench.ScenarioMixed:
		return usagef("--rate: a mixed run is paced by --rate-per-conn")
	case o.TargetPID < 0:
		return usagef("--target-pid %d: must be a process id", o.TargetPID)
	}
	if _, err := bench.ParseMix(o.Mix); err != nil {
		return usagef("--mix: %v", err)
	}
	if o.Transport != bench.TransportTCP && o.Transport != bench.TransportWS {
		return usagef("--transport %q: want tcp or ws", o.Transport)
	}
	switch o.Scenario {
	case bench.ScenarioEcho, bench.ScenarioItems, bench.ScenarioGift, bench.ScenarioMixed, bench.ScenarioNATSRR:
	default:
		return usagef("--scenario %q: want echo, items, gift, mixed or nats-rr", o.Scenario)
	}
	if o.Scenario == bench.ScenarioNATSRR {
		creds, err := natsCreds(o.creds, o.dataDir, bus.RoleBench)
		if err != nil {
			return err
		}
		o.NATSOptions = append(creds, nats.RetryOnFailedConnect(false)) // a refused login fails at once
	}
	o.Progress, o.Out = stderr, stdout
	res, err := bench.Run(ctx, o.Options)
	if err != nil {
		return explainAuth(err, bus.RoleBench)
	}
	if res.Hint != "" {
		fmt.Fprintf(stderr, "hive bench: %s\n", res.Hint)
	}
	if res.Failed() {
		n, errs := res.Requests, res.Errors
		if res.Ramp != nil {
			n, errs = n+res.Ramp.Requests, errs+res.Ramp.Errors
		}
		return fmt.Errorf("%d of %d requests failed (%.1f%%, more than %g%%; errors_by_code says why): the figures measure failures, not the service",
			errs, n, 100*float64(errs)/float64(n), 100*bench.MaxFailedFraction)
	}
	return nil
}
