package registry

import (
	"context"
	"errors"
	"testing"
	"time"
)

// In-process leadership ends only with its context, and the next campaign
// then wins.
func TestMemoryCampaignLost(t *testing.T) {
	m := NewMemory()
	ctx, cancel := context.WithCancel(context.Background())
	lost, err := m.Campaign(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer wcancel()
	if _, err := m.Campaign(wctx, "job"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second campaign while the first leads: %v", err)
	}
	select {
	case <-lost:
		t.Fatal("lost closed while leading")
	default:
	}
	cancel()
	<-lost
	if _, err := m.Campaign(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
}
