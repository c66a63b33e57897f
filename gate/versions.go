package gate

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
)

// tokenVersion is the account's current token version: the value of its
// key in bus.TokenVersionsBucket, 0 when absent. The gate reads only that
// bucket (a KV get: a direct get when the stream allows it).
func (s *Server) tokenVersion(ctx context.Context, uid int64) (int64, error) {
	kv, err := s.versionsBucket(ctx)
	if err != nil {
		return 0, err
	}
	e, err := kv.Get(ctx, strconv.FormatInt(uid, 10))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("gate: read %s: %w", bus.TokenVersionsBucket, err)
	}
	v, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("gate: %s: bad version %q for %d", bus.TokenVersionsBucket, e.Value(), uid)
	}
	return v, nil
}

// versionsBucket binds bus.TokenVersionsBucket on first use (and again
// after a failure), so a gate may start before the bucket exists.
func (s *Server) versionsBucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.versionsMu.Lock()
	defer s.versionsMu.Unlock()
	if s.versions != nil {
		return s.versions, nil
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, fmt.Errorf("gate: jetstream: %w", err)
	}
	kv, err := js.KeyValue(ctx, bus.TokenVersionsBucket)
	if err != nil {
		return nil, fmt.Errorf("gate: kv bucket %s: %w", bus.TokenVersionsBucket, err)
	}
	s.versions = kv
	return kv, nil
}
