package gate

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// TestIdleConnMemory measures the gate process's memory per idle logged-in
// connection. It runs only with HIVE_GATE_MEMBENCH=<connections>:
//
//	HIVE_GATE_MEMBENCH=10000 go test ./gate -run TestIdleConnMemory -v -count 1
//
// With HIVE_GATE_MEMBENCH_WS=1 the clients connect over WebSocket.
//
// The clients, the NATS server and the game run in a child process (this
// test binary again), so this process holds the gate alone: its sockets,
// sessions, reader goroutines and NATS subscriptions. Kernel socket memory
// is not in these figures (it is not process memory).
func TestIdleConnMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HIVE_GATE_MEMBENCH"))
	if n <= 0 {
		t.Skip("set HIVE_GATE_MEMBENCH=<connections> to measure memory per idle connection")
	}
	raiseFDLimit(t, n+1000)
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i * 7)
	}
	signer := token.NewSigner(ed25519.NewKeyFromSeed(seed), "", time.Hour)

	child := exec.Command(os.Args[0], "-test.run=^TestIdleConnMemoryClients$", "-test.v", "-test.timeout=20m")
	child.Env = append(os.Environ(), "HIVE_GATE_MEMCHILD="+strconv.Itoa(n), "HIVE_GATE_MEMSEED="+hex.EncodeToString(seed), "HIVE_GATE_MEMBENCH=")
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); child.Wait() }()
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return strings.TrimSpace(rest)
			}
		}
		t.Fatalf("child ended before %q: %v", prefix, lines.Err())
		return ""
	}
	natsURL := expect("NATS ")

	nc, err := bus.Connect(natsURL, "gate-membench")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reg := registry.NewMemory()
	pem, _ := token.EncodePublicKey(signer.PublicKey())
	_ = reg.PublishKey(context.Background(), signer.KeyID(), pem)
	cfg := DefaultConfig()
	cfg.Listen, cfg.MaxConns = "127.0.0.1:0", n+10
	cfg.IdleTimeout, cfg.LoginTimeout, cfg.Rate = time.Hour, time.Minute, 0
	cfg.MaxConnsPerIP, cfg.LoginRatePerIP = 0, 0 // every connection comes from loopback
	ws := os.Getenv("HIVE_GATE_MEMBENCH_WS") == "1"
	if ws {
		cfg.WSListen = "127.0.0.1:0"
	}
	g, err := New(cfg, Deps{NC: nc, Registry: reg, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())

	before := sample()
	addr := g.Addr()
	if ws {
		addr = g.WSURL()
	}
	fmt.Fprintf(stdin, "GATE %s\n", addr)
	start := time.Now()
	if got := expect("READY "); got != strconv.Itoa(n) {
		t.Fatalf("child logged in %s connections, want %d", got, n)
	}
	loginTime := time.Since(start)
	if g.Conns() != n {
		t.Fatalf("gate has %d connections, want %d", g.Conns(), n)
	}
	after := sample()
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
	t.Logf("%d idle logged-in connections to %s (logged in within %v)", n, addr, loginTime.Round(time.Millisecond))
	t.Logf("per connection: heap in use + stacks %.2f KiB (heap %.2f, stacks %.2f, goroutines %+d)",
		per(after.heap+after.stack, before.heap+before.stack), per(after.heap, before.heap), per(after.stack, before.stack), after.goroutines-before.goroutines)
	t.Logf("per connection: runtime Sys %.2f KiB, resident set (VmRSS) %.2f KiB", per(after.sys, before.sys), per(after.rss, before.rss))
	t.Logf("totals before/after: heap+stacks %.1f/%.1f MiB, Sys %.1f/%.1f MiB, RSS %.1f/%.1f MiB",
		mib(before.heap+before.stack), mib(after.heap+after.stack), mib(before.sys), mib(after.sys), mib(before.rss), mib(after.rss))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

type memSample struct {
	heap, stack, sys, rss uint64
	goroutines            int
}

// sample settles the heap (pools emptied, stacks shrunk by a few GCs) and
// reads the runtime's and the kernel's view of this process.
func sample() memSample {
	for range 4 {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapInuse, stack: ms.StackInuse, sys: ms.Sys - ms.HeapReleased, rss: rss(), goroutines: runtime.NumGoroutine()}
}

// rss is this process's resident set size from /proc (0 elsewhere).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func raiseFDLimit(t *testing.T, want int) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Cur >= uint64(want) {
		return
	}
	l.Cur = max(l.Cur, min(uint64(want), l.Max))
	if uint64(want) > l.Max {
		l.Max, l.Cur = uint64(want), uint64(want) // works as root
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatalf("need %d file descriptors: %v (raise ulimit -n)", want, err)
	}
}

// TestIdleConnMemoryClients is the child of TestIdleConnMemory: NATS server,
// game and N clients that log in and then stay idle until stdin closes.
func TestIdleConnMemoryClients(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HIVE_GATE_MEMCHILD"))
	if n <= 0 {
		t.Skip("child process of TestIdleConnMemory")
	}
	raiseFDLimit(t, n+1000)
	seed, _ := hex.DecodeString(os.Getenv("HIVE_GATE_MEMSEED"))
	signer := token.NewSigner(ed25519.NewKeyFromSeed(seed), "", time.Hour)
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	gameNC, err := bus.Connect(srv.ClientURL(), "game")
	if err != nil {
		t.Fatal(err)
	}
	defer gameNC.Close()
	leanGame(t, gameNC)
	fmt.Printf("NATS %s\n", srv.ClientURL())

	in := bufio.NewScanner(os.Stdin)
	var addr string
	for in.Scan() {
		if rest, ok := strings.CutPrefix(in.Text(), "GATE "); ok {
			addr = rest
			break
		}
	}
	clients := make([]*rawClient, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tok, _, _ := signer.Sign(int64(100000+i), 0)
			c, err := dialLogin(addr, tok)
			if err != nil {
				errs <- err
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for _, c := range clients {
		if c != nil {
			ok++
		}
	}
	if err := <-errs; err != nil {
		fmt.Fprintf(os.Stderr, "login error (first of %d): %v\n", n-ok, err)
	}
	fmt.Printf("READY %d\n", ok)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done
	for _, c := range clients {
		if c != nil {
			c.c.Close()
		}
	}
}
