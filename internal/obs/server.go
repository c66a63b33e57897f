// Package obs is what every long-running hive process exposes for operators:
// Prometheus metrics, liveness and readiness over HTTP (--metrics-listen),
// and its log/slog logger (--log-format, --log-level).
package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves /metrics, /healthz and /readyz on one address.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves:
//   - /metrics: the metrics of reg in the Prometheus text format, with the Go
//     runtime and process collectors added to reg (so reg must not already
//     hold them);
//   - /healthz: 200 "ok" while the process is alive (the HTTP server answering
//     is the proof);
//   - /readyz: 200 "ready" when ready() returns nil, else 503 with the error
//     text, so a load balancer or compose health check waits for NATS etc.
//
// ready may be nil (always ready). The caller stops it with Shutdown.
func Serve(addr string, reg *prometheus.Registry, ready func() error) (*Server, error) {
	if reg == nil {
		return nil, errors.New("obs: nil prometheus registry")
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("obs: go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("obs: process collector: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("obs: metrics listen %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	s := &Server{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			// Scrapes are small; a stuck client must not hold a goroutine forever.
			ReadTimeout:  10 * time.Second,
			WriteTimeout: 30 * time.Second,
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("metrics server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (the real port when addr had port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// and waits for the serve loop to return.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	select {
	case <-s.done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}
