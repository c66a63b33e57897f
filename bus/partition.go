package bus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Partitions of the event log (DESIGN §4 "Partitions").
//
// A store has N event streams, fixed when it is created: partition 0 is the
// EVENTS stream, as in a store of one partition (subjects evt.>, the
// account events too), and partition k >= 1 is the stream EVENTS-k. A
// player belongs to PlayerPartition(id, N). Every event keeps its subject
// evt.player.<id> in its stream: a player of partition k >= 1 is published
// on IngestSubject, partition.<k>.evt.player.<id>, which only EVENTS-k
// listens to, and the stream's subject transform stores it as
// evt.player.<id>. So reads, consumers and the expected last subject
// sequence work on the same subjects as with one stream; only the stream
// name depends on the partition.

// MaxPartitions bounds --partitions: the NATS permissions name each stream
// (a stream name is one token of the API subjects, so it cannot be a
// wildcard), and more streams than this are more raft groups than a small
// cluster can lead well.
const MaxPartitions = 16

// PartitionsMetadata is the key of the EVENTS stream's metadata that
// records the store's number of partitions (a missing key means 1: stores
// made before partitions).
const PartitionsMetadata = "hive_partitions"

// PartitionIngestPrefix starts the subject a partition k >= 1 event is
// published on: partition.<k>.<its subject>.
const PartitionIngestPrefix = "partition."

// PartitionIngestWildcard matches every player event published to a
// partition other than 0 (what a game worker may publish).
const PartitionIngestWildcard = PartitionIngestPrefix + "*." + PlayerEventsWildcard

// ErrPartitionsMismatch is EnsureStore refusing a StoreConfig whose
// Partitions differs from the number the store was created with.
var ErrPartitionsMismatch = errors.New("bus: the number of partitions does not match the store")

// PlayerPartition is the partition of player id among n: FNV-1a (32 bits)
// of the id's decimal text, modulo n. It is nats-server's
// {{partition(n,1)}} subject mapping function applied to the id token, so
// a server-side mapping would place every player the same way. It must
// never change: a player's events are all in its partition.
func PlayerPartition(id int64, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(strconv.FormatInt(id, 10)))
	return int(h.Sum32() % uint32(n))
}

// EventsStreamFor is the stream of partition p: EventsStream for 0,
// EVENTS-<p> for the others.
func EventsStreamFor(p int) string {
	if p == 0 {
		return EventsStream
	}
	return EventsStream + "-" + strconv.Itoa(p)
}

// SubjectPartition is the partition holding event subject subj among n:
// the player's for evt.player.<id>, 0 for every other subject.
func SubjectPartition(subj string, n int) int {
	if n <= 1 {
		return 0
	}
	kind, id, err := ParseEventSubject(subj)
	if err != nil || kind != AggPlayer {
		return 0
	}
	return PlayerPartition(id, n)
}

// IngestSubject is where an event on subject subj is published in a store
// of n partitions: subj itself in partition 0, partition.<k>.<subj> in
// partition k (the stream stores it as subj).
func IngestSubject(subj string, n int) string {
	p := SubjectPartition(subj, n)
	if p == 0 {
		return subj
	}
	return PartitionIngestPrefix + strconv.Itoa(p) + "." + subj
}

// partitionStreamConfig is partition p >= 1 of a store of c.Partitions:
// EVENTS's settings, its own name, its ingest subject stored as the
// player's subject.
func partitionStreamConfig(c StoreConfig, p int) jetstream.StreamConfig {
	cfg := EventsStreamConfig(c)
	cfg.Name = EventsStreamFor(p)
	cfg.Description = fmt.Sprintf("Hive player events of partition %d of %d", p, c.Partitions)
	src := PartitionIngestPrefix + strconv.Itoa(p) + "." + PlayerEventsWildcard
	cfg.Subjects = []string{src}
	cfg.SubjectTransform = &jetstream.SubjectTransformConfig{
		Source:      src,
		Destination: strings.TrimSuffix(PlayerEventsWildcard, "*") + "{{wildcard(1)}}",
	}
	cfg.Metadata = nil
	return cfg
}

// recordedPartitions reads the number of partitions from EVENTS's metadata.
func recordedPartitions(info *jetstream.StreamInfo) (int, error) {
	v, ok := info.Config.Metadata[PartitionsMetadata]
	if !ok {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPartitions {
		return 0, fmt.Errorf("bus: stream %s records %s=%q: not a number of partitions", EventsStream, PartitionsMetadata, v)
	}
	return n, nil
}

// StorePartitions returns the number of partitions the store was created
// with (recorded on the EVENTS stream, which must exist).
func StorePartitions(ctx context.Context, js jetstream.JetStream) (int, error) {
	s, err := js.Stream(ctx, EventsStream)
	if err != nil {
		return 0, fmt.Errorf("bus: stream %s (is the store created?): %w", EventsStream, err)
	}
	return recordedPartitions(s.CachedInfo())
}

// PartitionStreams returns the names of the store's event streams, in
// partition order (StorePartitions of them).
func PartitionStreams(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	n, err := StorePartitions(ctx, js)
	if err != nil {
		return nil, err
	}
	out := make([]string, n)
	for p := range out {
		out[p] = EventsStreamFor(p)
	}
	return out, nil
}

// ensureEvents creates or updates the event streams of c.Partitions, after
// checking the number against the one the store records. The partitions
// >= 1 are made first and EVENTS records the number last, so a store that
// records N has its N streams. Two first starts racing with different
// numbers: one creates EVENTS, the other's create is refused (its config
// differs) and it checks the record again.
func ensureEvents(ctx context.Context, js jetstream.JetStream, c StoreConfig) error {
	n := c.Partitions
	if n <= 0 {
		n = 1
	}
	if n > MaxPartitions {
		return fmt.Errorf("bus: %d partitions: at most %d", n, MaxPartitions)
	}
	c.Partitions = n
	check := func() (bool, error) {
		s, err := js.Stream(ctx, EventsStream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("bus: stream %s: %w", EventsStream, err)
		}
		got, err := recordedPartitions(s.CachedInfo())
		if err != nil {
			return true, err
		}
		if got != n {
			return true, fmt.Errorf("%w: it was created with %d partitions and this process has %d; start it with --partitions %d (HIVE_PARTITIONS=%d): the number is fixed when the store is created", ErrPartitionsMismatch, got, n, got, got)
		}
		return true, nil
	}
	exists, err := check()
	if err != nil {
		return err
	}
	for p := 1; p < n; p++ {
		if _, err := js.CreateOrUpdateStream(ctx, partitionStreamConfig(c, p)); err != nil {
			return fmt.Errorf("bus: stream %s: %w", EventsStreamFor(p), err)
		}
	}
	cfg := EventsStreamConfig(c)
	created := false
	if !exists {
		_, err := js.CreateStream(ctx, cfg)
		switch {
		case err == nil:
			created = true
		case !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
			return fmt.Errorf("bus: stream %s: %w", EventsStream, err)
		default:
			if _, err := check(); err != nil {
				return err
			}
		}
	}
	if !created {
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: stream %s: %w", EventsStream, err)
		}
	}
	if n > 1 && c.Replicas > 1 {
		// Not a reason to refuse the start: the partitions work, only
		// less spread.
		if moved, err := SpreadLeaders(ctx, js); err != nil {
			slog.Warn("bus: spreading the event streams' leaders over the nodes", "err", err)
		} else if moved > 0 {
			slog.Info("bus: moved event stream leaders to spread them over the nodes", "moved", moved)
		}
	}
	return nil
}
