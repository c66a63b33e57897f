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

	"go.etcd.io/etcd/api/v3/mvccpb"
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

// Etcd is the registry of a cluster, kept in etcd. Gates() and Key() are
// served from local copies of /hive/gates/ and /hive/keys/ maintained by
// prefix watches (resynced with a full read after a watch error or
// compaction), so they are cheap, never read etcd per call, and may lag by a
// moment.
type Etcd struct {
	cli    *clientv3.Client
	ttl    time.Duration
	log    *slog.Logger
	ctx    context.Context // cancelled by Close: stops watch, keep-alives, campaigns
	cancel context.CancelFunc
	wg     sync.WaitGroup
	now    func() time.Time

	mu    sync.RWMutex
	gates map[string]Gate
	keys  map[string]publishedKey
}

// NewEtcd returns a registry on cli whose gate leases live ttl (DefaultTTL
// if not positive; etcd rounds up to whole seconds). It reads the live gates
// and the published keys once before returning (an error if etcd does not
// answer within a few seconds) and then follows them with watches. Close
// stops the watches and the keep-alives but leaves cli open.
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
	e := &Etcd{cli: cli, ttl: ttl, log: logger.With("component", "registry"), ctx: ctx, cancel: cancel, now: time.Now,
		gates: map[string]Gate{}, keys: map[string]publishedKey{}}
	for _, f := range []*follower{e.gateFollower(), e.keyFollower()} {
		rev, err := e.resync(f)
		if err != nil {
			cancel()
			return nil, err
		}
		e.wg.Add(1)
		go e.watch(f, rev)
	}
	return e, nil
}

// ttlSeconds is the lease TTL in whole seconds, at least 1.
func (e *Etcd) ttlSeconds() int64 {
	s := int64((e.ttl + time.Second - 1) / time.Second)
	return max(s, 1)
}

// follower keeps one local copy of a prefix: reset replaces it with a full
// read, apply takes one watch event. Both run under e.mu.
type follower struct {
	prefix string
	reset  func(kvs []*mvccpb.KeyValue)
	apply  func(ev *clientv3.Event)
}

func (e *Etcd) gateFollower() *follower {
	return &follower{
		prefix: GatesPrefix,
		reset: func(kvs []*mvccpb.KeyValue) {
			m := make(map[string]Gate, len(kvs))
			for _, kv := range kvs {
				if g, ok := e.decodeGate(kv.Key, kv.Value); ok {
					m[g.ID] = g
				}
			}
			e.gates = m
		},
		apply: func(ev *clientv3.Event) {
			id := strings.TrimPrefix(string(ev.Kv.Key), GatesPrefix)
			if ev.Type == clientv3.EventTypeDelete {
				delete(e.gates, id)
			} else if g, ok := e.decodeGate(ev.Kv.Key, ev.Kv.Value); ok {
				e.gates[id] = g
			}
		},
	}
}

func (e *Etcd) keyFollower() *follower {
	return &follower{
		prefix: KeysPrefix,
		reset: func(kvs []*mvccpb.KeyValue) {
			m := make(map[string]publishedKey, len(kvs))
			for _, kv := range kvs {
				kid := strings.TrimPrefix(string(kv.Key), KeysPrefix)
				if k, ok := e.decodeKey(kid, kv.Value); ok {
					m[kid] = k
				}
			}
			e.keys = m
		},
		apply: func(ev *clientv3.Event) {
			kid := strings.TrimPrefix(string(ev.Kv.Key), KeysPrefix)
			if ev.Type == clientv3.EventTypeDelete {
				delete(e.keys, kid)
			} else if k, ok := e.decodeKey(kid, ev.Kv.Value); ok {
				e.keys[kid] = k
			} else {
				delete(e.keys, kid)
			}
		},
	}
}

// decodeKey reads a published key's expiry; a malformed entry is logged
// and left out (nobody may trust it).
func (e *Etcd) decodeKey(kid string, val []byte) (publishedKey, bool) {
	k, err := parsePublishedKey(val)
	if err != nil {
		e.log.Warn("skipping malformed token key", "kid", kid, "err", err)
		return publishedKey{}, false
	}
	return k, true
}

// resync replaces f's local copy with a full read of its prefix and
// returns the revision it reflects.
func (e *Etcd) resync(f *follower) (int64, error) {
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	resp, err := e.cli.Get(ctx, f.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("registry: read %s: %w", f.prefix, err)
	}
	e.mu.Lock()
	f.reset(resp.Kvs)
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

// watch follows f's prefix from rev+1, applying puts and deletes to the
// local copy. When the watch fails (compaction, etcd restart, cancellation
// by the server) it rereads the prefix and watches again from there.
func (e *Etcd) watch(f *follower, rev int64) {
	defer e.wg.Done()
	backoff := 100 * time.Millisecond
	for e.ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(e.ctx))
		wch := e.cli.Watch(wctx, f.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wr := range wch {
			if err := wr.Err(); err != nil {
				e.log.Warn("watch failed, resyncing", "prefix", f.prefix, "err", err)
				break
			}
			backoff = 100 * time.Millisecond
			e.mu.Lock()
			for _, ev := range wr.Events {
				f.apply(ev)
			}
			e.mu.Unlock()
			rev = wr.Header.Revision
		}
		cancel()
		for e.ctx.Err() == nil {
			r, err := e.resync(f)
			if err == nil {
				rev = r
				break
			}
			e.log.Warn("resync failed", "prefix", f.prefix, "err", err)
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

// PublishKey implements Registry: /hive/keys/<kid> = pem. A key without an
// Expires header has no lease (it stays until deleted); one with an expiry
// is put on a lease that ends then, so etcd deletes it on its own, and one
// already expired is deleted. Keys outlive the uc that published them, so
// tokens it signed stay valid.
func (e *Etcd) PublishKey(ctx context.Context, kid string, pem []byte) error {
	if kid == "" || strings.Contains(kid, "/") {
		return fmt.Errorf("registry: bad key id %q", kid)
	}
	k, err := parsePublishedKey(pem)
	if err != nil {
		return fmt.Errorf("registry: publish key %s: %w", kid, err)
	}
	var opts []clientv3.OpOption
	if !k.expires.IsZero() {
		left := k.expires.Sub(e.now())
		if left <= 0 {
			if _, err := e.cli.Delete(ctx, KeysPrefix+kid); err != nil {
				return fmt.Errorf("registry: delete expired key %s: %w", kid, err)
			}
			return nil
		}
		gr, err := e.cli.Grant(ctx, int64((left+time.Second-1)/time.Second))
		if err != nil {
			return fmt.Errorf("registry: publish key %s: lease: %w", kid, err)
		}
		opts = append(opts, clientv3.WithLease(gr.ID))
	}
	if _, err := e.cli.Put(ctx, KeysPrefix+kid, string(pem), opts...); err != nil {
		return fmt.Errorf("registry: publish key %s: %w", kid, err)
	}
	return nil
}

// Key implements Registry from the watched copy: no etcd read.
func (e *Etcd) Key(_ context.Context, kid string) ([]byte, bool, error) {
	e.mu.RLock()
	k, ok := e.keys[kid]
	e.mu.RUnlock()
	if !ok || k.expired(e.now()) {
		return nil, false, nil
	}
	return k.pem, true, nil
}

// Keys implements Registry from the watched copy.
func (e *Etcd) Keys() map[string][]byte {
	now := e.now()
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make(map[string][]byte, len(e.keys))
	for kid, k := range e.keys {
		if !k.expired(now) {
			out[kid] = k.pem
		}
	}
	return out
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
