package uc

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// testGate is the live gate registered in every test registry.
var testGate = registry.Gate{ID: "g1", Addr: "127.0.0.1:9000", Capacity: 1000}

// env is one uc on loopback with real NATS (embedded), the in-process
// registry with a live gate, a cache, and a local SMS webhook.
type env struct {
	t      *testing.T
	srv    *Server
	base   string
	nats   *testenv.NATS
	reg    *registry.Memory
	cache  cache.Cache
	signer *token.Signer
	hc     *http.Client
	cfg    Config // the server's, as started
	deps   Deps

	mu    sync.Mutex
	codes map[string][]string // phone -> codes received by the webhook, in order
	got   chan struct{}
}

// testConfig is DefaultConfig with cheap argon2 (the race detector makes
// the real parameters slow) and loopback port 0.
func testConfig() Config {
	c := DefaultConfig()
	c.Listen = "127.0.0.1:0"
	c.Argon2Time, c.Argon2MemoryKiB = 1, 256
	c.IPRate = 0
	// Generous waits: the machine is shared and -race is slow; a test must
	// not fail because a hash worker was busy for a few seconds.
	c.HashWait = 30 * time.Second
	c.RequestTimeout = 30 * time.Second
	return c
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	return newEnvCache(t, cache.NewMemory(), mod)
}

func newEnvCache(t *testing.T, c cache.Cache, mod func(*Config)) *env {
	t.Helper()
	return newEnvDeps(t, c, mod, nil)
}

// newEnvDeps is newEnvCache with a last say over the server's Deps.
func newEnvDeps(t *testing.T, c cache.Cache, mod func(*Config), modDeps func(*Deps)) *env {
	t.Helper()
	e := &env{t: t, nats: testenv.StartNATS(t), reg: registry.NewMemory(), cache: c,
		codes: map[string][]string{}, got: make(chan struct{}, 100),
		hc: &http.Client{Timeout: 30 * time.Second}}
	if _, err := e.reg.Register(context.Background(), testGate); err != nil {
		t.Fatal(err)
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Phone, Code, Text string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		e.mu.Lock()
		e.codes[m.Phone] = append(e.codes[m.Phone], m.Code)
		e.mu.Unlock()
		e.got <- struct{}{}
	}))
	t.Cleanup(hook.Close)
	cfg := testConfig()
	cfg.SMSWebhook = hook.URL
	if mod != nil {
		mod(&cfg)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	e.signer = token.NewSigner(key, cfg.TokenIssuer, cfg.TokenTTL)
	nc := e.nats.ConnectAs(t, bus.RoleUC) // uc's own identity and permissions
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{NC: nc, JS: js, Registry: e.reg, Cache: c, Signer: e.signer, Logger: testLogger(t)}
	if modDeps != nil {
		modDeps(&deps)
	}
	e.cfg, e.deps = cfg, deps
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	e.srv = srv
	e.base = "http://" + srv.Addr()
	return e
}

// answer is a decoded JSON answer.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) code() def.ResCode {
	n, ok := a.body["code"].(json.Number)
	if !ok {
		return -1
	}
	i, _ := n.Int64()
	return def.ResCode(i)
}

func (a answer) int(key string) int64 {
	n, _ := a.body[key].(json.Number)
	i, _ := n.Int64()
	return i
}

func (a answer) str(key string) string { s, _ := a.body[key].(string); return s }

// do sends a raw request and decodes the answer, failing the test unless
// the answer is a JSON object with a code.
func (e *env) do(req *http.Request) answer {
	e.t.Helper()
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&a.body); err != nil {
		e.t.Fatalf("%s %s: HTTP %d, answer %q is not JSON: %v", req.Method, req.URL.Path, resp.StatusCode, b, err)
	}
	if a.code() < 0 {
		e.t.Fatalf("%s %s: HTTP %d, answer %q has no code", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return a
}

// post sends form-encoded params (as curl -d does).
func (e *env) post(path string, form url.Values, hdr ...string) answer {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return e.do(req)
}

// postRaw sends body with a content type.
func (e *env) postRaw(path, ctype, body string) answer {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return e.do(req)
}

// want fails unless a has the HTTP status and code.
func want(t *testing.T, what string, a answer, status int, code def.ResCode) {
	t.Helper()
	if a.status != status || a.code() != code {
		t.Fatalf("%s: HTTP %d %s (%s), want HTTP %d %s", what, a.status, a.code(), a.raw, status, code)
	}
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func (e *env) register(user, pass string) answer {
	e.t.Helper()
	a := e.post(client.PathRegister, form("username", user, "password", pass))
	want(e.t, "register "+user, a, 200, def.ResCode_RC_OK)
	return a
}

func (e *env) guest(device string) answer {
	e.t.Helper()
	a := e.post(client.PathAuth, form("device_id", testDevice(device)))
	want(e.t, "guest "+device, a, 200, def.ResCode_RC_OK)
	return a
}

// requestCode asks for a code for phone and returns it as the webhook got it.
func (e *env) requestCode(phone string) string {
	e.t.Helper()
	e.mu.Lock()
	n := len(e.codes[phone])
	e.mu.Unlock()
	want(e.t, "verification "+phone, e.post(client.PathVerification, form("phone", phone)), 200, def.ResCode_RC_OK)
	deadline := time.After(10 * time.Second)
	for {
		e.mu.Lock()
		if len(e.codes[phone]) > n {
			c := e.codes[phone][n]
			e.mu.Unlock()
			return c
		}
		e.mu.Unlock()
		select {
		case <-e.got:
		case <-deadline:
			e.t.Fatalf("no code for %s reached the webhook", phone)
		}
	}
}

// event is one stored account event.
type event struct {
	typ, cmd string
	msg      proto.Message
	data     []byte
}

// events reads every event of account id from the EVENTS stream.
func (e *env) events(id int64) []event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := e.nats.JS.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.AccountSubject(id)}})
	if err != nil {
		e.t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(100)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []event
	for m := range batch.Messages() {
		typ := m.Headers().Get(bus.HdrEvent)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
		var pm proto.Message
		if err == nil {
			pm = mt.New().Interface()
			if err := proto.Unmarshal(m.Data(), pm); err != nil {
				e.t.Fatalf("event %s: %v", typ, err)
			}
		}
		out = append(out, event{typ: typ, cmd: m.Headers().Get(bus.HdrCmd), msg: pm, data: m.Data()})
	}
	return out
}

// eventTypes lists the Hive-Event headers of account id's events.
func (e *env) eventTypes(id int64) []string {
	var s []string
	for _, ev := range e.events(id) {
		s = append(s, ev.typ)
	}
	return s
}

// testLogger logs through t, so server logs show only for failing tests.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// testDevice turns a short name into a device id long enough to be one
// (22+ URL-safe characters): the same name gives the same device.
func testDevice(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "dev-" + hex.EncodeToString(sum[:16])
}
