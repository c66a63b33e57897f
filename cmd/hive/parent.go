package main

import (
	"context"
	"log/slog"
	"time"
)

// parentPollInterval is how often `hive dev` under `go run` checks that
// go run is still its parent.
const parentPollInterval = time.Second

// watchParent returns a context that ends with ctx or when the process's
// parent changes: getppid (os.Getppid) stops returning ppid once the parent
// has exited and the process was handed to another. It checks on every
// tick. Used only under `go run`, which does not pass a SIGTERM or SIGKILL
// on to the program it started: killing go run would otherwise leave
// `hive dev` running, holding its ports and data dir.
func watchParent(ctx context.Context, ppid int, getppid func() int, tick <-chan time.Time, log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
				if now := getppid(); now != ppid {
					log.Warn("go run exited; stopping", "old_parent_pid", ppid, "parent_pid", now)
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}
