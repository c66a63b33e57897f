package uc

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
)

// revoke makes a's current TokenVersion (just bumped and stored with the
// account) effective: it writes it to the token-versions bucket, where
// gates refuse tokens of older versions at login, and kicks the account's
// live sessions (msg.Kick.Res RC_LOGIN_KICKED on user.<id>, the gate's
// kick contract). The account record is the truth: a failure here is
// logged and counted, not answered, as the change itself happened.
func (s *Server) revoke(ctx context.Context, a *account, reason string) {
	s.m.revocations.Inc()
	if err := s.writeVersion(ctx, a.ID, a.TokenVersion); err != nil {
		s.m.revokeFails.Inc()
		s.log.Error("uc: token version not stored; earlier tokens stay valid until they expire", "account", a.ID, "version", a.TokenVersion, "err", err)
	}
	if err := s.kick(a.ID, reason); err != nil {
		s.log.Error("uc: live sessions not kicked", "account", a.ID, "err", err)
	}
}

// writeVersion stores version for id unless the bucket already holds a
// newer one (two bumps racing must not go backwards).
func (s *Server) writeVersion(ctx context.Context, id, version int64) error {
	key := strconv.FormatInt(id, 10)
	val := []byte(strconv.FormatInt(version, 10))
	var err error
	for range 10 {
		var e jetstream.KeyValueEntry
		e, err = s.versions.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = s.versions.Create(ctx, key, val)
		case err != nil:
			return err
		default:
			if cur, perr := strconv.ParseInt(string(e.Value()), 10, 64); perr == nil && cur >= version {
				return nil
			}
			_, err = s.versions.Update(ctx, key, val, e.Revision())
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !bus.IsConflict(err) {
			return err
		}
	}
	return err
}

// kick publishes msg.Kick.Res{RC_LOGIN_KICKED, reason} on user.<id>, as
// `hive admin kick` does; every gate holding a session of id ends it.
func (s *Server) kick(id int64, reason string) error {
	m := envelope.Kick{User: id, Code: def.ResCode_RC_LOGIN_KICKED, Reason: reason}.Msg()
	nc := s.deps.NC
	if nc == nil {
		nc = s.deps.JS.Conn()
	}
	return nc.PublishMsg(m)
}
