//go:build linux

package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// stopWithGoRun returns a context that also ends when the `go run` that
// started this process exits (see watchParent); when the parent is not
// go run, ctx itself and a no-op. Linux only: /proc names the parent.
func stopWithGoRun(ctx context.Context, log *slog.Logger) (context.Context, context.CancelFunc) {
	ppid := os.Getppid()
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return ctx, func() {}
	}
	t := time.NewTicker(parentPollInterval)
	ctx, cancel := watchParent(ctx, ppid, os.Getppid, t.C, log)
	return ctx, func() { cancel(); t.Stop() }
}
