package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
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

// DefaultGateTTL is the lease TTL of a gate's entry: a killed gate
// disappears from Gates at most this long after its last keep-alive (sent
// every third of it), so uc stops handing out a dead gate within it.
const DefaultGateTTL = 3 * time.Second

// DefaultSessionTTL is the lease TTL of a leader's election session (see
// Campaign).
const DefaultSessionTTL = 10 * time.Second

// opTimeout bounds each background etcd call (resync, re-grant) so a hung
// etcd cannot wedge a loop.
const opTimeout = 5 * time.Second

// Etcd is the registry of a cluster, kept in etcd. Gates() and Key() are
// served from local copies of /hive/gates/ and /hive/keys/ maintained by
// prefix watches (resynced with a full read after a watch error or
// compaction), so they are cheap, never read etcd per call, and may lag by a
// moment.
type Etcd struct {
	cli        *clientv3.Client
	ttl        time.Duration // of gate leases
	sessionTTL time.Duration // of election sessions
	log        *slog.Logger
	ctx        context.Context // cancelled by Close: stops watch, keep-alives, campaigns
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	now        func() time.Time

	mu    sync.RWMutex
	gates map[string]Gate
	keys  map[string]publishedKey
}

// EtcdOption adjusts an Etcd registry at NewEtcd.
type EtcdOption func(*Etcd)

// SessionTTL sets the lease TTL of election sessions (DefaultSessionTTL if
// not positive): how long a leader may go unheard by etcd before another
// process can be elected. The leader itself steps down earlier (Campaign).
func SessionTTL(d time.Duration) EtcdOption {
	return func(e *Etcd) {
		if d > 0 {
			e.sessionTTL = d
		}
	}
}

// NewEtcd returns a registry on cli whose gate leases live ttl
// (DefaultGateTTL if not positive). etcd rounds TTLs up to whole seconds
// and to its least lease (2s with its default timing). It reads the live
// gates and the published keys once before returning (an error if etcd does
// not answer within a few seconds) and then follows them with watches.
// Close stops the watches and the keep-alives but leaves cli open.
func NewEtcd(cli *clientv3.Client, ttl time.Duration, logger *slog.Logger, opts ...EtcdOption) (*Etcd, error) {
	if cli == nil {
		return nil, errors.New("registry: nil etcd client")
	}
	if ttl <= 0 {
		ttl = DefaultGateTTL
	}
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Etcd{cli: cli, ttl: ttl, sessionTTL: DefaultSessionTTL, log: logger.With("component", "registry"), ctx: ctx, cancel: cancel, now: time.Now,
		gates: map[string]Gate{}, keys: map[string]publishedKey{}}
	for _, o := range opts {
		o(e)
	}
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

// seconds is d in whole seconds, rounded up, at least 1: etcd's unit of TTL.
func seconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
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

// Close stops the watch, the keep-alives and the campaigns. Gate leases are
// not revoked (call Lease.Revoke for that): their keys expire after the TTL,
// as they would if the process died. The etcd client stays open.
func (e *Etcd) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}
