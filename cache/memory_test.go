package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qeetap/hive/cache"
)

func TestMemory(t *testing.T) {
	c := cache.NewMemory()
	defer c.Close()
	testCache(t, c)
}

// Values are kept as they are, expire and delete like bytes, and never
// read as bytes or counters.
func TestMemoryValues(t *testing.T) {
	c := cache.NewMemory()
	defer c.Close()
	ctx := context.Background()
	type state struct{ n int }
	v := &state{n: 7}
	c.SetValue("snap:1", v, 0)
	if got, ok := c.GetValue("snap:1"); !ok || got.(*state) != v {
		t.Fatalf("GetValue = %v, %v; want the very value stored", got, ok)
	}
	if _, err := c.Get(ctx, "snap:1"); err != cache.ErrMiss {
		t.Fatalf("Get of a value = %v, want ErrMiss", err)
	}
	if _, err := c.Incr(ctx, "snap:1", 0); err == nil {
		t.Fatal("Incr of a value succeeded")
	}
	if ok, _ := c.Swap(ctx, "snap:1", nil, []byte("x")); ok {
		t.Fatal("Swap replaced a value")
	}
	c.Set(ctx, "b", []byte("bytes"), 0)
	if _, ok := c.GetValue("b"); ok {
		t.Fatal("GetValue of bytes found a value")
	}
	c.Delete(ctx, "snap:1")
	if _, ok := c.GetValue("snap:1"); ok {
		t.Fatal("a deleted value is still there")
	}
	c.SetValue("short", v, 20*time.Millisecond)
	time.Sleep(40 * time.Millisecond)
	if _, ok := c.GetValue("short"); ok {
		t.Fatal("an expired value is still there")
	}
}

// Keys with an expiry that nobody reads again (the rate-limit counters of
// clients that went away) are dropped by the sweeper; keys without one stay.
func TestMemorySweepsExpiredKeysNobodyReads(t *testing.T) {
	c := cache.NewMemory()
	defer c.Close()
	ctx := context.Background()
	const n = 3000 // more than one sweep sample
	for i := range n {
		if _, err := c.Incr(ctx, fmt.Sprint("limit:", i), 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	c.Set(ctx, "keep", []byte("v"), 0)
	c.Set(ctx, "keep-long", []byte("v"), time.Hour)
	c.ZAdd(ctx, "rank:100", "1", 5)
	if got := c.Len(); got != n+3 {
		t.Fatalf("Len = %d, want %d", got, n+3)
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.Len() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d long after the counters expired, want 3", c.Len())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.Swept() != n {
		t.Fatalf("Swept = %d, want %d", c.Swept(), n)
	}
	if b, err := c.Get(ctx, "keep-long"); err != nil || string(b) != "v" {
		t.Fatalf("a key with a long expiry was swept: %q, %v", b, err)
	}
}

func TestMemoryMetrics(t *testing.T) {
	c := cache.NewMemory()
	defer c.Close()
	reg := prometheus.NewRegistry()
	if err := cache.RegisterMetrics(reg, c); err != nil {
		t.Fatal(err)
	}
	c.Set(context.Background(), "a", []byte("1"), 0)
	c.ZAdd(context.Background(), "z", "m", 1)
	if got := metricValue(t, reg, "hive_cache_keys"); got != 2 {
		t.Fatalf("hive_cache_keys = %v, want 2", got)
	}
}

// metricValue reads the value of a gauge or counter by name.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}
