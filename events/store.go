package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
)

// Options tunes a Store. A zero field takes its default (DefaultOptions),
// except SnapshotEvery, whose zero means no durable snapshots.
type Options struct {
	// SnapshotBucket is the KV bucket of durable snapshots.
	SnapshotBucket string
	// SnapshotEvery writes a durable snapshot after this many events since the
	// last one; 0 or less writes none (and reads none: loads start from the
	// cache or the first event).
	SnapshotEvery int
	// CacheTTL bounds how long a snapshot stays in the cache.
	CacheTTL time.Duration
	// RecentCmds is how many recent command ids a snapshot remembers.
	RecentCmds int
	// MaxAttempts bounds decide+append attempts of one command (conflicts and
	// unseen outcomes).
	MaxAttempts int
	// TailBatch is the batch size of the direct gets that read a tail.
	TailBatch int
	// BatchFlights bounds the atomic batches this store has in flight at
	// once; commands waiting meanwhile share the next batch (group.go).
	BatchFlights int
	// BatchMaxMsgs bounds the messages of one shared batch (the server's
	// limit is 1,000 by default).
	BatchMaxMsgs int
	// BatchTimeout bounds the wait for a batch's commit.
	BatchTimeout time.Duration
	// Logger gets warnings about cache and snapshot failures; default slog.Default().
	Logger *slog.Logger
	// Reads, if set, is the connection the direct gets (loads, tails) go
	// through; nil uses the JetStream context's. nats-server serves a direct
	// get inline in the read loop of the connection that asked, so on the
	// one connection a slow one holds up every publish behind it (answers,
	// appends); a connection of their own keeps those flowing.
	Reads *nats.Conn
	// AfterAppend, if set, runs after a successful append and before the
	// snapshot writes; returning false skips them, as if the process died
	// right there. For tests of crash safety only.
	AfterAppend func(subjects []string) bool
}

// DefaultOptions returns the default of every setting: the one place that
// states them (game.DefaultConfig takes its store settings from here).
func DefaultOptions() Options {
	return Options{
		SnapshotBucket: bus.SnapshotsBucket,
		SnapshotEvery:  100,
		CacheTTL:       24 * time.Hour,
		RecentCmds:     64,
		MaxAttempts:    20,
		TailBatch:      256,
		// One flight: the server commits a stream's batches one at a time,
		// and one flight lets the most commands gather for the next (on R1,
		// BenchmarkGiftPairs ran 2.5x faster with 1 than with 2).
		BatchFlights: 1,
		BatchMaxMsgs: 256,
		BatchTimeout: 5 * time.Second,
	}
}

// defaults fills the unset fields from DefaultOptions (SnapshotEvery stays:
// its zero is a setting).
func (o *Options) defaults() {
	d := DefaultOptions()
	orDefault(&o.SnapshotBucket, d.SnapshotBucket)
	orDefault(&o.CacheTTL, d.CacheTTL)
	orDefault(&o.RecentCmds, d.RecentCmds)
	orDefault(&o.MaxAttempts, d.MaxAttempts)
	orDefault(&o.TailBatch, d.TailBatch)
	orDefault(&o.BatchFlights, d.BatchFlights)
	orDefault(&o.BatchMaxMsgs, d.BatchMaxMsgs)
	orDefault(&o.BatchTimeout, d.BatchTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// orDefault sets *v to def when *v is zero or less (or empty).
func orDefault[T int | time.Duration | string](v *T, def T) {
	var zero T
	if *v <= zero {
		*v = def
	}
}

// Stats counts what the store did, for metrics.
type Stats struct {
	Appends      uint64 // successful appends (single or batch)
	Events       uint64 // events appended
	Conflicts    uint64 // appends refused by the expected-sequence check
	Unseen       uint64 // appends whose outcome was not seen (timeouts, disconnects)
	Duplicates   uint64 // commands found already applied
	CacheHits    uint64 // loads answered by a current cache entry
	CacheStale   uint64 // commands that started from a cached snapshot and were refused as a conflict (or found it behind before appending)
	CacheRepairs uint64 // loads that found the cache missing or stale and replayed a tail
	TailEvents   uint64 // events read from the stream by loads
	Durable      uint64 // durable snapshots written
	LeaderReads  uint64 // last sequences read from the stream leader (a cache entry ahead of a direct get, or a refused shared batch)
	Batches      uint64 // atomic batches sent (the commands of several aggregates, group.go)
	BatchedCmds  uint64 // commands in those batches (BatchedCmds/Batches is the mean sharing)
}

type stats struct {
	appends, events, conflicts, unseen, dups, hits, stale, repairs, tail, durable, leader, batches, batchedCmds atomic.Uint64
}

// Store is the shared plumbing over the event streams (one per partition,
// bus/partition.go), the snapshot bucket and the cache. It is safe for
// concurrent use; make one per process and a Repo per aggregate kind on it.
type Store struct {
	js      jetstream.JetStream
	reads   *nats.Conn         // the direct gets' connection (Options.Reads)
	streams []string           // the event streams, by partition
	kv      jetstream.KeyValue // nil when durable snapshots are disabled
	cache   cache.Cache        // nil = no cache
	opt     Options
	st      stats
	groups  []*group // the atomic batches of each partition (a batch is one stream's)
	turns   *turns
	dedup   time.Duration // the streams' Msg-Id dedup window (the shortest), as opened
}

// NewStore opens the event streams and snapshot bucket (which
// bus.EnsureStore creates), as many streams as the store has partitions.
// c may be nil: every load then starts from the durable snapshot.
func NewStore(ctx context.Context, js jetstream.JetStream, c cache.Cache, opt Options) (*Store, error) {
	opt.defaults()
	streams, err := bus.PartitionStreams(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	s := &Store{js: js, streams: streams, cache: c, opt: opt, reads: opt.Reads}
	if s.reads == nil {
		s.reads = js.Conn()
	}
	for _, name := range streams {
		stream, err := js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("events: stream %s: %w", name, err)
		}
		info := stream.CachedInfo()
		if info != nil && !info.Config.AllowDirect {
			return nil, fmt.Errorf("events: stream %s must allow direct gets", name)
		}
		if info != nil && (s.dedup == 0 || info.Config.Duplicates < s.dedup) {
			s.dedup = info.Config.Duplicates
		}
		s.groups = append(s.groups, newGroup(s))
	}
	s.turns = newTurns(4096)
	if opt.SnapshotEvery > 0 {
		if s.kv, err = js.KeyValue(ctx, opt.SnapshotBucket); err != nil {
			return nil, fmt.Errorf("events: snapshot bucket %s: %w", opt.SnapshotBucket, err)
		}
	}
	return s, nil
}

// DedupWindow is how long the event streams drop a second append with an
// event's Msg-Id (the shortest of their windows when the store was opened):
// within it a command stored before is stored once whatever its state says.
func (s *Store) DedupWindow() time.Duration { return s.dedup }

// Stats returns the counters so far.
func (s *Store) Stats() Stats {
	return Stats{
		Appends: s.st.appends.Load(), Events: s.st.events.Load(), Conflicts: s.st.conflicts.Load(),
		Unseen: s.st.unseen.Load(), Duplicates: s.st.dups.Load(), CacheHits: s.st.hits.Load(), CacheStale: s.st.stale.Load(),
		CacheRepairs: s.st.repairs.Load(), TailEvents: s.st.tail.Load(), Durable: s.st.durable.Load(),
		LeaderReads: s.st.leader.Load(), Batches: s.st.batches.Load(), BatchedCmds: s.st.batchedCmds.Load(),
	}
}

// JetStream returns the JetStream context the store uses.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Streams returns the event streams, in partition order.
func (s *Store) Streams() []string { return s.streams }

// partition is the partition of event subject subj.
func (s *Store) partition(subj string) int { return bus.SubjectPartition(subj, len(s.streams)) }

// streamOf is the stream holding event subject subj.
func (s *Store) streamOf(subj string) string { return s.streams[s.partition(subj)] }

// LastSeq returns the sequence of the last event on subject (0 if none): one
// direct get. It asks the server itself rather than through
// jetstream.Stream.GetLastMsgForSubject, which marshals a JSON request it
// does not send and parses a timestamp nobody reads (13 allocations on
// every load).
func (s *Store) LastSeq(ctx context.Context, subject string) (uint64, error) {
	m, err := s.reads.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+s.streamOf(subject)+"."+subject, nil)
	if err != nil {
		return 0, fmt.Errorf("events: last of %s: %w", subject, err)
	}
	if st := m.Header.Get("Status"); st != "" && len(m.Data) == 0 {
		if st == "404" {
			return 0, nil
		}
		return 0, fmt.Errorf("events: last of %s: status %s %s", subject, st, m.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("events: last of %s: bad %s header: %w", subject, jetstream.SequenceHeader, err)
	}
	return seq, nil
}

// LeaderLastSeq is LastSeq answered by the stream leader. A direct get
// (LastSeq) may be served by a replica that has not applied the newest
// append yet; Load asks the leader when the cache claims more than that.
func (s *Store) LeaderLastSeq(ctx context.Context, subject string) (uint64, error) {
	s.st.leader.Add(1)
	req, err := json.Marshal(map[string]string{"last_by_subj": subject})
	if err != nil {
		return 0, err
	}
	resp, err := s.js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+s.streamOf(subject), req)
	if err != nil {
		return 0, fmt.Errorf("events: last of %s from leader: %w", subject, err)
	}
	var r struct {
		Message *struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return 0, fmt.Errorf("events: last of %s from leader: %w", subject, err)
	}
	switch {
	case r.Error != nil && r.Error.ErrorCode == codeNoMessage:
		return 0, nil
	case r.Error != nil:
		return 0, fmt.Errorf("events: last of %s from leader: %w", subject, r.Error)
	case r.Message == nil:
		return 0, fmt.Errorf("events: last of %s from leader: empty answer", subject)
	}
	return r.Message.Seq, nil
}

// Read calls fn for each event on subject from sequence from (inclusive), in
// order, with batched direct gets, until the end of the subject or until fn
// returns false.
func (s *Store) Read(ctx context.Context, subject string, from uint64, fn func(*Event) (bool, error)) error {
	if from == 0 {
		from = 1
	}
	for {
		next, more, err := s.readBatch(ctx, subject, from, fn)
		if err != nil || !more {
			return err
		}
		from = next
	}
}

// readBatch is one batched direct get of up to TailBatch events on subject
// from sequence from: fn gets each in order. It returns the sequence to go on
// from and whether the subject has more. It subscribes with a channel sized
// to the batch: jetstreamext.GetBatch's SubscribeSync allocates a channel of
// 64k entries (512 KB) per call, more than the events it reads.
func (s *Store) readBatch(ctx context.Context, subject string, from uint64, fn func(*Event) (bool, error)) (uint64, bool, error) {
	fail := func(err error) (uint64, bool, error) {
		return 0, false, fmt.Errorf("events: read %s from %d: %w", subject, from, err)
	}
	req, err := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
		Batch   int    `json:"batch"`
	}{from, subject, s.opt.TailBatch})
	if err != nil {
		return fail(err)
	}
	nc := s.reads
	inbox := nc.NewInbox()
	ch := make(chan *nats.Msg, s.opt.TailBatch+1) // the events and the end-of-batch mark
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return fail(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+s.streamOf(subject), inbox, req); err != nil {
		return fail(err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, nc.Opts.Timeout) // as nats.go's own requests
		defer cancel()
	}
	more := false
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		if len(m.Data) == 0 {
			switch st := m.Header.Get("Status"); st {
			case "204": // end of batch
				return from, more, nil
			case "404": // nothing (more) on the subject
				return from, false, nil
			case "":
			default:
				return fail(fmt.Errorf("status %s %s", st, m.Header.Get("Description")))
			}
		}
		raw, err := rawFromDirect(m)
		if err != nil {
			return fail(err)
		}
		s.st.tail.Add(1)
		ev, err := DecodeRaw(raw)
		if err != nil {
			return 0, false, err
		}
		if ok, err := fn(ev); err != nil || !ok {
			return 0, false, err
		}
		from = raw.Sequence + 1
		pending, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
		more = pending > 0
	}
}

// rawFromDirect reads a direct get's answer: the stored message with its
// sequence, subject and time in headers.
func rawFromDirect(m *nats.Msg) (*jetstream.RawStreamMsg, error) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bad %s header: %w", jetstream.SequenceHeader, err)
	}
	tm, err := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer))
	if err != nil {
		return nil, fmt.Errorf("bad %s header: %w", jetstream.TimeStampHeaer, err)
	}
	subj := m.Header.Get(jetstream.SubjectHeader)
	if subj == "" {
		return nil, fmt.Errorf("no %s header", jetstream.SubjectHeader)
	}
	return &jetstream.RawStreamMsg{Subject: subj, Sequence: seq, Header: m.Header, Data: m.Data, Time: tm}, nil
}

func (s *Store) cacheKey(subject string) string { return "snap:" + subject }
