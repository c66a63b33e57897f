package game

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
)

// nameKey is the key reserving a name in the names bucket. Names are unique
// without regard to case; KV keys allow few characters, hence base64.
func nameKey(name string) string {
	return "n." + base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(name)))
}

// rename reserves the new name (kv.Create: one owner per name), appends
// Renamed, then releases the old name. A reservation whose Renamed was not
// appended is released; one left by a crash stays with the same player,
// who can still take the name.
func (w *Worker) rename(ctx context.Context, r *Request, name string) (def.ResCode, error) {
	if !ValidName(name) {
		return def.ResCode_RC_NAME_INVALID, nil
	}
	key, owner := nameKey(name), strconv.FormatInt(r.uid, 10)
	rev, err := w.names.Create(ctx, key, []byte(owner))
	reserved := err == nil
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := w.names.Get(ctx, key)
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			return 0, errors.New("game: name reservation vanished; retry")
		case gerr != nil:
			return 0, gerr
		case string(e.Value()) != owner:
			return def.ResCode_RC_NAME_TAKEN, nil
		}
		err = nil
	}
	if err != nil {
		return 0, err
	}
	// A retried rename (a duplicate) gives the zero result: OK, no old name.
	res, _, err := command(ctx, w, r.cmd, ids(r.uid), ifCreated(func(s *Player) ([]events.Emit, renamed) {
		evs, rc := decideRename(s, r.uid, name, r.now)
		return evs, renamed{old: s.GetUser().GetName(), rc: rc}
	}, renamed{rc: def.ResCode_RC_LOGIN_REQUIRED}))
	if err != nil || !isOK(res.rc) {
		if reserved {
			w.release(ctx, key, owner, rev)
		}
		return res.rc, err
	}
	if res.old != "" && nameKey(res.old) != key {
		w.release(ctx, nameKey(res.old), owner, 0)
	}
	return def.ResCode_RC_OK, nil
}

// renamed is a rename's result: its code and the name it replaced.
type renamed struct {
	old string
	rc  def.ResCode
}

// release deletes a name reservation if owner still holds it (at revision
// rev when known).
func (w *Worker) release(ctx context.Context, key, owner string, rev uint64) {
	if rev == 0 {
		e, err := w.names.Get(ctx, key)
		if err != nil || string(e.Value()) != owner {
			return
		}
		rev = e.Revision()
	}
	if err := w.names.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
		w.log.Warn("game: release name", "key", key, "err", err)
	}
}
