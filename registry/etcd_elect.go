package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// A leader steps down on its own clock, before etcd can elect another.
//
// etcd expires a session's lease TTL after the last renewal it received,
// and only then can the next candidate win. A renewal this process sent at
// time S and etcd acknowledged reached etcd after S, so etcd cannot expire
// the lease before S+TTL. The leader therefore ends its leadership at
// S+TTL-TTL/windDown of its latest acknowledged renewal: before any other
// process can be elected, with a quarter of the TTL left for its jobs to
// stop. This holds whether etcd is paused, partitioned away or slow, and
// needs no agreement between the machines' clocks, only that they run at
// about the same rate. clientv3's own keep-alive (what Session.Done
// follows) counts the TTL from when an answer arrived, later than etcd
// counts it, so it cannot be trusted for this.
const (
	windDown = 4 // the leader stops TTL/windDown before etcd's earliest expiry
	renewals = 3 // renewals per TTL while etcd answers
)

var (
	errStepDown    = errors.New("registry: election session not renewed in time; stepped down before etcd could expire it")
	errSessionGone = errors.New("registry: election session lease is gone")
	errClosed      = errors.New("registry: closed")
)

// Campaign implements Registry with an etcd election under
// /hive/elect/<job>/ on its own session (a lease of the SessionTTL). It
// returns once this process leads. Leadership ends, and lost is closed, when
// ctx is cancelled or the registry closed (the session is then revoked, so
// the next candidate wins at once), or when the session's renewals stop
// being acknowledged: then lost is closed at the latest renewal's send time
// plus three quarters of the TTL, before etcd can elect anyone else (see
// windDown). A campaign still waiting when that happens returns the error.
func (e *Etcd) Campaign(ctx context.Context, job string) (<-chan struct{}, error) {
	if job == "" || strings.Contains(job, "/") {
		return nil, fmt.Errorf("registry: bad job name %q", job)
	}
	term, end := context.WithCancelCause(ctx)
	unhook := context.AfterFunc(e.ctx, func() { end(errClosed) })
	// A grant answered later than the step-down time would be stepped down
	// from at once: give up on it (its lease, if any, expires unused).
	sent := time.Now()
	gctx, gcancel := context.WithTimeout(term, e.sessionTTL-e.sessionTTL/windDown)
	gr, err := e.cli.Grant(gctx, seconds(e.sessionTTL))
	gcancel()
	if err != nil {
		unhook()
		end(nil)
		return nil, fmt.Errorf("registry: campaign %s: session: %w", job, err)
	}
	ttl := time.Duration(gr.TTL) * time.Second
	stepDown := time.AfterFunc(stepDownIn(sent, ttl), func() { end(errStepDown) })
	sess, err := concurrency.NewSession(e.cli, concurrency.WithLease(gr.ID), concurrency.WithTTL(int(gr.TTL)))
	if err != nil {
		stepDown.Stop()
		unhook()
		end(nil)
		return nil, fmt.Errorf("registry: campaign %s: session: %w", job, err)
	}
	lost, elected := make(chan struct{}), make(chan struct{})
	e.wg.Add(2)
	go e.renew(term, gr.ID, ttl, stepDown, end)
	go func() {
		defer e.wg.Done()
		select {
		case <-term.Done():
		case <-sess.Done(): // etcd said the lease is gone
			end(errSessionGone)
		}
		stepDown.Stop()
		unhook()
		close(lost)
		select {
		case <-elected:
			if why := context.Cause(term); errors.Is(why, errStepDown) || errors.Is(why, errSessionGone) {
				e.log.Warn("leadership lost", "job", job, "why", why)
			}
		default:
		}
		sess.Close() // revokes the lease: the next candidate need not wait out the TTL
	}()
	host, _ := os.Hostname()
	if err := concurrency.NewElection(sess, ElectionPrefix+job).Campaign(term, fmt.Sprintf("%s/%d", host, os.Getpid())); err != nil {
		if why := context.Cause(term); ctx.Err() == nil && why != nil {
			err = why // ours: say why the wait ended
		}
		end(err)
		return nil, fmt.Errorf("registry: campaign %s: %w", job, err)
	}
	close(elected)
	return lost, nil
}

// stepDownIn is how long after now a leader whose renewal sent at sent was
// acknowledged with ttl may still act (see windDown).
func stepDownIn(sent time.Time, ttl time.Duration) time.Duration {
	return time.Until(sent.Add(ttl - ttl/windDown))
}

// renew keeps a session's lease alive with renewals of its own, each timed
// from when it was sent, and moves the step-down deadline after every one
// etcd acknowledges. It ends the term if etcd says the lease is gone.
func (e *Etcd) renew(ctx context.Context, id clientv3.LeaseID, ttl time.Duration, stepDown *time.Timer, end context.CancelCauseFunc) {
	defer e.wg.Done()
	every := ttl / renewals
	wait := every
	for pause(ctx, wait) {
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, every)
		resp, err := e.cli.KeepAliveOnce(rctx, id)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			stepDown.Reset(stepDownIn(sent, time.Duration(resp.TTL)*time.Second))
			wait = every
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			end(errSessionGone)
			return
		default: // etcd unreachable or slow: try again soon, the deadline runs
			wait = every / 4
		}
	}
}

// pause waits d; false if ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
