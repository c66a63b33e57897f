package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qeetap/hive/internal/testenv"
)

// The data dir lock is exclusive and names its holder; released, it can be
// taken again.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	first, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDataDir(dir)
	var busy *dataDirBusyError
	if !errors.As(err, &busy) || busy.pid != os.Getpid() {
		t.Fatalf("second lock: %v, want dataDirBusyError naming pid %d", err, os.Getpid())
	}
	want := fmt.Sprintf("another hive dev (pid %d) is using %s; stop it or pass --data-dir", os.Getpid(), dir)
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	first.release()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.release()
}

// A port already taken fails `hive dev` before it opens anything, naming the
// address and the flag; exit status 1.
func TestDevBusyPortOpensNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	free := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	for _, flagName := range []string{"uc-listen", "gate-listen", "gate-ws-listen", "nats-listen", "metrics-listen"} {
		dir := t.TempDir()
		args := []string{"dev", "--data-dir", dir, "--uc-listen", free(), "--gate-listen", free(), "--gate-ws-listen", free(), "--nats-listen", free(), "--metrics-listen", free()}
		args = append(args, "--"+flagName, busy) // the last one wins
		var out, errOut strings.Builder
		code := run(context.Background(), args, &out, &errOut)
		want := fmt.Sprintf("port %s (--%s) is in use", busy, flagName)
		if code != exitFailure || !strings.Contains(errOut.String(), want) {
			t.Errorf("--%s on a busy port: exit %d, stderr %q; want 1 and %q", flagName, code, errOut.String(), want)
		}
		if _, err := os.Stat(filepath.Join(dir, "nats")); err == nil {
			t.Errorf("--%s on a busy port: the JetStream store was opened anyway", flagName)
		}
	}
	// One address for two flags is caught the same way.
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var out, errOut strings.Builder
	code := run(context.Background(), []string{"dev", "--data-dir", t.TempDir(), "--uc-listen", addr, "--gate-listen", addr, "--gate-ws-listen", "", "--nats-listen", ""}, &out, &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), "is in use") {
		t.Errorf("one address for --uc-listen and --gate-listen: exit %d, stderr %q", code, errOut.String())
	}
	// A malformed address is a usage error.
	errOut.Reset()
	code = run(context.Background(), []string{"dev", "--data-dir", t.TempDir(), "--uc-listen", "8082"}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "--uc-listen") {
		t.Errorf("--uc-listen 8082: exit %d, stderr %q; want 2", code, errOut.String())
	}
}
