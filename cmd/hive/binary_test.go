package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/evt"
	"google.golang.org/protobuf/proto"
)

// testVersion is stamped into the test binary through -ldflags, proving the
// version is settable at build time.
const testVersion = "v0.0.0-test"

var (
	buildOnce sync.Once
	binPath   string
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

// hiveBin builds the hive binary once per test run.
func hiveBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "hive-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "hive")
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// runHive runs the binary to completion with a clean HIVE_* environment plus env.
func runHive(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return execHive(t, env, "", args...)
}

// runHiveIn is runHive with stdin and no extra environment.
func runHiveIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return execHive(t, nil, stdin, args...)
}

// execHive runs the binary to completion (at most a minute) with a clean
// HIVE_* environment plus env and stdin.
func execHive(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hiveBin(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("hive %v: %v", args, err)
	}
	return o.String(), e.String(), 0
}

// cleanEnv is the test's environment without HIVE_* variables, so a
// developer's shell cannot change what the binary does here.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HIVE_") {
			env = append(env, kv)
		}
	}
	return env
}

func TestBinaryVersion(t *testing.T) {
	out, _, code := runHive(t, nil, "version")
	if code != 0 || !strings.Contains(out, "hive "+testVersion) || !strings.Contains(out, "go1.") {
		t.Fatalf("hive version: exit %d, output %q", code, out)
	}
}

func TestBinaryHelpListsFlags(t *testing.T) {
	out, _, code := runHive(t, nil, "--help")
	if code != 0 {
		t.Fatalf("hive --help: exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("hive --help does not list command %s", c.name)
		}
	}
	for _, f := range sharedNames {
		if !strings.Contains(out, "--"+f) || !strings.Contains(out, envName(f)) {
			t.Errorf("hive --help lacks --%s or %s", f, envName(f))
		}
	}
	// Each command's --help documents every flag of its set.
	for name, mk := range flagSets() {
		out, _, code := runHive(t, nil, name, "--help")
		if code != 0 {
			t.Errorf("hive %s --help: exit %d", name, code)
		}
		fs := mk()
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, "env "+envTwin(fs, f.Name)) {
				t.Errorf("hive %s --help lacks --%s with env %s", name, f.Name, envTwin(fs, f.Name))
			}
		})
	}
}

func TestBinaryUsageErrors(t *testing.T) {
	if _, errOut, code := runHive(t, nil, "nosuch"); code != 2 || !strings.Contains(errOut, `unknown command "nosuch"`) {
		t.Errorf("hive nosuch: exit %d, stderr %q; want 2 and unknown command", code, errOut)
	}
	if _, _, code := runHive(t, nil); code != 2 {
		t.Errorf("hive with no command: exit %d, want 2", code)
	}
	_, errOut, code := runHive(t, []string{"HIVE_LOG_FORMAT=bad"}, "dev", "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(errOut, "HIVE_LOG_FORMAT") {
		t.Errorf("HIVE_LOG_FORMAT=bad hive dev: exit %d, stderr %q; want 2 naming HIVE_LOG_FORMAT", code, errOut)
	}
	// The stream's replicas: 1..5, and 1 for the embedded server.
	if _, errOut, code := runHive(t, nil, "game", "--nats", "nats://127.0.0.1:1", "--etcd", "http://127.0.0.1:1", "--replicas", "9"); code != 2 || !strings.Contains(errOut, "--replicas 9") {
		t.Errorf("hive game --replicas 9: exit %d, stderr %q; want 2 naming --replicas", code, errOut)
	}
	// Lease TTLs: etcd counts whole seconds.
	if _, errOut, code := runHive(t, nil, "gate", "--nats", "nats://127.0.0.1:1", "--etcd", "http://127.0.0.1:1", "--gate-lease-ttl", "500ms"); code != 2 || !strings.Contains(errOut, "--gate-lease-ttl 500ms: want at least 1s") {
		t.Errorf("hive gate --gate-lease-ttl 500ms: exit %d, stderr %q; want 2 naming the flag", code, errOut)
	}
	if _, errOut, code := runHive(t, nil, "game", "--nats", "nats://127.0.0.1:1", "--etcd", "http://127.0.0.1:1", "--etcd-session-ttl", "0s"); code != 2 || !strings.Contains(errOut, "--etcd-session-ttl 0s") {
		t.Errorf("hive game --etcd-session-ttl 0s: exit %d, stderr %q; want 2 naming the flag", code, errOut)
	}
	if _, errOut, code := runHive(t, nil, "gate", "--nats", "nats://127.0.0.1:1", "--etcd", "http://127.0.0.1:1", "--nats-ping-interval", "0s"); code != 2 || !strings.Contains(errOut, "--nats-ping-interval 0s") {
		t.Errorf("hive gate --nats-ping-interval 0s: exit %d, stderr %q; want 2 naming the flag", code, errOut)
	}
	if _, errOut, code := runHive(t, nil, "dev", "--data-dir", t.TempDir(), "--replicas", "3"); code != 2 || !strings.Contains(errOut, "embedded NATS is one server") {
		t.Errorf("hive dev --replicas 3: exit %d, stderr %q; want 2", code, errOut)
	}
	if _, errOut, code := runHive(t, nil, "dev", "--log-level=loud"); code != 2 || !strings.Contains(errOut, "log-level") {
		t.Errorf("hive dev --log-level=loud: exit %d, stderr %q; want 2", code, errOut)
	}
}

// hive client runs the command given as arguments; with --fail-fast a
// failure (here: no uc listening) is a JSON error line and exit status 1.
func TestBinaryClientOneShot(t *testing.T) {
	out, _, code := runHive(t, nil, "client", "--uc", "http://127.0.0.1:1", "--fail-fast", "register", "lisp", "secret-lisp-1")
	var line struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &line); err != nil || line.Error == "" || code != 1 {
		t.Fatalf("hive client register against nothing: exit %d, stdout %q; want a JSON error line and exit 1", code, out)
	}
}

// hive dev on free ports: NATS with the EVENTS stream is reachable on
// --nats-listen, /readyz answers on the HIVE_METRICS_LISTEN given by the
// environment, and SIGTERM drains it to exit 0.
func TestBinaryDevServesAndDrains(t *testing.T) {
	dataDir := t.TempDir()
	natsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	args := []string{"dev", "--data-dir", dataDir, "--nats-listen", natsAddr}
	listen := map[string]string{}
	for _, f := range []string{"uc-listen", "gate-listen", "gate-ws-listen"} { // free ports for every listener
		listen[f] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		args = append(args, "--"+f, listen[f])
	}
	cmd := exec.Command(hiveBin(t), args...)
	cmd.Env = append(cleanEnv(),
		"HIVE_METRICS_LISTEN="+metricsAddr,
		"HIVE_NATS_LISTEN=127.0.0.1:1", // the command line must win over this
	)
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("hive dev stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
	}()

	// Poll until NATS answers on --nats-listen (or the process dies).
	var nc *nats.Conn
	deadline := time.Now().Add(60 * time.Second)
	for nc == nil {
		select {
		case err := <-exited:
			t.Fatalf("hive dev exited early: %v", err)
		default:
		}
		c, err := nats.Connect("nats://"+natsAddr, nats.Timeout(time.Second), devCreds(t, dataDir, bus.RoleUC))
		if err == nil {
			nc = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("NATS never answered on %s: %v", natsAddr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The stream is created right after the server starts: poll for it too.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, bus.EventsStream)
		cancel()
		if err == nil {
			if subj := s.CachedInfo().Config.Subjects; len(subj) != 1 || subj[0] != "evt.>" {
				t.Errorf("stream EVENTS subjects = %v, want [evt.>]", subj)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s never appeared: %v", bus.EventsStream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Ready once every part started: the metrics endpoint says so.
	for {
		res, err := http.Get("http://" + metricsAddr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz on %s never 200: %v", metricsAddr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "nats://"+natsAddr) {
		t.Errorf("the banner does not show the NATS address %s:\n%s", natsAddr, out.String())
	}

	// Every part runs as its role: anonymous clients are refused.
	if anon, err := nats.Connect("nats://"+natsAddr, nats.Timeout(5*time.Second)); err == nil {
		anon.Close()
		t.Error("hive dev's NATS accepted a client without credentials")
	}
	checkTap(t, nc, "nats://"+natsAddr, dataDir)
	checkUC(t, listen["uc-listen"])

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("hive dev after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("hive dev did not exit within 90s of SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "nats")); err != nil {
		t.Errorf("no JetStream store in the data dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "uc.key")); err != nil {
		t.Errorf("no uc key in the data dir: %v", err)
	}
}

// devCreds authenticates as role with the seed a `hive dev` generated in
// dataDir (a test would rather wait than fail if it is not written yet:
// the seeds are written before NATS listens, so once it answers they exist).
func devCreds(t *testing.T, dataDir string, role bus.Role) nats.Option {
	t.Helper()
	return func(o *nats.Options) error {
		opt, err := bus.CredsOption(bus.CredsPath(filepath.Join(dataDir, secretsDir), role))
		if err != nil {
			return err
		}
		return opt(o)
	}
}

// checkTap appends an event to the running hive dev's stream and reads it
// back through `hive tap --from-start --limit 1`, decoded to JSON.
func checkTap(t *testing.T, nc *nats.Conn, url, dataDir string) {
	t.Helper()
	payload, err := proto.Marshal(&evt.AccountRegistered{AccountId: proto.Int64(10001), Username: proto.String("lisp")})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(bus.AccountSubject(10001))
	m.Header.Set(bus.HdrEvent, "evt.AccountRegistered")
	m.Data = payload
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runHive(t, nil, "tap", "--nats", url, "--data-dir", dataDir, "--from-start", "--limit", "1", "--subject", bus.AccountSubject(10001))
	var line struct {
		Subject string `json:"subject"`
		Type    string `json:"type"`
		Event   struct {
			AccountID string `json:"account_id"`
			Username  string `json:"username"`
		} `json:"event"`
	}
	if err := json.Unmarshal([]byte(out), &line); code != 0 || err != nil {
		t.Fatalf("hive tap: exit %d, %v; stdout %q stderr %q", code, err, out, errOut)
	}
	if line.Subject != bus.AccountSubject(10001) || line.Type != "evt.AccountRegistered" || line.Event.Username != "lisp" || line.Event.AccountID != "10001" {
		t.Errorf("hive tap printed %q", out)
	}
	// An unreachable NATS is an error at once, not a hang.
	if _, _, code := runHive(t, nil, "tap", "--nats", "nats://127.0.0.1:1", "--limit", "1"); code != 1 {
		t.Errorf("hive tap against nothing: exit %d, want 1", code)
	}
}

// checkUC registers an account at the uc inside hive dev: with its gate and
// game worker running the registration succeeds (code 0, DESIGN §7).
func checkUC(t *testing.T, addr string) {
	t.Helper()
	res, err := http.PostForm("http://"+addr+"/v1/account/registry", map[string][]string{
		"username": {"lisp"}, "password": {"secret-lisp-1"},
	})
	if err != nil {
		t.Fatalf("uc in hive dev: %v", err)
	}
	defer res.Body.Close()
	var body struct {
		Code *int `json:"code"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Code == nil {
		t.Fatalf("uc registry answer: %v, code %v", err, body.Code)
	}
	if *body.Code != 0 {
		t.Errorf("registration in hive dev: code %d, want 0", *body.Code)
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
