package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// `hive dev` under go run stops once its parent is no longer go run, and
// not before.
func TestWatchParentStopsWhenTheParentChanges(t *testing.T) {
	var ppid atomic.Int64
	ppid.Store(4242)
	tick := make(chan time.Time)
	ctx, cancel := watchParent(t.Context(), 4242, func() int { return int(ppid.Load()) }, tick, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer cancel()
	// A tick is received only once the one before it was checked, so after
	// the fourth the first three found the parent unchanged.
	for range 4 {
		tick <- time.Time{}
	}
	if ctx.Err() != nil {
		t.Fatal("stopped while go run still runs")
	}
	ppid.Store(1) // go run died: the process was handed to init
	select {
	case tick <- time.Time{}:
	case <-ctx.Done(): // the fourth tick's check already saw it
	}
	<-ctx.Done()
	if context.Cause(ctx) != context.Canceled {
		t.Errorf("cause %v", context.Cause(ctx))
	}
}
