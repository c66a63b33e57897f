package cache_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/internal/testenv"
)

func TestRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	c, err := cache.NewRedis(r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testCache(t, c)
}

func TestRedisURLAndBadAddr(t *testing.T) {
	r := testenv.StartRedis(t)
	c, err := cache.NewRedis("redis://" + r.Addr + "/1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(context.Background(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Database 1 is not database 0: the URL's db was honoured.
	if n, _ := r.Client.Exists(context.Background(), "k").Result(); n != 0 {
		t.Fatal("key written through redis://.../1 is visible in db 0")
	}
	if _, err := cache.NewRedis("127.0.0.1:1"); err == nil {
		t.Fatal("NewRedis to a closed port succeeded")
	}
}

func TestRedisMetrics(t *testing.T) {
	r := testenv.StartRedis(t)
	c, err := cache.NewRedis(r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	if err := cache.RegisterMetrics(reg, c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		c.Set(context.Background(), k, []byte("1"), 0)
	}
	if got := metricValue(t, reg, "hive_cache_keys"); got != 3 {
		t.Fatalf("hive_cache_keys = %v, want 3", got)
	}
}
