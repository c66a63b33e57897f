package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qeetap/hive/cache"
)

// testCache runs the behaviours every Cache must share against c. Keys are
// prefixed by the subtest name so subtests never see each other's data.
func testCache(t *testing.T, c cache.Cache) {
	ctx := context.Background()
	t.Run("get miss", func(t *testing.T) {
		if _, err := c.Get(ctx, "gm:none"); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("Get absent = %v, want ErrMiss", err)
		}
	})
	t.Run("set get delete", func(t *testing.T) {
		if err := c.Set(ctx, "sg:a", []byte("hello"), 0); err != nil {
			t.Fatal(err)
		}
		b, err := c.Get(ctx, "sg:a")
		if err != nil || string(b) != "hello" {
			t.Fatalf("Get = %q, %v", b, err)
		}
		if d, _ := c.TTL(ctx, "sg:a"); d != 0 {
			t.Fatalf("TTL without expiry = %v, want 0", d)
		}
		if err := c.Set(ctx, "sg:a", []byte{}, 0); err != nil {
			t.Fatal(err)
		}
		if b, err := c.Get(ctx, "sg:a"); err != nil || len(b) != 0 {
			t.Fatalf("Get empty value = %q, %v", b, err)
		}
		if err := c.Delete(ctx, "sg:a", "sg:absent"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "sg:a"); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("Get after Delete = %v, want ErrMiss", err)
		}
		if err := c.Delete(ctx); err != nil {
			t.Fatalf("Delete of nothing: %v", err)
		}
	})
	t.Run("set returns a copy", func(t *testing.T) {
		v := []byte("abc")
		if err := c.Set(ctx, "cp:a", v, 0); err != nil {
			t.Fatal(err)
		}
		v[0] = 'x'
		b, _ := c.Get(ctx, "cp:a")
		b[1] = 'y'
		if b2, _ := c.Get(ctx, "cp:a"); string(b2) != "abc" {
			t.Fatalf("stored value changed through a caller's slice: %q", b2)
		}
	})
	t.Run("ttl expires", func(t *testing.T) {
		if err := c.Set(ctx, "ttl:a", []byte("v"), 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		d, err := c.TTL(ctx, "ttl:a")
		if err != nil || d <= 0 || d > 200*time.Millisecond {
			t.Fatalf("TTL = %v, %v; want in (0, 200ms]", d, err)
		}
		waitMiss(t, c, "ttl:a")
		if d, _ := c.TTL(ctx, "ttl:a"); d != 0 {
			t.Fatalf("TTL of expired key = %v", d)
		}
	})
	t.Run("incr", func(t *testing.T) {
		for want := int64(1); want <= 3; want++ {
			n, err := c.Incr(ctx, "in:a", 0)
			if err != nil || n != want {
				t.Fatalf("Incr = %d, %v; want %d", n, err, want)
			}
		}
		if b, err := c.Get(ctx, "in:a"); err != nil || string(b) != "3" {
			t.Fatalf("Get counter = %q, %v; want 3", b, err)
		}
		if err := c.Set(ctx, "in:b", []byte("41"), 0); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Incr(ctx, "in:b", 0); err != nil || n != 42 {
			t.Fatalf("Incr of Set 41 = %d, %v", n, err)
		}
		c.Set(ctx, "in:c", []byte("not a number"), 0)
		if _, err := c.Incr(ctx, "in:c", 0); err == nil {
			t.Fatal("Incr of a non-integer value succeeded")
		}
	})
	t.Run("incr ttl set on creation only", func(t *testing.T) {
		if _, err := c.Incr(ctx, "it:a", time.Hour); err != nil {
			t.Fatal(err)
		}
		d1, _ := c.TTL(ctx, "it:a")
		if d1 <= 59*time.Minute {
			t.Fatalf("TTL after first Incr = %v, want ~1h", d1)
		}
		// A later Incr with another ttl must not extend or shorten the window:
		// rate limits rely on the first hit fixing it.
		if _, err := c.Incr(ctx, "it:a", time.Second); err != nil {
			t.Fatal(err)
		}
		if d2, _ := c.TTL(ctx, "it:a"); d2 <= 59*time.Minute {
			t.Fatalf("second Incr changed TTL to %v", d2)
		}
		c.Incr(ctx, "it:b", 150*time.Millisecond)
		waitMiss(t, c, "it:b")
		if n, _ := c.Incr(ctx, "it:b", 0); n != 1 {
			t.Fatalf("Incr after expiry = %d, want a fresh counter at 1", n)
		}
	})
	t.Run("incr concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		seen := make([]bool, 201)
		var mu sync.Mutex
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					n, err := c.Incr(ctx, "ic:a", time.Minute)
					if err != nil || n < 1 || n > 200 {
						t.Errorf("Incr = %d, %v", n, err)
						return
					}
					mu.Lock()
					if seen[n] {
						t.Errorf("value %d returned twice", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if b, _ := c.Get(ctx, "ic:a"); string(b) != "200" {
			t.Fatalf("counter = %q after 200 increments", b)
		}
	})
	t.Run("sorted set", func(t *testing.T) {
		if got, err := c.ZTop(ctx, "zs:none", 10); err != nil || len(got) != 0 {
			t.Fatalf("ZTop absent = %v, %v", got, err)
		}
		for i, m := range []string{"a", "b", "c", "d", "e"} {
			if err := c.ZAdd(ctx, "zs:a", m, float64(i*10)); err != nil {
				t.Fatal(err)
			}
		}
		c.ZAdd(ctx, "zs:a", "a", 25) // an update moves a from last to between d and c
		got, err := c.ZTop(ctx, "zs:a", 3)
		if err != nil {
			t.Fatal(err)
		}
		want := []cache.Scored{{"e", 40}, {"d", 30}, {"a", 25}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("ZTop 3 = %v, want %v", got, want)
		}
		all, _ := c.ZTop(ctx, "zs:a", 100)
		wantAll := []cache.Scored{{"e", 40}, {"d", 30}, {"a", 25}, {"c", 20}, {"b", 10}}
		if fmt.Sprint(all) != fmt.Sprint(wantAll) {
			t.Fatalf("ZTop 100 = %v, want %v", all, wantAll)
		}
		if z, _ := c.ZTop(ctx, "zs:a", 0); len(z) != 0 {
			t.Fatalf("ZTop 0 = %v", z)
		}
		if z, _ := c.ZTop(ctx, "zs:a", -1); len(z) != 5 {
			t.Fatalf("ZTop -1 = %v, want all", z)
		}
		c.Delete(ctx, "zs:a")
		if z, _ := c.ZTop(ctx, "zs:a", 10); len(z) != 0 {
			t.Fatalf("ZTop after Delete = %v", z)
		}
	})
	t.Run("swap", func(t *testing.T) {
		if ok, err := c.Swap(ctx, "sw:a", []byte(""), []byte("x")); err != nil || ok {
			t.Fatalf("Swap of an absent key = %v, %v; want false", ok, err)
		}
		if _, err := c.Get(ctx, "sw:a"); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("Swap of an absent key created it: %v", err)
		}
		c.Set(ctx, "sw:a", []byte("one"), 0)
		if ok, err := c.Swap(ctx, "sw:a", []byte("two"), []byte("three")); err != nil || ok {
			t.Fatalf("Swap with a wrong old value = %v, %v", ok, err)
		}
		if ok, err := c.Swap(ctx, "sw:a", []byte("one"), []byte("two")); err != nil || !ok {
			t.Fatalf("Swap with the right old value = %v, %v", ok, err)
		}
		if b, _ := c.Get(ctx, "sw:a"); string(b) != "two" {
			t.Fatalf("after Swap = %q", b)
		}
	})
	t.Run("sorted set many", func(t *testing.T) {
		if err := c.ZAddMany(ctx, "zm:a", nil); err != nil {
			t.Fatal(err)
		}
		c.ZAdd(ctx, "zm:a", "a", 1)
		if err := c.ZAddMany(ctx, "zm:a", []cache.Scored{{"a", 5}, {"b", 3}, {"c", 9}}); err != nil {
			t.Fatal(err)
		}
		got, _ := c.ZTop(ctx, "zm:a", 10)
		want := []cache.Scored{{"c", 9}, {"a", 5}, {"b", 3}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("ZTop after ZAddMany = %v, want %v", got, want)
		}
	})
	t.Run("sorted set ties", func(t *testing.T) {
		c.ZAdd(ctx, "zt:a", "x", 1)
		c.ZAdd(ctx, "zt:a", "y", 1)
		c.ZAdd(ctx, "zt:a", "z", 2)
		a, _ := c.ZTop(ctx, "zt:a", 3)
		b, _ := c.ZTop(ctx, "zt:a", 3)
		if len(a) != 3 || a[0].Member != "z" || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("ZTop with ties = %v then %v; want z first and a stable order", a, b)
		}
	})
}

// waitMiss polls until key has expired (generous deadline: shared CI machine).
func waitMiss(t *testing.T, c cache.Cache, key string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Get(context.Background(), key)
		if errors.Is(err, cache.ErrMiss) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not expire: %v", key, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
