package faults

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSoak runs the mixed load (gifts, item, mail and leaderboard reads,
// logout/login churn, kicks) for $HIVE_FAULTS_SOAK (e.g. 30m) against the
// single-node cluster, sampling every process's memory, goroutines and
// open files, and reports each series' slope per hour; the gifts are judged
// at the end like a fault's. $HIVE_FAULTS_SOAK_THINK sets each player's
// pause between requests (default 100ms: about 400 requests/s from 40
// players). Not part of CI: it is skipped without the variable.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("HIVE_FAULTS_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("HIVE_FAULTS_SOAK is not a duration (e.g. HIVE_FAULTS_SOAK=30m): no soak")
	}
	think := 100 * time.Millisecond
	if v := os.Getenv("HIVE_FAULTS_SOAK_THINK"); v != "" {
		if think, err = time.ParseDuration(v); err != nil {
			t.Fatalf("HIVE_FAULTS_SOAK_THINK=%q: %v", v, err)
		}
	}
	c := startCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	players, err := signUp(ctx, c.ucURL, "soak", timing.players)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	l := newLedger()
	ld := startLoad(players, l, think, timing.timeout)
	ld.mixed = true
	every := max(d/30, 10*time.Second)
	var samples []sample
	start := time.Now()
	for time.Since(start) < d {
		samples = append(samples, c.sample(time.Since(start)))
		time.Sleep(every)
	}
	samples = append(samples, c.sample(time.Since(start)))
	ld.stop()
	for _, line := range slopes(samples) {
		report(t, "soak "+line)
	}
	jctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v, err := judge(jctx, c.tools(), players, l)
	if err != nil {
		t.Fatal(err)
	}
	report(t, fmt.Sprintf("soak duration=%v requests=%d (%.0f/s) errors=%s longest_wait=%v conservation=%d inconsistent=%d lost=%d doubled=%d failed_but_applied=%d",
		d, l.requests, float64(l.requests)/d.Seconds(), l.errorsLine(), l.longestWait.Round(10*time.Millisecond), v.conservation, v.inconsistent, v.lost, v.doubled, v.uncertainApplied))
	if v.failed() {
		for _, p := range v.problems {
			t.Error(p)
		}
		t.Fatal("soak: gifts lost, doubled or inconsistent")
	}
}

// sample is one reading of every process: series name -> value.
type sample struct {
	at     time.Duration
	values map[string]float64
}

// sample reads each hive process's go_goroutines,
// process_resident_memory_bytes and process_open_fds from /metrics, and
// the servers' resident memory (VmRSS) and open files from /proc.
func (c *cluster) sample(at time.Duration) sample {
	s := sample{at: at, values: map[string]float64{}}
	for p := range c.metrics {
		for _, m := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds"} {
			if v, ok := c.scrape(p, m); ok {
				s.values[p.name+" "+m] = v
			}
		}
	}
	for _, p := range append(append([]*proc{}, c.nats...), c.etcd, c.redis) {
		if rss := vmRSS(p); rss >= 0 {
			s.values[p.name+" rss_bytes"] = float64(rss)
		}
		s.values[p.name+" open_fds"] = float64(fds(p))
	}
	return s
}

// vmRSS is p's resident memory in bytes from /proc/PID/status, -1 if unknown.
func vmRSS(p *proc) int64 {
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return -1
}

// slopes is one line per series: first, last and the least-squares slope
// per hour.
func slopes(samples []sample) []string {
	if len(samples) < 2 {
		return nil
	}
	var names []string
	for n := range samples[len(samples)-1].values {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		var xs, ys []float64
		for _, s := range samples {
			if v, ok := s.values[n]; ok {
				xs, ys = append(xs, s.at.Hours()), append(ys, v)
			}
		}
		if len(xs) < 2 {
			continue
		}
		out = append(out, fmt.Sprintf("series=%q first=%.0f last=%.0f slope_per_hour=%.0f", n, ys[0], ys[len(ys)-1], slope(xs, ys)))
	}
	return out
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}
