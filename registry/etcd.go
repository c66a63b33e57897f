package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Key layout in etcd.
const (
	// GatesPrefix holds one key per live gate: /hive/gates/<id> = Gate JSON,
	// attached to that gate's lease.
	GatesPrefix = "/hive/gates/"
	// KeysPrefix holds the token public keys: /hive/keys/<kid> = PEM.
	KeysPrefix = "/hive/keys/"
	// ElectionPrefix holds one election per singleton job: /hive/elect/<job>/.
	ElectionPrefix = "/hive/elect/"
)

// DefaultTTL is the lease TTL of a gate's entry: a killed gate disappears
// from Gates at most this long after its last keep-alive.
const DefaultTTL = 10 * time.Second

// opTimeout bounds each background etcd call (resync, re-grant) so a hung
// etcd cannot wedge a loop.
const opTimeout = 5 * time.Second

// Etcd is the registry of a cluster, kept in etcd. Gates() is served from a
// local copy of /hive/gates/ maintained by a prefix watch (resynced with a
// full read after a watch error or compaction), so it is cheap and may lag
// by a moment.
type Etcd struct {
	cli    *clientv3.Client
	ttl    time.Duration
	log    *slog.Logger
	ctx    context.Context // cancelled by Close: stops watch, keep-alives, campaigns
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.RWMutex
	gates map[string]Gate
}

// NewEtcd returns a registry on cli whose gate leases live ttl (DefaultTTL
// if not positive; etcd rounds up to whole seconds). It reads the live gates
// once before returning (an error if etcd does not answer within a few
// seconds) and then follows them with a watch. Close stops the watch and
// the keep-alives but leaves cli open.
func NewEtcd(cli *clientv3.Client, ttl time.Duration, logger *slog.Logger) (*Etcd, error) {
	if cli == nil {
		return nil, errors.New("registry: nil etcd client")
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Etcd{cli: cli, ttl: ttl, log: logger.With("component", "registry"), ctx: ctx, cancel: cancel, gates: map[string]Gate{}}
	rev, err := e.resync()
	if err != nil {
		cancel()
		return nil, err
	}
	e.wg.Add(1)
	go e.watch(rev)
	return e, nil
}

// ttlSeconds is the lease TTL in whole seconds, at least 1.
func (e *Etcd) ttlSeconds() int64 {
	s := int64((e.ttl + time.Second - 1) / time.Second)
	return max(s, 1)
}

// resync replaces the local gate map with a full read of the prefix and
// returns the revision it reflects.
func (e *Etcd) resync() (int64, error) {
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	resp, err := e.cli.Get(ctx, GatesPrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("registry: read %s: %w", GatesPrefix, err)
	}
	m := make(map[string]Gate, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if g, ok := e.decodeGate(kv.Key, kv.Value); ok {
			m[g.ID] = g
		}
	}
	e.mu.Lock()
	e.gates = m
	e.mu.Unlock()
	return resp.Header.Revision, nil
}

// decodeGate parses one gate entry; a malformed one is logged and skipped
// (it cannot be picked, but it must not hide the others).
func (e *Etcd) decodeGate(key, val []byte) (Gate, bool) {
	var g Gate
	if err := json.Unmarshal(val, &g); err != nil {
		e.log.Warn("skipping malformed gate entry", "key", string(key), "err", err)
		return Gate{}, false
	}
	if g.ID == "" {
		g.ID = strings.TrimPrefix(string(key), GatesPrefix)
	}
	return g, true
}

// watch follows the gate prefix from rev+1, applying puts and deletes to the
// local map. When the watch fails (compaction, etcd restart, cancellation by
// the server) it rereads the prefix and watches again from there.
func (e *Etcd) watch(rev int64) {
	defer e.wg.Done()
	backoff := 100 * time.Millisecond
	for e.ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(e.ctx))
		wch := e.cli.Watch(wctx, GatesPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wr := range wch {
			if err := wr.Err(); err != nil {
				e.log.Warn("gate watch failed, resyncing", "err", err)
				break
			}
			backoff = 100 * time.Millisecond
			e.mu.Lock()
			for _, ev := range wr.Events {
				id := strings.TrimPrefix(string(ev.Kv.Key), GatesPrefix)
				if ev.Type == clientv3.EventTypeDelete {
					delete(e.gates, id)
				} else if g, ok := e.decodeGate(ev.Kv.Key, ev.Kv.Value); ok {
					e.gates[id] = g
				}
			}
			e.mu.Unlock()
			rev = wr.Header.Revision
		}
		cancel()
		for e.ctx.Err() == nil {
			r, err := e.resync()
			if err == nil {
				rev = r
				break
			}
			e.log.Warn("gate resync failed", "err", err)
			select {
			case <-e.ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// Gates implements Registry: the live gates sorted by id.
func (e *Etcd) Gates() []Gate {
	e.mu.RLock()
	out := make([]Gate, 0, len(e.gates))
	for _, g := range e.gates {
		out = append(out, g)
	}
	e.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Register implements Registry: it puts g at /hive/gates/<g.ID> on a fresh
// lease and keeps the lease alive in the background. If the lease is lost
// (etcd unreachable for longer than the TTL) the entry is put again on a new
// lease once etcd answers, so a gate reappears after an etcd restart.
func (e *Etcd) Register(ctx context.Context, g Gate) (Lease, error) {
	if g.ID == "" || strings.ContainsAny(g.ID, "/") {
		return nil, fmt.Errorf("registry: bad gate id %q", g.ID)
	}
	l := &etcdLease{e: e, key: GatesPrefix + g.ID, g: g, stop: make(chan struct{}), done: make(chan struct{})}
	id, err := l.put(ctx, 0)
	if err != nil {
		return nil, err
	}
	l.id = id
	e.wg.Add(1)
	go l.keepAlive()
	return l, nil
}

// PublishKey implements Registry: /hive/keys/<kid> = pem, without a lease
// (keys outlive the uc that published them, so tokens it signed stay valid).
func (e *Etcd) PublishKey(ctx context.Context, kid string, pem []byte) error {
	if kid == "" || strings.Contains(kid, "/") {
		return fmt.Errorf("registry: bad key id %q", kid)
	}
	if _, err := e.cli.Put(ctx, KeysPrefix+kid, string(pem)); err != nil {
		return fmt.Errorf("registry: publish key %s: %w", kid, err)
	}
	return nil
}

// Key implements Registry.
func (e *Etcd) Key(ctx context.Context, kid string) ([]byte, bool, error) {
	if kid == "" || strings.Contains(kid, "/") {
		return nil, false, nil
	}
	resp, err := e.cli.Get(ctx, KeysPrefix+kid)
	if err != nil {
		return nil, false, fmt.Errorf("registry: read key %s: %w", kid, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, false, nil
	}
	return resp.Kvs[0].Value, true, nil
}

// Campaign implements Registry with an etcd election under
// /hive/elect/<job>/ on its own session (lease of the registry's TTL). It
// returns once this process leads; leadership ends when ctx is cancelled
// (the session is closed, which resigns) or when the process dies (the
// session's lease expires). If etcd is lost for longer than the TTL the
// session expires and leadership passes on; that is logged.
func (e *Etcd) Campaign(ctx context.Context, job string) error {
	if job == "" || strings.Contains(job, "/") {
		return fmt.Errorf("registry: bad job name %q", job)
	}
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(int(e.ttlSeconds())))
	if err != nil {
		return fmt.Errorf("registry: campaign %s: session: %w", job, err)
	}
	el := concurrency.NewElection(sess, ElectionPrefix+job)
	host, _ := os.Hostname()
	if err := el.Campaign(ctx, fmt.Sprintf("%s/%d", host, os.Getpid())); err != nil {
		sess.Close()
		return fmt.Errorf("registry: campaign %s: %w", job, err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		select {
		case <-ctx.Done():
		case <-e.ctx.Done():
		case <-sess.Done():
			e.log.Warn("lost leadership: election session expired", "job", job)
		}
		sess.Close() // revokes the session lease: the next candidate wins at once
	}()
	return nil
}

// Close stops the watch, the keep-alives and the campaigns. Gate leases are
// not revoked (call Lease.Revoke for that): their keys expire after the TTL,
// as they would if the process died. The etcd client stays open.
func (e *Etcd) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}

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
		gr, err := l.e.cli.Grant(ctx, l.e.ttlSeconds())
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
