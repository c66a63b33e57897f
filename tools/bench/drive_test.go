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

// A gift ring's player with no more than the reserve waits for gold to come
// round: its op sends nothing and counts as no request.
func TestGiftRingWaitsForGold(t *testing.T) {
	ring := &giftRing{}
	ring.start([]int64{giftReserve + 2, 0})
	sent := 0
	op := func(ctx context.Context, _ time.Time) error {
		if !ring.may(0) {
			return errNoGold
		}
		sent++
		ring.gave(0, 1)
		return nil
	}
	res := drive(context.Background(), Options{Scenario: ScenarioGift, Duration: 100 * time.Millisecond, Timeout: time.Second}, []benchOp{op})
	if sent != 2 || res.Requests != 2 || res.Errors != 0 {
		t.Fatalf("sent %d, requests %d, errors %d; want 2 gifts (gold %d over a reserve of %d) and no error", sent, res.Requests, res.Errors, giftReserve+2, giftReserve)
	}
	if got := ring.gold[1].Load(); got != 2 {
		t.Fatalf("receiver's gold %d, want 2", got)
	}
	ring.gave(1, 0) // gold comes round
	if !ring.may(0) {
		t.Fatal("a player given gold back above the reserve still waits")
	}
}
