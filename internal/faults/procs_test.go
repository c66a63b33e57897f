package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries are the executables every scenario runs, built once per test
// binary without the race detector (they are the system under test; the
// race detector belongs to the packages' own tests).
type binaries struct {
	hive, nats, etcd, redis string
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// bins builds hive, nats-server and etcd (go build, the module's pinned
// versions) and finds redis-server, which the test skips without (or fails,
// with HIVE_REQUIRE_REDIS=1).
func bins(t *testing.T) binaries {
	t.Helper()
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("HIVE_REQUIRE_REDIS") == "1" {
			t.Fatal("faults: redis-server is not installed and HIVE_REQUIRE_REDIS=1 (apt-get install redis-server)")
		}
		t.Skip("faults: redis-server is not installed; skipping the fault suite (apt-get install redis-server)")
	}
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "hive-faults-"); buildErr != nil {
			return
		}
		built = binaries{hive: filepath.Join(binDir, "hive"), nats: filepath.Join(binDir, "nats-server"), etcd: filepath.Join(binDir, "etcd")}
		for pkg, out := range map[string]string{
			"github.com/qeetap/hive/cmd/hive":             built.hive,
			"github.com/nats-io/nats-server/v2":           built.nats,
			"github.com/qeetap/hive/internal/faults/etcd": built.etcd,
		} {
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	b := built
	b.redis = redis
	return b
}

// proc is one server process of a scenario: its own process group (so a
// kill reaches anything it started), its output appended to a log file in
// the test's temp dir, restartable with the same arguments.
type proc struct {
	t    *testing.T
	name string
	bin  string
	args []string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// startProc starts bin with args and registers its end (SIGKILL of its
// group) with t.Cleanup; its log is printed if the test fails.
func startProc(t *testing.T, dir, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, bin: bin, args: args, log: filepath.Join(dir, name+".log")}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s log (last 60 lines) ---\n%s", p.name, tail(p.log, 60))
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s start %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("faults: start %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
}

// signal sends sig to the process's group, unless the process was reaped
// (its id may belong to another process by now).
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	select {
	case <-p.exited:
	default:
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// kill is kill -9 of the group; it returns once the process is reaped.
func (p *proc) kill() {
	p.signal(syscall.SIGCONT) // a stopped process is reaped only once it runs
	p.signal(syscall.SIGKILL)
	p.mu.Lock()
	ch := p.exited
	p.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// restart kills the process (if running) and starts it again.
func (p *proc) restart() {
	p.kill()
	p.start()
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// logText is the process's log so far.
func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanEnv is the environment without HIVE_* variables, so a developer's
// shell cannot change what the processes do.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HIVE_") {
			env = append(env, kv)
		}
	}
	return env
}
