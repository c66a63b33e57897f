package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/tools/bench"
)

// devAddrs are the listen addresses of a `hive dev` started by a test.
type devAddrs struct{ uc, gate, gateWS, nats, dataDir string }

// devArgs returns `hive dev` arguments on free ports with the limits a
// benchmark needs off (per-session rate, per-IP sign-up rate).
func devArgs(t testing.TB, dataDir string) ([]string, devAddrs) {
	free := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	a := devAddrs{uc: free(), gate: free(), gateWS: free(), nats: free(), dataDir: dataDir}
	return []string{"dev", "--data-dir", dataDir, "--uc-listen", a.uc, "--gate-listen", a.gate, "--gate-ws-listen", a.gateWS,
		"--nats-listen", a.nats, "--gate-rate", "0", "--gate-max-conns-per-ip", "0", "--gate-ip-login-rate", "0", "--uc-ip-rate", "0", "--log-level", "warn"}, a
}

// waitUC polls uc until it answers HTTP at all (any status).
// A process that exited is reported and its error put back on exited, so
// the caller's cleanup that waits for the exit does not block forever.
func waitUC(t testing.TB, addr string, exited chan error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/")
		if err == nil {
			res.Body.Close()
			return
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("hive dev exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("uc on %s never answered: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hive bench against a hive dev binary: the final stdout line is the
// DESIGN §8 JSON, stderr has progress, echo and gift run without errors and
// the gift ring conserves gold; nats-rr measures the same NATS.
func TestBinaryBench(t *testing.T) {
	args, a := devArgs(t, t.TempDir())
	dev := exec.Command(hiveBin(t), args...)
	dev.Env = cleanEnv()
	var devOut syncBuffer
	dev.Stdout, dev.Stderr = &devOut, &devOut
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	defer func() {
		_ = dev.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			dev.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("hive dev output:\n%s", devOut.String())
		}
	}()
	waitUC(t, a.uc, exited)

	// One gift connection alternates between two players (a ring of one
	// would be gifts to oneself, all refused).
	// echo also runs over the gate's WebSocket (uc's ws_url).
	for _, c := range []struct {
		sc        string
		conns     int
		transport string
	}{{"echo", 4, "tcp"}, {"echo", 4, "ws"}, {"gift", 4, "tcp"}, {"gift", 1, "tcp"}, {"mixed", 4, "tcp"}, {"nats-rr", 4, "tcp"}} {
		sc := c.sc
		out, errOut, code := runHive(t, nil, "bench", "--uc", "http://"+a.uc, "--nats", "nats://"+a.nats, "--data-dir", a.dataDir,
			"--conns", fmt.Sprint(c.conns), "--duration", "2s", "--scenario", sc, "--transport", c.transport)
		if code != 0 {
			t.Fatalf("hive bench %s: exit %d, stderr %q", sc, code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var res bench.Result
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
			t.Fatalf("hive bench %s: final line %q: %v", sc, lines[len(lines)-1], err)
		}
		if res.Scenario != sc || res.Conns != c.conns || res.Requests <= 0 || res.Errors != 0 || res.RPS <= 0 || res.P50ms <= 0 {
			t.Errorf("hive bench %s: %+v", sc, res)
		}
		if res.ConservationErrors != 0 {
			t.Errorf("hive bench %s: %d conservation errors", sc, res.ConservationErrors)
		}
		if sc == "mixed" && (res.CCU == nil || res.CCU.Max != int64(c.conns) || !loggedIn(res) || res.CPU == nil || res.CPU.ServerPID != dev.Process.Pid) {
			t.Errorf("hive bench mixed: ccu %+v, ramp %+v, cpu %+v: want every connection logged in and the dev process's CPU", res.CCU, res.Ramp, res.CPU)
		}
		if !strings.Contains(errOut, `"t_s":1`) {
			t.Errorf("hive bench %s: no progress line on stderr: %q", sc, errOut)
		}
	}
}

// hive bench against a hive dev whose gate allows 5 requests per second per
// session: nearly every request is refused, so the final line breaks the
// errors down (RC_RATE_LIMITED), names --gate-rate, counts only successful
// answers in rps, and the exit status is 1.
func TestBinaryBenchRateLimited(t *testing.T) {
	args, a := devArgs(t, t.TempDir())
	args = append(args, "--gate-rate", "5", "--gate-burst", "5") // the last of a flag wins
	dev := exec.Command(hiveBin(t), args...)
	dev.Env = cleanEnv()
	var devOut syncBuffer
	dev.Stdout, dev.Stderr = &devOut, &devOut
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	defer func() {
		_ = dev.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			dev.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("hive dev output:\n%s", devOut.String())
		}
	}()
	waitUC(t, a.uc, exited)
	out, errOut, code := runHive(t, nil, "bench", "--uc", "http://"+a.uc, "--conns", "2", "--duration", "1s")
	if code != 1 {
		t.Fatalf("hive bench against a rate limit: exit %d, want 1\nstdout %s\nstderr %s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res bench.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("final line %q: %v", lines[len(lines)-1], err)
	}
	if res.Errors == 0 || res.ErrorsByCode["RC_RATE_LIMITED"] == 0 || !strings.Contains(res.Hint, "--gate-rate") {
		t.Errorf("result %+v: want RC_RATE_LIMITED errors and a hint naming --gate-rate", res)
	}
	if ok := float64(res.Requests - res.Errors); res.RPS > ok {
		t.Errorf("rps %v > %v successful answers in a second-long run", res.RPS, ok)
	}
	if !strings.Contains(errOut, "--gate-rate 0") || !strings.Contains(errOut, "requests failed") {
		t.Errorf("stderr lacks the hint or the verdict: %q", errOut)
	}
}

func TestBinaryBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--scenario", "nosuch"},
		{"bench", "--conns", "0"},
		{"bench", "--duration", "-1s"},
		{"bench", "--rate-per-conn", "0"},
		{"bench", "--rate", "-1"},
		{"bench", "--rate", "100", "--scenario", "mixed"},
		{"bench", "--ramp-rate", "-5"},
		{"bench", "--mix", "dance=1"},
		{"bench", "--target-pid", "-1"},
	} {
		if _, errOut, code := runHive(t, nil, args...); code != 2 || !strings.Contains(errOut, args[1]) {
			t.Errorf("hive %v: exit %d, stderr %q; want 2 naming %s", args, code, errOut, args[1])
		}
	}
}

// loggedIn reports whether a mixed run recorded logins, in its ramp or
// after it (a player slow to start logs in after a short ramp).
func loggedIn(res bench.Result) bool {
	return res.APIs["Login"] != nil || res.Ramp != nil && res.Ramp.APIs["Login"] != nil
}

// BenchmarkFullPath runs `hive dev` and `hive bench` in this one process so
// that -cpuprofile / -memprofile cover the whole path (load generator
// included): client -> gate -> NATS -> game -> NATS -> gate -> client.
//
//	HIVE_BENCH_SCENARIO=echo HIVE_BENCH_CONNS=100 go test ./cmd/hive -run '^$' \
//	    -bench FullPath -benchtime 1x -cpuprofile /tmp/cpu.out
//
// Each iteration is a 10 s bench (HIVE_BENCH_DURATION); the result line is logged.
func BenchmarkFullPath(b *testing.B) {
	sc := envOr("HIVE_BENCH_SCENARIO", "echo")
	conns := envOr("HIVE_BENCH_CONNS", "100")
	dur, err := time.ParseDuration(envOr("HIVE_BENCH_DURATION", "10s"))
	if err != nil {
		b.Fatal(err)
	}
	args, a := devArgs(b, b.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, args[1:], io.Discard, io.Discard) }()
	defer func() {
		cancel()
		<-done
	}()
	waitUC(b, a.uc, done)
	for b.Loop() {
		var out strings.Builder
		if err := runBench(ctx, []string{"--uc", "http://" + a.uc, "--nats", "nats://" + a.nats,
			"--conns", conns, "--duration", dur.String(), "--scenario", sc}, &out, io.Discard); err != nil {
			b.Fatal(err)
		}
		b.Log(strings.TrimSpace(out.String()))
	}
}

// envOr returns the environment variable, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
