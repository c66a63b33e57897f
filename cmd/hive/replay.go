package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/tools/replay"
)

// replayConfig is what `hive replay`'s flags parse into.
type replayConfig struct {
	nats    string
	creds   string
	dataDir string
	player  int64
	toSeq   uint64
	toTime  string
	steps   bool
}

// replayFlags is the FlagSet of `hive replay` (DESIGN §8).
func replayFlags() (*flag.FlagSet, *replayConfig) {
	c := &replayConfig{}
	fs := newFlagSet("replay", "Rebuilds one player from its events alone (no snapshot, no cache) and prints the final\n"+
		"state as one JSON object (def.User, proto field names, items included). With --steps it prints\n"+
		"instead one line per event, a tap line plus \"state\" (the player after that event):\n"+
		`{"stream_seq":N,"subject":"evt.player.10001","time":"RFC3339","type":"evt.GiftSent","event":{...},"state":{...}}`+"\n"+
		"Example: hive replay --player 10001 --steps | jq -c '[.stream_seq, .type, .state.items]'\n"+
		"A player without events is exit status 1 (\"player N has no events\"); so is a --to-seq/--to-time\n"+
		"before the player's first event (the message says when that event is).")
	fs.StringVar(&c.nats, "nats", defaultToolNATS, "NATS URL(s), comma-separated")
	toolCredsFlags(fs, &c.creds, &c.dataDir)
	fs.Int64Var(&c.player, "player", 0, "player id to rebuild (required)")
	fs.Uint64Var(&c.toSeq, "to-seq", 0, "stop after the last event with stream sequence <= N (0 = all)")
	fs.StringVar(&c.toTime, "to-time", "", "stop after the last event stored at or before this RFC3339 time, e.g. 2025-01-02T15:04:05Z")
	fs.BoolVar(&c.steps, "steps", false, "print every event and the state after it (JSON lines)")
	return fs, c
}

// runReplay is `hive replay`.
func runReplay(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs, c := replayFlags()
	if err := parseFlags(fs, args, os.LookupEnv, stdout); err != nil {
		return err
	}
	opt := replay.Options{Player: c.player, ToSeq: c.toSeq, Steps: c.steps, Out: stdout}
	if c.player <= 0 {
		return usagef("--player: give the player id (a positive number)")
	}
	if c.toTime != "" {
		t, err := time.Parse(time.RFC3339Nano, c.toTime)
		if err != nil {
			return usagef("--to-time %q: want an RFC3339 time such as 2025-01-02T15:04:05Z", c.toTime)
		}
		opt.ToTime = t
	}
	if c.toSeq > 0 && !opt.ToTime.IsZero() {
		return usagef("give --to-seq or --to-time, not both")
	}
	nc, err := connectTool(c.nats, "hive-replay", c.creds, c.dataDir, bus.RoleTools)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	// A player without events is replay.ErrNoEvents: "player N has no events", exit 1.
	return replay.Run(ctx, js, opt)
}
