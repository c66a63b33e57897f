package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qeetap/hive/internal/testenv"
)

// A second `hive dev` on the data dir of a running one, with the very same
// command line, is refused at once: exit 1, naming the first one's pid and
// what to do. The first one's files are left exactly as they were (the
// stored messages and their indexes, which a second JetStream server on the
// store rebuilds and rewrites, and the key and token files), and it goes on
// serving. Consumer state is left out of the comparison: the first one's
// game leader creates its consumers on its own schedule.
func TestBinarySecondDevOnOneDataDir(t *testing.T) {
	dataDir := t.TempDir()
	free := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	ucAddr, metricsAddr := free(), free()
	args := []string{"dev", "--data-dir", dataDir, "--nats-listen", free(), "--uc-listen", ucAddr, "--gate-listen", free(), "--gate-ws-listen", free(), "--metrics-listen", metricsAddr}

	first := exec.Command(hiveBin(t), args...)
	first.Env = cleanEnv()
	var out, errOut syncBuffer
	first.Stdout, first.Stderr = &out, &errOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	defer func() {
		if first.ProcessState == nil {
			first.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("first hive dev stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("first hive dev exited: %v", err)
		default:
		}
		if res, err := http.Get("http://" + metricsAddr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("first hive dev never ready")
		}
		time.Sleep(100 * time.Millisecond)
	}

	before := snapshotFiles(t, dataDir)
	if len(before) == 0 || !hasPrefix(before, filepath.Join("nats", "jetstream")) {
		t.Fatalf("no JetStream store in the data dir: %v", before)
	}
	_, stderr, code := runHive(t, nil, args...)
	want := fmt.Sprintf("another hive dev (pid %d) is using %s; stop it or pass --data-dir", first.Process.Pid, dataDir)
	if code != exitFailure || !strings.Contains(stderr, want) {
		t.Errorf("second hive dev: exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
	if strings.Contains(stderr, "will rebuild") {
		t.Errorf("second hive dev opened the store: %q", stderr)
	}
	after := snapshotFiles(t, dataDir)
	for name, b := range before {
		if a, ok := after[name]; !ok {
			t.Errorf("%s: removed by the second hive dev", name)
		} else if a != b {
			t.Errorf("%s: changed by the second hive dev (%s -> %s)", name, b, a)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s: created by the second hive dev", name)
		}
	}

	checkUC(t, ucAddr) // the first still serves
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("first hive dev after SIGTERM: %v, want exit 0", err)
	}
}

// snapshotFiles maps every file under dir but consumer state to its size,
// mtime and content hash.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.Contains(filepath.ToSlash(rel), "/obs/") {
			return nil // consumer state: the running dev's own
		}
		snap[rel] = fmt.Sprintf("%d bytes, %s, sha256 %x", info.Size(), info.ModTime().Format(time.RFC3339Nano), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// hasPrefix reports whether a key of snap starts with prefix.
func hasPrefix(snap map[string]string, prefix string) bool {
	for k := range snap {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
