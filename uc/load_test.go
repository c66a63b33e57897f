package uc

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/internal/testenv"
)

var (
	loadRun   = flag.Bool("uc.load", false, "run the uc load measurement (TestLoad)")
	loadDur   = flag.Duration("uc.load.dur", 5*time.Second, "duration of each load scenario")
	loadConns = flag.Int("uc.load.conns", 64, "concurrent HTTP clients")
	loadOnly  = flag.String("uc.load.only", "", "run only scenarios whose name contains this")
	loadRedis = flag.Bool("uc.load.redis", false, "use a real redis-server as the cache instead of memory")
)

// TestLoad measures guest and password auth over real HTTP on loopback,
// with the default argon2 parameters and every limit on (the per-IP rate
// set high enough not to refuse the one-IP load). Run:
//
//	go test ./uc -run TestLoad -v -args -uc.load
func TestLoad(t *testing.T) {
	if !*loadRun {
		t.Skip("load measurement: pass -uc.load")
	}
	c := cache.Cache(cache.NewMemory())
	if *loadRedis {
		r := testenv.StartRedis(t)
		rc, err := cache.NewRedis(r.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c = rc
	}
	def := DefaultConfig()
	e := newEnvCache(t, c, func(cfg *Config) {
		cfg.Argon2Time, cfg.Argon2MemoryKiB, cfg.Argon2Threads = def.Argon2Time, def.Argon2MemoryKiB, def.Argon2Threads
		cfg.IPRate = 1 << 30
		cfg.CreateLimit = 0 // every client here is one source
	})
	tr := &http.Transport{MaxIdleConns: *loadConns, MaxIdleConnsPerHost: *loadConns}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Logf("argon2id m=%d KiB t=%d p=%d, hash workers %d, %d clients, %v per scenario, cache %T",
		def.Argon2MemoryKiB, def.Argon2Time, def.Argon2Threads, def.HashWorkers, *loadConns, *loadDur, c)

	const devices = 2000
	for i := range devices {
		e.guest(fmt.Sprintf("load-device-%d", i))
	}
	for i := range *loadConns {
		e.register(fmt.Sprintf("load_user_%d", i), "load-password-1")
	}
	var seq atomic.Int64
	scenarios := []struct {
		name string
		body func(worker int, n int64) string
	}{
		{"guest (existing device)", func(w int, n int64) string {
			return url.Values{"device_id": {testDevice(fmt.Sprintf("load-device-%d", n%devices))}}.Encode()
		}},
		{"guest (new device each time)", func(w int, n int64) string {
			return url.Values{"device_id": {testDevice(fmt.Sprintf("new-device-%d", seq.Add(1)))}}.Encode()
		}},
		{"password", func(w int, n int64) string {
			return url.Values{"username": {fmt.Sprintf("load_user_%d", w)}, "password": {"load-password-1"}}.Encode()
		}},
	}
	for _, sc := range scenarios {
		if !strings.Contains(sc.name, *loadOnly) {
			continue
		}
		lat := make([][]time.Duration, *loadConns)
		var errs atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(*loadDur)
		start := time.Now()
		for w := range *loadConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := int64(w); time.Now().Before(stop); n += int64(*loadConns) {
					t0 := time.Now()
					resp, err := hc.Post(e.base+client.PathAuth, "application/x-www-form-urlencoded", strings.NewReader(sc.body(w, n)))
					if err != nil {
						errs.Add(1)
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"code":0,`) {
						errs.Add(1)
					}
					lat[w] = append(lat[w], time.Since(t0))
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		pct := func(p float64) time.Duration {
			if len(all) == 0 {
				return 0
			}
			return all[min(len(all)-1, int(float64(len(all))*p))]
		}
		t.Logf("%-30s %7d req in %.1fs = %7.0f req/s  p50 %6.2fms  p99 %6.2fms  errors %d",
			sc.name, len(all), el.Seconds(), float64(len(all))/el.Seconds(),
			float64(pct(0.50).Microseconds())/1000, float64(pct(0.99).Microseconds())/1000, errs.Load())
	}
}
