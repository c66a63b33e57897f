package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Shutdown drains the gate (DESIGN §6): it leaves the registry, stops
// accepting, answers what is in flight, pushes msg.Kick.Res{RC_GATE_DRAINING}
// to every session and closes them. Sessions still open after
// --gate-drain-timeout (or when ctx ends) are closed anyway. The NATS
// connection is left open (it belongs to the caller).
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() || !s.stopped.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	close(s.stopReport)
	var errs []error
	if s.lease != nil {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		if err := s.lease.Revoke(rctx); err != nil {
			errs = append(errs, fmt.Errorf("gate: leave registry: %w", err))
		}
		rcancel()
	}
	s.startDraining()
	<-s.acceptDone
	n := s.Conns()
	s.sessions.Range(func(_, v any) bool {
		v.(*session).drain()
		return true
	})
	done := make(chan struct{})
	go func() { s.sessWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("drain timeout: closing remaining sessions", "open", s.Conns())
		s.sessions.Range(func(_, v any) bool {
			v.(*session).close(closeDrain)
			return true
		})
		<-done
		errs = append(errs, fmt.Errorf("gate: drain: %w", ctx.Err()))
	}
	s.shutdownNATS()
	s.log.Info("gate stopped", "drained_sessions", n)
	return errors.Join(errs...)
}

// startDraining refuses new connections from now on and closes the
// listeners. Every session admitted before is in s.sessions when it returns.
func (s *Server) startDraining() {
	s.admitMu.Lock()
	s.draining.Store(true)
	s.admitMu.Unlock()
	s.ln.Close()
	s.closeWS()
}

// shutdownNow undoes a half-done Start.
func (s *Server) shutdownNow() {
	s.stopped.Store(true)
	s.startDraining()
	<-s.acceptDone
	s.sessions.Range(func(_, v any) bool {
		v.(*session).close(closeDrain)
		return true
	})
	s.sessWG.Wait()
	s.shutdownNATS()
}

// shutdownNATS drops the gate's subscriptions and flushes what it published
// (disconnect logouts).
func (s *Server) shutdownNATS() {
	if s.gateSub != nil {
		_ = s.gateSub.Unsubscribe()
	}
	close(s.stop)
	s.wg.Wait()
	if err := s.nc.FlushTimeout(2 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log.Warn("nats flush at shutdown failed", "err", err)
	}
}
