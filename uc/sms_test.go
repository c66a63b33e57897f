package uc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qeetap/hive/client"
)

func TestWebhookSender(t *testing.T) {
	type got struct{ Phone, Code, Text string }
	t.Run("delivers", func(t *testing.T) {
		ch := make(chan got, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var g got
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s with %q", r.Method, r.Header.Get("Content-Type"))
			}
			json.NewDecoder(r.Body).Decode(&g)
			ch <- g
		}))
		defer srv.Close()
		w := &WebhookSender{URL: srv.URL, Logger: testLogger(t)}
		if err := w.Send(context.Background(), "+8613800138000", "123456", "text here"); err != nil {
			t.Fatal(err)
		}
		if g := <-ch; g != (got{"+8613800138000", "123456", "text here"}) {
			t.Fatalf("webhook got %+v", g)
		}
	})
	t.Run("fails then succeeds", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) <= 2 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		w := &WebhookSender{URL: srv.URL, Retries: 3, Backoff: 10 * time.Millisecond, Logger: testLogger(t)}
		if err := w.Send(context.Background(), "+1", "1", "t"); err != nil {
			t.Fatalf("Send after two 503s: %v", err)
		}
		if calls.Load() != 3 {
			t.Fatalf("%d calls, want 3", calls.Load())
		}
	})
	t.Run("gives up after retries", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			http.Error(w, "down", http.StatusInternalServerError)
		}))
		defer srv.Close()
		w := &WebhookSender{URL: srv.URL, Retries: 2, Backoff: time.Millisecond, Logger: testLogger(t)}
		if err := w.Send(context.Background(), "+1", "1", "t"); err == nil {
			t.Fatal("Send to a failing server succeeded")
		}
		if calls.Load() != 3 {
			t.Fatalf("%d calls, want 1 + 2 retries", calls.Load())
		}
	})
	t.Run("client error is final", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			http.Error(w, "bad", http.StatusBadRequest)
		}))
		defer srv.Close()
		w := &WebhookSender{URL: srv.URL, Retries: 3, Backoff: time.Millisecond, Logger: testLogger(t)}
		if err := w.Send(context.Background(), "+1", "1", "t"); err == nil || calls.Load() != 1 {
			t.Fatalf("err %v after %d calls; want an error after 1", err, calls.Load())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		w := &WebhookSender{URL: srv.URL, Timeout: 50 * time.Millisecond, Retries: 1, Backoff: time.Millisecond, Logger: testLogger(t)}
		if err := w.Send(context.Background(), "+1", "1", "t"); err == nil {
			t.Fatal("Send to a hanging server succeeded")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		w := &WebhookSender{URL: url, Retries: 1, Backoff: time.Millisecond, Logger: testLogger(t)}
		if err := w.Send(context.Background(), "+1", "1", "t"); err == nil {
			t.Fatal("Send to a closed port succeeded")
		}
	})
}

// TestFailingWebhookDoesNotBreakRequests: the code request is answered
// even when the SMS gateway is down; the failure is only logged.
func TestFailingWebhookDoesNotBreakRequests(t *testing.T) {
	var calls atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer down.Close()
	e := newEnv(t, func(c *Config) { c.SMSWebhook = down.URL; c.SMSRetries = 1 })
	want(t, "verification", e.post(client.PathVerification, form("phone", "+8613800000009")), 200, 0)
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if calls.Load() != 2 {
		t.Fatalf("webhook called %d times, want 2 (1 + 1 retry)", calls.Load())
	}
}

func TestSMSText(t *testing.T) {
	if got := smsText("042042", 5*time.Minute); got != "Your Hive verification code is 042042. It expires in 5 minutes." {
		t.Fatal(got)
	}
	if maskPhone("+8613800138000") != "+86138****8000" || maskPhone("+12345678") != "+****5678" {
		t.Fatal(maskPhone("+8613800138000"))
	}
}
