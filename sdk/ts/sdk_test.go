// Package ts holds the TypeScript SDK (an npm package in this directory);
// this test runs its tests from `go test ./...`.
package ts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTypeScriptSDK runs `npm ci` when node_modules is missing and then
// `npm test`: the codec against the shared vectors, the staleness checks of
// src/gen and demo/hive.js, the SDK over TCP and WebSocket against a real
// `hive dev` built from this repository, and the demo page in headless
// Chromium (skipped without it unless HIVE_REQUIRE_BROWSER=1). Without node
// and npm it skips, unless HIVE_REQUIRE_NODE=1 (CI), which makes it fail.
func TestTypeScriptSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the TypeScript SDK tests (they build and start hive dev)")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("HIVE_REQUIRE_NODE") == "1" {
				t.Fatalf("%s not on PATH and HIVE_REQUIRE_NODE=1: install Node.js 20+ and npm", tool)
			}
			t.Skipf("%s not on PATH: skipping the TypeScript SDK tests (install Node.js 20+; HIVE_REQUIRE_NODE=1 makes this fail)", tool)
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); os.IsNotExist(err) {
		run(t, dir, "npm", "ci", "--no-audit", "--no-fund")
	}
	// The tests start the binary built here, so they test this tree.
	bin := filepath.Join(t.TempDir(), "hive")
	run(t, filepath.Join(dir, "..", ".."), "go", "build", "-o", bin, "./cmd/hive")
	cmd := exec.Command("npm", "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HIVE_BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm test: %v\n%s", err, out)
	}
	t.Logf("npm test:\n%s", tail(out, 2000))
	// node --test's skips would otherwise pass unseen.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "# SKIP") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// run runs a command in dir and fails the test with its output if it fails.
func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// tail is the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
