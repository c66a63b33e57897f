package obs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return res.StatusCode, string(b)
}

func TestServeEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "hive_test_requests_total", Help: "test counter"})
	reg.MustRegister(requests)
	requests.Add(3)

	var notReady atomic.Pointer[error]
	boom := errors.New("nats not connected")
	notReady.Store(&boom)
	s, err := Serve("127.0.0.1:0", reg, func() error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr()

	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: status %d", code)
	}
	for _, want := range []string{"hive_test_requests_total 3", "go_goroutines", "process_"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}

	code, body = get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "nats not connected") {
		t.Errorf("/readyz while not ready = %d %q, want 503 with the error", code, body)
	}
	notReady.Store(nil)
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d %q, want 200", code, body)
	}

	if code, _ := get(t, base+"/nosuch"); code != 404 {
		t.Errorf("/nosuch = %d, want 404", code)
	}
}

func TestServeNilReadyIsReady(t *testing.T) {
	s, err := Serve("127.0.0.1:0", prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if code, _ := get(t, "http://"+s.Addr()+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d, want 200", code)
	}
}

func TestShutdownStopsServing(t *testing.T) {
	s, err := Serve("127.0.0.1:0", prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	if res, err := c.Get("http://" + addr + "/healthz"); err == nil {
		res.Body.Close()
		t.Fatal("server still answers after Shutdown")
	}
}

func TestServeErrors(t *testing.T) {
	if _, err := Serve("127.0.0.1:0", nil, nil); err == nil {
		t.Error("nil registry accepted")
	}
	if _, err := Serve("127.0.0.1:notaport", prometheus.NewRegistry(), nil); err == nil {
		t.Error("bad address accepted")
	}
	// A port already taken is reported, not ignored.
	s, err := Serve("127.0.0.1:0", prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if _, err := Serve(s.Addr(), prometheus.NewRegistry(), nil); err == nil || !strings.Contains(err.Error(), s.Addr()) {
		t.Errorf("taken port: err = %v, want one naming %s", err, s.Addr())
	}
}
