package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/tools/tap"
)

// defaultToolNATS is where the tools look by default: `hive dev`'s --nats-listen.
const defaultToolNATS = "nats://127.0.0.1:4222"

// tapConfig is what `hive tap`'s flags parse into.
type tapConfig struct {
	nats    string
	creds   string
	dataDir string
	opt     tap.Options
}

// tapFlags is the FlagSet of `hive tap` (DESIGN §8).
func tapFlags() (*flag.FlagSet, *tapConfig) {
	c := &tapConfig{}
	fs := newFlagSet("tap", "Prints the events of the EVENTS stream as JSON lines, one per event:\n"+
		`{"stream_seq":N,"subject":"evt.player.10001","time":"RFC3339","type":"evt.ItemsGranted","event":{...}}`+"\n"+
		"and follows new ones until interrupted (or --limit); --no-follow stops at the end of what is stored\n"+
		"when it starts. Examples: hive tap --from-start | jq .type\n"+
		"  hive tap --since 24h --no-follow | jq -r .type | sort | uniq -c\n"+
		"--consumer NAME: a durable consumer; its first run starts where --from-start/--since say, later runs\n"+
		"resume after the last event printed (a different start is refused: --reset starts it over).")
	fs.StringVar(&c.nats, "nats", defaultToolNATS, "NATS URL(s), comma-separated")
	toolCredsFlags(fs, &c.creds, &c.dataDir)
	fs.StringVar(&c.opt.Subject, "subject", bus.EventsWildcard, "events to show: evt.> (all), evt.player.<id>, evt.account.*, ...")
	fs.BoolVar(&c.opt.FromStart, "from-start", false, "start at the first event in the stream (default: only new events)")
	fs.DurationVar(&c.opt.Since, "since", 0, "start at events stored at most this long ago, e.g. 1h (ignored with --from-start)")
	fs.IntVar(&c.opt.Limit, "limit", 0, "stop after this many events; 0 = follow until interrupted")
	fs.StringVar(&c.opt.Consumer, "consumer", "", "durable consumer name: a restarted job resumes after the last event it printed")
	fs.BoolVar(&c.opt.NoFollow, "no-follow", false, "stop at the end of what is stored when tap starts, instead of following new events")
	fs.BoolVar(&c.opt.Reset, "reset", false, "delete the --consumer first, so that it starts again where --from-start/--since say")
	return fs, c
}

// runTap is `hive tap`.
func runTap(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs, c := tapFlags()
	if err := parseFlags(fs, args, os.LookupEnv, stdout); err != nil {
		return err
	}
	if c.opt.Limit < 0 {
		return usagef("--limit %d: must be 0 or more", c.opt.Limit)
	}
	if c.opt.Since < 0 {
		return usagef("--since %v: must be positive", c.opt.Since)
	}
	if err := tap.CheckSubject(c.opt.Subject); err != nil {
		return usagef("--subject: %v", err)
	}
	if c.opt.Reset && c.opt.Consumer == "" {
		return usagef("--reset: give the --consumer to reset")
	}
	nc, err := connectTool(c.nats, "hive-tap", c.creds, c.dataDir, bus.RoleTools)
	if err != nil {
		return err
	}
	defer nc.Close()
	c.opt.Out = stdout
	return tap.Run(ctx, nc, c.opt)
}

// toolCredsFlags registers --nats-creds and --data-dir (where a `hive dev`
// keeps the tools' credentials) on a tool's FlagSet.
func toolCredsFlags(fs *flag.FlagSet, creds, dataDir *string) {
	natsCredsFlag(fs, creds)
	fs.StringVar(dataDir, "data-dir", "./data", "the data dir of a `hive dev`, to find the credentials in (<data-dir>/secrets) when --nats-creds is empty")
}

// connectTool connects a command-line tool to NATS as role, with the
// credentials --nats-creds names (or those a `hive dev` keeps in
// dataDir): like every process, but failing at once when the server is
// unreachable or refuses it, instead of retrying forever.
func connectTool(urls, name, creds, dataDir string, role bus.Role) (*nats.Conn, error) {
	if urls == "" {
		return nil, usagef("--nats (or HIVE_NATS) is empty")
	}
	opts, err := natsCreds(creds, dataDir, role)
	if err != nil {
		return nil, err
	}
	nc, err := bus.Connect(urls, name, append(opts, nats.RetryOnFailedConnect(false))...)
	return nc, explainAuth(err, role)
}
