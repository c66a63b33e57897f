package uc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/proto/def"
)

// firstAccountID is the first id bus.NextID hands out.
const firstAccountID = 10001

// accountCounter names the account id sequence in the counters bucket.
const accountCounter = "account"

// Store errors.
var (
	errNotFound = errors.New("uc: no such account")
	// errPending: an index key exists but its record does not point back
	// yet; younger than the grace, so a create is probably in flight.
	errPending = errors.New("uc: account being created")
	// errTaken: the index key belongs to another account (or one in flight).
	errTaken = errors.New("uc: already taken")
	// errContention: too many compare-and-set conflicts in a row.
	errContention = errors.New("uc: too much contention on one account")
)

// account is the record stored at id.<id> in the accounts bucket. It holds
// the secrets; nothing of it but the id and username ever leaves uc.
type account struct {
	ID       int64  `json:"id"`
	Username string `json:"username,omitempty"` // as registered; the index is case-insensitive
	Hash     string `json:"hash,omitempty"`     // argon2id PHC string; empty for a guest
	Device   string `json:"device,omitempty"`   // hex SHA-256 of the guest's device id
	Phone    string `json:"phone,omitempty"`    // E.164
	Status   int32  `json:"status"`             // def.AccountStatus
	Created  int64  `json:"created"`            // unix milliseconds
	Updated  int64  `json:"updated"`            // unix milliseconds
	// TokenVersion goes up whenever the account's credentials change
	// (password change or reset, username bind); tokens carry it (ver) and
	// gates refuse older ones. Records written before it existed read 0.
	TokenVersion int64 `json:"token_version,omitempty"`
	// Outbox holds the account events this record's writes staged and that
	// are not known to be in the EVENTS stream yet (outbox.go). Records
	// written before it existed read empty.
	Outbox []pendingEvent `json:"outbox,omitempty"`
}

func recordKey(id int64) string { return "id." + strconv.FormatInt(id, 10) }

// userKey indexes a username case-insensitively. KV keys are NATS subject
// tokens, where '.' separates tokens (and "a..b" or a trailing dot would be
// invalid), so '.' is written as '=', a byte usernames cannot contain.
func userKey(name string) string {
	return "user." + strings.ReplaceAll(strings.ToLower(name), ".", "=")
}

// deviceHash is how a device id is known inside uc: arbitrary client bytes
// become a fixed-size key-safe string, and the raw id is never stored.
func deviceHash(deviceID string) string {
	sum := sha256.Sum256([]byte(deviceID))
	return hex.EncodeToString(sum[:])
}

func deviceKey(hash string) string { return "device." + hash }

// phoneKey drops the '+' of an E.164 number ('+' is not a KV key byte).
func phoneKey(phone string) string { return "phone." + strings.TrimPrefix(phone, "+") }

// logKey is an index key as logs and errors show it: a phone key with
// the number masked (usernames and device hashes are not secret).
func logKey(key string) string {
	if n, ok := strings.CutPrefix(key, "phone."); ok {
		return "phone." + maskPhone("+"+n)
	}
	return key
}

// owns reports whether record a points back at index key: the test of a
// valid index entry.
func owns(a *account, key string) bool {
	switch {
	case strings.HasPrefix(key, "user."):
		return a.Username != "" && userKey(a.Username) == key
	case strings.HasPrefix(key, "device."):
		return a.Device != "" && deviceKey(a.Device) == key
	case strings.HasPrefix(key, "phone."):
		return a.Phone != "" && phoneKey(a.Phone) == key
	}
	return false
}

// store is the accounts bucket with its indexes.
type store struct {
	kv       jetstream.KeyValue
	counters jetstream.KeyValue
	grace    time.Duration
	log      *slog.Logger
	repaired func() // counts index repairs (metrics)
	now      func() time.Time
}

// get loads the record of id with its revision.
func (s *store) get(ctx context.Context, id int64) (*account, uint64, error) {
	e, err := s.kv.Get(ctx, recordKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("uc: get account %d: %w", id, err)
	}
	a := &account{}
	if err := json.Unmarshal(e.Value(), a); err != nil {
		return nil, 0, fmt.Errorf("uc: account %d: corrupt record: %w", id, err)
	}
	return a, e.Revision(), nil
}

// lookup resolves an index key to the account that owns it: errNotFound
// when there is none (a crash leftover older than the grace is removed on
// the way), errPending when the entry is young and its record does not
// point back yet.
func (s *store) lookup(ctx context.Context, key string) (*account, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("uc: get %s: %w", logKey(key), err)
	}
	if id, perr := strconv.ParseInt(string(e.Value()), 10, 64); perr == nil {
		a, rev, err := s.get(ctx, id)
		if err == nil && owns(a, key) {
			return a, rev, nil
		}
		if err != nil && !errors.Is(err, errNotFound) {
			return nil, 0, err
		}
	}
	if s.now().Sub(e.Created()) < s.grace {
		return nil, 0, errPending
	}
	// The record is gone or names another key: the reservation's creator
	// died before committing (or rolled back and then died). Remove it by
	// compare-and-set so a newer reservation is never touched.
	if err := s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil && !bus.IsConflict(err) {
		return nil, 0, fmt.Errorf("uc: repair %s: %w", logKey(key), err)
	}
	s.log.Warn("uc: removed dangling index key", "key", logKey(key), "value", string(e.Value()), "age", s.now().Sub(e.Created()).Round(time.Second))
	if s.repaired != nil {
		s.repaired()
	}
	return nil, 0, errNotFound
}

// reserve creates index key -> id atomically. errTaken if another account
// (or one being created) holds it.
func (s *store) reserve(ctx context.Context, key string, id int64) (uint64, error) {
	for range 3 {
		rev, err := s.kv.Create(ctx, key, []byte(strconv.FormatInt(id, 10)))
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("uc: reserve %s: %w", logKey(key), err)
		}
		a, _, lerr := s.lookup(ctx, key)
		switch {
		case lerr == nil && a.ID == id:
			return 0, nil // already ours (a repeated bind)
		case lerr == nil, errors.Is(lerr, errPending):
			return 0, errTaken
		case errors.Is(lerr, errNotFound):
			continue // a leftover was just removed: try again
		default:
			return 0, lerr
		}
	}
	return 0, errTaken
}

// release deletes an index entry this process reserved (rollback), only if
// it is still that revision. Best effort: a failure leaves a leftover that
// lookup repairs after the grace.
func (s *store) release(key string, rev uint64) {
	if rev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
		s.log.Warn("uc: rollback of index key failed; it is repaired after the grace", "key", logKey(key), "err", err)
	}
}

// releaseIfOwned deletes index key if it still names id (an old phone
// after a new one was bound).
func (s *store) releaseIfOwned(ctx context.Context, key string, id int64) {
	e, err := s.kv.Get(ctx, key)
	if err != nil || string(e.Value()) != strconv.FormatInt(id, 10) {
		return
	}
	s.release(key, e.Revision())
}

// create assigns a durable id to a, reserves its index keys (in order) and
// then creates the record: the commit point. stage, run once the id is
// known, puts the creation's event in the record's outbox. On failure
// everything reserved is rolled back; errTaken means an index belonged to
// someone else.
func (s *store) create(ctx context.Context, a *account, stage func(a *account) error, keys ...string) (uint64, error) {
	id, err := bus.NextID(ctx, s.counters, accountCounter, firstAccountID)
	if err != nil {
		return 0, err
	}
	now := s.now().UnixMilli()
	a.ID, a.Created, a.Updated = id, now, now
	if a.Status == 0 {
		a.Status = int32(def.AccountStatus_ACCOUNT_OPEN)
	}
	type held struct {
		key string
		rev uint64
	}
	if err := stage(a); err != nil {
		return 0, err
	}
	var reserved []held
	rollback := func() {
		for _, h := range reserved {
			s.release(h.key, h.rev)
		}
	}
	for _, k := range keys {
		rev, err := s.reserve(ctx, k, id)
		if err != nil {
			rollback()
			return 0, err
		}
		reserved = append(reserved, held{k, rev})
	}
	b, err := json.Marshal(a)
	if err != nil {
		rollback()
		return 0, err
	}
	rev, err := s.kv.Create(ctx, recordKey(id), b)
	if err != nil {
		rollback()
		return 0, fmt.Errorf("uc: create account %d: %w", id, err)
	}
	return rev, nil
}

// update applies fn to the current record of id and writes it back by
// compare-and-set on its revision, retrying on conflicts. An error from fn
// aborts and is returned as is.
func (s *store) update(ctx context.Context, id int64, fn func(a *account) error) (*account, uint64, error) {
	for range 20 {
		a, rev, err := s.get(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		if err := fn(a); err != nil {
			return nil, 0, err
		}
		a.Updated = s.now().UnixMilli()
		b, err := json.Marshal(a)
		if err != nil {
			return nil, 0, err
		}
		nrev, err := s.kv.Update(ctx, recordKey(id), b, rev)
		if err == nil {
			return a, nrev, nil
		}
		if !bus.IsConflict(err) {
			return nil, 0, fmt.Errorf("uc: update account %d: %w", id, err)
		}
	}
	return nil, 0, errContention
}

// clearOutbox removes the staged events named in stored from account id's
// record by compare-and-set; the rest of the record, Updated included, is
// left as it is (storing an event changes nothing of the account).
func (s *store) clearOutbox(ctx context.Context, id int64, stored map[string]bool) error {
	for range 20 {
		a, rev, err := s.get(ctx, id)
		if err != nil {
			return err
		}
		kept := a.Outbox[:0]
		for _, p := range a.Outbox {
			if !stored[p.Cmd] {
				kept = append(kept, p)
			}
		}
		if len(kept) == len(a.Outbox) {
			return nil
		}
		a.Outbox = kept
		if len(kept) == 0 {
			a.Outbox = nil
		}
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		_, err = s.kv.Update(ctx, recordKey(id), b, rev)
		if err == nil {
			return nil
		}
		if !bus.IsConflict(err) {
			return fmt.Errorf("uc: clear outbox of account %d: %w", id, err)
		}
	}
	return errContention
}
