package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/registry"
)

// The --etcd registry is the real one: a gate registered through one
// process's registry is seen by another's, and Close tears it down.
func TestOpenRegistryEtcd(t *testing.T) {
	et := testenv.StartEtcd(t)
	eps := strings.Join(et.Endpoints, ",")
	a, err := openRegistry(eps, 0, 0, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := openRegistry(" "+eps+" ,", 0, 0, slog.Default()) // spaces and empty items are tolerated
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Register(ctx, registry.Gate{ID: "g1", Addr: "127.0.0.1:9000", Capacity: 10}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if gs := b.Gates(); len(gs) == 1 && gs[0].ID == "g1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second registry never saw gate g1: %v", b.Gates())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenRegistryDefaultsAndErrors(t *testing.T) {
	r, err := openRegistry("", 0, 0, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*registry.Memory); !ok {
		t.Errorf("empty --etcd gave %T, want the in-process registry", r)
	}
	// Nothing listens on port 1: an error, within NewEtcd's few seconds.
	if r, err := openRegistry("http://127.0.0.1:1", 0, 0, slog.Default()); err == nil {
		r.Close()
		t.Error("unreachable etcd accepted")
	}
}

func TestOpenCache(t *testing.T) {
	c, err := openCache("", true, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c, err := openCache("127.0.0.1:1", false, slog.Default()); err == nil {
		c.Close()
		t.Error("unreachable redis accepted")
	} else if strings.Count(err.Error(), "redis 127.0.0.1:1") != 1 {
		t.Errorf("error %q: want the address named once", err)
	}
	rd := testenv.StartRedis(t)
	c, err = openCache(rd.Addr, false, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "hive-cmd-test", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Written through --redis, visible to any other redis client.
	if got, err := rd.Client.Get(ctx, "hive-cmd-test").Result(); err != nil || got != "v" {
		t.Fatalf("redis holds %q, %v; want v", got, err)
	}
}
