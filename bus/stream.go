package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the JetStream stream and KV buckets (DESIGN §4).
const (
	// EventsStream holds every event, evt.>.
	EventsStream = "EVENTS"
	// AccountsBucket holds credentials and the unique indexes of uc.
	AccountsBucket = "accounts"
	// SnapshotsBucket holds the durable player snapshots.
	SnapshotsBucket = "snapshots"
	// NamesBucket reserves unique player names.
	NamesBucket = "names"
	// CountersBucket holds durable id sequences (account ids, mail ids).
	CountersBucket = "counters"
	// PresenceBucket holds who is online where (game's presence projection:
	// key = player id, value = gate/session/login time); rebuildable from events.
	PresenceBucket = "presence"
	// TokenVersionsBucket holds each account's current token version (key
	// the account id, value its decimal version) once it is above 0: uc
	// bumps it when credentials change, gates refuse older tokens. It holds
	// no secret, so gates may read it without reading AccountsBucket.
	TokenVersionsBucket = "token-versions"
)

// StoreConfig sets the durability knobs of the stream and buckets.
type StoreConfig struct {
	// Replicas of the stream and buckets: 1 in dev, 3 in production.
	Replicas int
	// MaxBytes guards the events stream's size; 0 = unlimited. When reached,
	// appends fail (DiscardNew): old events are never dropped.
	MaxBytes int64
	// Duplicates is the Msg-Id dedup window; 0 = DefaultDuplicates.
	Duplicates time.Duration
	// Partitions is the number of event streams the players are spread
	// over (partition.go); 0 = 1. Fixed when the store is created.
	// MaxBytes applies to each.
	Partitions int
}

// DefaultDuplicates is the event streams' Msg-Id dedup window: far above
// every re-send of an append. The server keeps each id (~150 bytes) for
// this long.
const DefaultDuplicates = 10 * time.Minute

// EventsStreamConfig is the EVENTS stream (partition 0) as DESIGN §4
// fixes it, recording the number of partitions in its metadata.
func EventsStreamConfig(c StoreConfig) jetstream.StreamConfig {
	if c.Partitions <= 0 {
		c.Partitions = 1
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates <= 0 {
		c.Duplicates = DefaultDuplicates
	}
	max := c.MaxBytes
	if max <= 0 {
		max = -1
	}
	return jetstream.StreamConfig{
		Name:               EventsStream,
		Description:        "Hive events: one subject per aggregate, type in the Hive-Event header",
		Subjects:           []string{EventsWildcard},
		Storage:            jetstream.FileStorage,
		Replicas:           c.Replicas,
		Retention:          jetstream.LimitsPolicy,
		MaxAge:             0,
		MaxMsgs:            -1,
		MaxBytes:           max,
		Discard:            jetstream.DiscardNew,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		Duplicates:         c.Duplicates,
		DenyDelete:         true,
		DenyPurge:          true,
		Metadata:           map[string]string{PartitionsMetadata: strconv.Itoa(c.Partitions)},
	}
}

// EnsureStore creates or updates the event streams and every KV bucket. It
// is idempotent; it refuses (ErrPartitionsMismatch) a Partitions other than
// the store's. It needs every bucket's permissions: a process calls
// EnsureStoreFor its role instead.
func EnsureStore(ctx context.Context, js jetstream.JetStream, c StoreConfig) error {
	return ensure(ctx, js, c, nil)
}

// EnsureStoreFor creates or updates the event streams and the KV buckets
// role r writes (RoleBuckets), and nothing else: each writer calls it at
// start with its own identity.
func EnsureStoreFor(ctx context.Context, js jetstream.JetStream, c StoreConfig, r Role) error {
	return ensure(ctx, js, c, RoleBuckets(r))
}

// ensure creates or updates the event streams and the buckets named in
// only (nil = all).
func ensure(ctx context.Context, js jetstream.JetStream, c StoreConfig, only []string) error {
	if err := retryCreate(ctx, "event streams", func(ctx context.Context) error {
		return ensureEvents(ctx, js, c)
	}); err != nil {
		return err
	}
	r := c.Replicas
	if r <= 0 {
		r = 1
	}
	for _, b := range []jetstream.KeyValueConfig{
		{Bucket: AccountsBucket, Description: "uc credentials and unique indexes", History: 1, Storage: jetstream.FileStorage, Replicas: r},
		{Bucket: SnapshotsBucket, Description: "durable aggregate snapshots", History: 1, Storage: jetstream.FileStorage, Replicas: r},
		{Bucket: NamesBucket, Description: "unique player names", History: 1, Storage: jetstream.FileStorage, Replicas: r},
		{Bucket: CountersBucket, Description: "durable id sequences", History: 1, Storage: jetstream.FileStorage, Replicas: r},
		{Bucket: PresenceBucket, Description: "online players by gate (projection of login events)", History: 1, Storage: jetstream.FileStorage, Replicas: r},
		{Bucket: TokenVersionsBucket, Description: "current token version per account (gates refuse older tokens)", History: 1, Storage: jetstream.FileStorage, Replicas: r},
	} {
		if only != nil && !slices.Contains(only, b.Bucket) {
			continue
		}
		if err := retryCreate(ctx, "kv bucket "+b.Bucket, func(ctx context.Context) error {
			_, err := js.CreateOrUpdateKeyValue(ctx, b)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// createAttempt bounds one create-or-update request. On a fresh cluster the
// meta group may not have elected its leader yet, and a request the
// servers drop meanwhile is never answered: without a bound of its own it
// would wait out the caller's whole deadline.
const createAttempt = 3 * time.Second

// retryCreate runs create (an idempotent create-or-update) until it
// succeeds, it fails for good, or ctx ends. It tries again when the
// request went unanswered or JetStream said it could not do it yet (no
// meta leader, too few peers known to place the replicas: 5xx), or when
// another writer created the same name between this one's look-up and
// create (the next attempt updates it to the same config).
func retryCreate(ctx context.Context, what string, create func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, createAttempt)
		err := create(actx)
		cancel()
		if err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		again := ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) ||
			errors.As(err, &apiErr) && (apiErr.Code >= 500 || apiErr.ErrorCode == jetstream.JSErrCodeStreamNameInUse))
		if !again {
			return fmt.Errorf("bus: %s: %w", what, err)
		}
		slog.Warn("jetstream not ready, trying again", "create", what, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// NextID returns the next value of a durable sequence in the counters bucket
// (first value: first), by compare-and-set so concurrent callers never share one.
func NextID(ctx context.Context, kv jetstream.KeyValue, name string, first int64) (int64, error) {
	for range 100 {
		e, err := kv.Get(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := kv.Create(ctx, name, []byte(fmt.Sprint(first))); err == nil {
				return first, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return 0, fmt.Errorf("bus: counter %s: %w", name, err)
			}
			continue
		case err != nil:
			return 0, fmt.Errorf("bus: counter %s: %w", name, err)
		}
		var cur int64
		if _, err := fmt.Sscan(string(e.Value()), &cur); err != nil {
			return 0, fmt.Errorf("bus: counter %s holds %q: %w", name, e.Value(), err)
		}
		next := cur + 1
		if _, err := kv.Update(ctx, name, []byte(fmt.Sprint(next)), e.Revision()); err == nil {
			return next, nil
		} else if !isWrongSeq(err) {
			return 0, fmt.Errorf("bus: counter %s: %w", name, err)
		}
	}
	return 0, fmt.Errorf("bus: counter %s: too much contention", name)
}

// isWrongSeq reports a compare-and-set conflict.
func isWrongSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == CodeWrongLastSequence ||
		errors.Is(err, jetstream.ErrKeyExists)
}

// The JetStream API error codes of a failed expected-sequence check
// (nats-server's errors.json).
const (
	// CodeWrongLastSequence (10071): the subject's last sequence was not
	// the expected one (a single-replica stream says so this way).
	CodeWrongLastSequence = jetstream.JSErrCodeStreamWrongLastSequence
	// CodeWrongLastSequenceReplicated (10164): the same refusal as a
	// replicated stream's leader reports it when it proposes the write.
	CodeWrongLastSequenceReplicated jetstream.ErrorCode = 10164
)

// IsConflict reports whether a publish failed its expected-last-sequence
// check (CodeWrongLastSequence or CodeWrongLastSequenceReplicated): reload
// and decide again.
func IsConflict(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == CodeWrongLastSequence || apiErr.ErrorCode == CodeWrongLastSequenceReplicated
}
