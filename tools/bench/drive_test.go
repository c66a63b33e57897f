package bench

import (
	"context"
	"testing"
	"time"
)

// A paced run sends on its schedule, not as fast as it is answered.
func TestDrivePacedKeepsToTheRate(t *testing.T) {
	ops := make([]benchOp, 4)
	for i := range ops {
		ops[i] = func(context.Context, time.Time) error { return nil } // answered at once
	}
	opt := Options{Scenario: ScenarioEcho, Rate: 200, Duration: 500 * time.Millisecond, Timeout: time.Second}
	res := drive(context.Background(), opt, ops)
	// 4 connections, one send each 20 ms for 500 ms: at most 26 each.
	if res.Requests > 4*26 || res.Requests < 20 {
		t.Fatalf("%d requests at 200/s for 500 ms over 4 connections; want 20..104", res.Requests)
	}
	if res.Rate != 200 {
		t.Errorf("result's rate %v, want 200", res.Rate)
	}
}

// When answers take longer than the schedule allows, the wait for the
// late sends is in the latencies: each is counted from when it was due.
func TestDrivePacedCountsFromDue(t *testing.T) {
	const took = 20 * time.Millisecond
	ops := []benchOp{func(ctx context.Context, _ time.Time) error {
		time.Sleep(took)
		return nil
	}}
	// One send due every 10 ms, each answered in 20 ms: the n-th is
	// answered about n*10 ms after it was due.
	opt := Options{Scenario: ScenarioEcho, Rate: 100, Duration: 300 * time.Millisecond, Timeout: time.Second}
	res := drive(context.Background(), opt, ops)
	if res.Requests < 3 {
		t.Fatalf("%d requests", res.Requests)
	}
	if res.P99ms < 3*float64(took.Milliseconds()) {
		t.Fatalf("p99 %.1f ms with answers taking %v behind a 10 ms schedule; want the backlog counted (>= %d ms)",
			res.P99ms, took, 3*took.Milliseconds())
	}
}
