//go:build !linux

package main

import (
	"context"
	"log/slog"
)

// stopWithGoRun is ctx itself on this platform: without /proc hive cannot
// tell that its parent is `go run`. The data dir lock's message names the
// pid of a `hive dev` left running.
func stopWithGoRun(ctx context.Context, _ *slog.Logger) (context.Context, context.CancelFunc) {
	return ctx, func() {}
}
