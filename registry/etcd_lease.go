package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdLease keeps one gate entry alive.
type etcdLease struct {
	e    *Etcd
	key  string
	stop chan struct{} // closed by Revoke
	done chan struct{} // closed when keepAlive returns
	once sync.Once

	mu sync.Mutex
	g  Gate
	id clientv3.LeaseID
}

// put writes the entry on lease (a new lease when id is 0) and returns the
// lease id.
func (l *etcdLease) put(ctx context.Context, id clientv3.LeaseID) (clientv3.LeaseID, error) {
	if id == 0 {
		gr, err := l.e.cli.Grant(ctx, seconds(l.e.ttl))
		if err != nil {
			return 0, fmt.Errorf("registry: grant lease: %w", err)
		}
		id = gr.ID
	}
	l.mu.Lock()
	val, err := json.Marshal(l.g)
	l.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("registry: encode gate: %w", err)
	}
	if _, err := l.e.cli.Put(ctx, l.key, string(val), clientv3.WithLease(id)); err != nil {
		return 0, fmt.Errorf("registry: put %s: %w", l.key, err)
	}
	return id, nil
}

// keepAlive refreshes the lease until Revoke or Close; when the lease is
// lost it puts the entry again on a new one.
func (l *etcdLease) keepAlive() {
	defer l.e.wg.Done()
	defer close(l.done)
	ctx, cancel := context.WithCancel(l.e.ctx)
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		l.mu.Lock()
		id := l.id
		l.mu.Unlock()
		if id != 0 {
			ch, err := l.e.cli.KeepAlive(ctx, id)
			if err == nil {
				for range ch {
					backoff = 100 * time.Millisecond
				}
			}
			if ctx.Err() != nil {
				return
			}
			l.e.log.Warn("gate lease lost, registering again", "key", l.key, "err", err)
			l.mu.Lock()
			l.id = 0
			l.mu.Unlock()
		}
		pctx, pcancel := context.WithTimeout(ctx, opTimeout)
		nid, err := l.put(pctx, 0)
		pcancel()
		if err == nil {
			l.mu.Lock()
			l.id = nid
			l.mu.Unlock()
			continue
		}
		l.e.log.Warn("gate re-register failed", "key", l.key, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Update implements Lease: it republishes g (its ID is kept) on the current lease.
func (l *etcdLease) Update(ctx context.Context, g Gate) error {
	l.mu.Lock()
	g.ID = l.g.ID
	l.g = g
	id := l.id
	l.mu.Unlock()
	select {
	case <-l.stop:
		return errors.New("registry: lease revoked")
	default:
	}
	if id == 0 {
		return nil // being re-registered; the new put carries g
	}
	_, err := l.put(ctx, id)
	return err
}

// Revoke implements Lease: it stops the keep-alive and revokes the lease,
// which deletes the entry at once.
func (l *etcdLease) Revoke(ctx context.Context) error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	l.mu.Lock()
	id := l.id
	l.id = 0
	l.mu.Unlock()
	if id != 0 {
		if _, err := l.e.cli.Revoke(ctx, id); err != nil {
			// The key would expire on its own, but delete it now: drain must
			// take the gate out of rotation before it stops accepting.
			if _, derr := l.e.cli.Delete(ctx, l.key); derr != nil {
				return fmt.Errorf("registry: revoke %s: %w", l.key, err)
			}
		}
		return nil
	}
	if _, err := l.e.cli.Delete(ctx, l.key); err != nil {
		return fmt.Errorf("registry: delete %s: %w", l.key, err)
	}
	return nil
}
