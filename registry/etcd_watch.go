package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

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
				if g, ok := e.decodeGate(kv); ok {
					m[g.ID] = g
				}
			}
			e.gates = m
		},
		apply: func(ev *clientv3.Event) {
			id := strings.TrimPrefix(string(ev.Kv.Key), GatesPrefix)
			if ev.Type == clientv3.EventTypeDelete {
				delete(e.gates, id)
			} else if g, ok := e.decodeGate(ev.Kv); ok {
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
func (e *Etcd) decodeGate(kv *mvccpb.KeyValue) (Gate, bool) {
	var g Gate
	if err := json.Unmarshal(kv.Value, &g); err != nil {
		e.log.Warn("skipping malformed gate entry", "key", string(kv.Key), "err", err)
		return Gate{}, false
	}
	if g.ID == "" {
		g.ID = strings.TrimPrefix(string(kv.Key), GatesPrefix)
	}
	g.Rev = kv.ModRevision
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
