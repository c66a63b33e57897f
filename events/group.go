package events

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/qeetap/hive/bus"
)

// Group commit of atomic batches.
//
// On a single-replica file stream nats-server stages every atomic batch in a
// fresh, fsynced file store and commits a stream's batches one at a time:
// about 4 ms each here, whatever their size. One batch per command would cap
// a stream at a few hundred gifts per second. So the commands on disjoint
// aggregates that are waiting at the same moment go out together as one
// atomic batch. Each command keeps its guarantees: its events are still all
// or nothing (the whole batch is), every message still carries its Msg-Id
// and the first on each subject its expected last subject sequence, checked
// by the server as before. Commands never wait for company: a batch leaves
// as soon as a flight is free, with whatever is queued. Commands of this
// process on the same aggregate take turns (turns.go), so a batch never
// holds two that would refuse each other.
//
// When a batch of several commands is refused for a sequence or a duplicate,
// the server does not say which message: each command's subjects are checked
// against their last sequences, the stale ones get errStale (Exec reloads
// and decides again, and finds its own events if they were stored), the rest
// go out again once.

// errStale is a command whose expected last subject sequence is known to be
// behind the stream: a conflict, found without asking the server.
var errStale = errors.New("events: expected sequence is behind the stream")

// batchCmd is one command's messages waiting in a group.
type batchCmd struct {
	msgs     []*nats.Msg
	subjects []string // the distinct subjects it writes
	expect   []uint64 // expected last sequence of each subject
	done     chan batchResult
	taken    bool // in a batch on its way to the server (guarded by group.mu)
	retried  bool // went out again after a refused batch
}

// batchResult is the outcome of one command's messages: the stream sequence
// of its last message, or why they were not stored.
type batchResult struct {
	last uint64
	err  error
}

// group collects commands into atomic batches, at most flights batches in
// flight at once (each flight a goroutine that lives while work is queued).
type group struct {
	s       *Store
	maxMsgs int
	flights int

	mu      sync.Mutex
	queue   []*batchCmd
	running int
}

func newGroup(s *Store) *group {
	return &group{s: s, maxMsgs: s.opt.BatchMaxMsgs, flights: s.opt.BatchFlights}
}

// publish queues c and waits for its outcome. A ctx that ends while c is
// still queued takes it out (nothing was sent); once c is on its way the
// outcome is unseen and ctx's error is returned.
func (g *group) publish(ctx context.Context, c *batchCmd) (uint64, error) {
	c.done = make(chan batchResult, 1)
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if g.running < g.flights {
		g.running++
		go g.fly()
	}
	g.mu.Unlock()
	select {
	case r := <-c.done:
		return r.last, r.err
	case <-ctx.Done():
		g.mu.Lock()
		if i := slices.Index(g.queue, c); i >= 0 && !c.taken {
			g.queue = slices.Delete(g.queue, i, i+1)
		}
		g.mu.Unlock()
		return 0, ctx.Err()
	}
}

// fly sends batches while commands are queued that can go.
func (g *group) fly() {
	for {
		g.mu.Lock()
		batch := g.take()
		if len(batch) == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		last, err := g.send(batch)
		g.settle(batch, last, err)
	}
}

// take removes from the queue, in order, the commands that fit in one
// batch of maxMsgs messages (a single command larger than that goes alone).
// Queued commands never share an aggregate (Exec holds its aggregates'
// turns until its outcome), so they cannot refuse each other. Called with
// g.mu held.
func (g *group) take() []*batchCmd {
	n := 0
	k := 0
	for k < len(g.queue) && (k == 0 || n+len(g.queue[k].msgs) <= g.maxMsgs) {
		g.queue[k].taken = true
		n += len(g.queue[k].msgs)
		k++
	}
	batch := slices.Clone(g.queue[:k])
	g.queue = slices.Delete(g.queue, 0, k)
	return batch
}

// send publishes the messages of batch as one atomic batch and returns the
// sequence of its last message.
func (g *group) send(batch []*batchCmd) (uint64, error) {
	var msgs []*nats.Msg
	if len(batch) == 1 {
		msgs = batch[0].msgs
	} else {
		for _, c := range batch {
			msgs = append(msgs, c.msgs...)
		}
	}
	g.s.st.batches.Add(1)
	g.s.st.batchedCmds.Add(uint64(len(batch)))
	// The commands' own contexts may end while this is in flight; the batch
	// is bounded by the store's timeout instead, and ends when the NATS
	// connection drops: its ack would never come, and the flight would hold
	// back every batch behind it until the timeout.
	ctx, cancel := context.WithTimeout(bus.Link(g.s.js.Conn()), g.s.opt.BatchTimeout)
	defer cancel()
	ack, err := jetstreamext.PublishMsgBatch(ctx, g.s.js, msgs, jetstreamext.BatchFlowControl{AckFirst: false})
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// settle answers every command of a batch sent with outcome (last, err).
func (g *group) settle(batch []*batchCmd, last uint64, err error) {
	if err == nil {
		// Commands answered in order, each ending where the next begins.
		end := last
		for i := len(batch) - 1; i >= 0; i-- {
			batch[i].done <- batchResult{last: end}
			end -= uint64(len(batch[i].msgs))
		}
		return
	}
	if len(batch) == 1 || !(isConflict(err) || isDuplicateBatch(err)) {
		for _, c := range batch {
			c.done <- batchResult{err: err}
		}
		return
	}
	// Someone's expected sequence is behind (or someone's events are already
	// stored): find who, from the stream itself.
	// The refusal names no message, so it is no command's own outcome: a
	// "duplicate" passed on would tell a command that was not stored that
	// it was (its client answered OK for nothing). Those not resolved here
	// get errStale: Exec reloads, and finds its events or appends again.
	own := err
	if isDuplicateBatch(err) {
		own = errStale
	}
	var again []*batchCmd
	for _, c := range batch {
		stale, cerr := g.stale(c)
		switch {
		case cerr != nil || c.retried:
			c.done <- batchResult{err: own}
		case stale:
			c.done <- batchResult{err: errStale}
		default:
			c.retried = true
			again = append(again, c)
		}
	}
	if len(again) == 0 {
		return
	}
	// Back to the front of the queue: the calling flight takes them next.
	g.mu.Lock()
	for _, c := range again {
		c.taken = false
	}
	g.queue = append(again, g.queue...)
	g.mu.Unlock()
}

// stale reports whether one of c's subjects has moved past what c expects.
func (g *group) stale(c *batchCmd) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(c.subjects))*g.s.opt.BatchTimeout)
	defer cancel()
	for i, s := range c.subjects {
		seq, err := g.s.LeaderLastSeq(ctx, s)
		if err != nil {
			return false, err
		}
		if seq != c.expect[i] {
			return true, nil
		}
	}
	return false, nil
}
