package uc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// errBusy: every hash worker stayed busy for Config.HashWait.
var errBusy = errors.New("uc: password hashing busy")

// argonParams are the argon2id parameters of one hash.
type argonParams struct {
	time, memKiB uint32
	threads      uint8
}

// hasher computes argon2id hashes in PHC string form,
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<key b64>
//
// (standard base64 without padding, 16-byte salt, 32-byte key), at most
// cap(sem) at a time so memory stays bounded under a login storm.
type hasher struct {
	p     argonParams
	sem   chan struct{}
	wait  time.Duration
	dummy string // a hash of nothing, checked for unknown users so timing tells nothing
}

func newHasher(c Config) *hasher {
	h := &hasher{
		p:    argonParams{time: uint32(c.Argon2Time), memKiB: uint32(c.Argon2MemoryKiB), threads: uint8(c.Argon2Threads)},
		sem:  make(chan struct{}, c.HashWorkers),
		wait: c.HashWait,
	}
	h.dummy = h.encode(h.p, make([]byte, 16), argon2.IDKey(nil, make([]byte, 16), h.p.time, h.p.memKiB, h.p.threads, 32))
	return h
}

func (h *hasher) encode(p argonParams, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memKiB, p.time, p.threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// acquire takes a hash worker, waiting at most h.wait.
func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-t.C:
		return errBusy
	case <-ctx.Done():
		return errBusy
	}
}

func (h *hasher) release() { <-h.sem }

// hash returns the PHC string of password with a fresh random salt.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("uc: salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.p.time, h.p.memKiB, h.p.threads, 32)
	h.release()
	return h.encode(h.p, salt, key), nil
}

// verify checks password against a stored PHC string in constant time.
// stale reports that the hash was made with other parameters than the
// current ones (rehash after a successful login). An empty encoded (a guest
// without a password) is checked against the dummy hash and never matches.
func (h *hasher) verify(ctx context.Context, encoded, password string) (ok, stale bool, err error) {
	target := encoded
	if target == "" {
		target = h.dummy
	}
	p, salt, want, err := parsePHC(target)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memKiB, p.threads, uint32(len(want)))
	h.release()
	ok = subtle.ConstantTimeCompare(got, want) == 1 && encoded != ""
	return ok, p != h.p, nil
}

// parsePHC splits an argon2id PHC string, refusing parameters no sane
// config produces (a corrupt record must not make uc allocate gigabytes).
func parsePHC(s string) (p argonParams, salt, key []byte, err error) {
	bad := func(why string) (argonParams, []byte, []byte, error) {
		return argonParams{}, nil, nil, fmt.Errorf("uc: bad password hash: %s", why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not argon2id PHC")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version " + parts[2])
	}
	var m, t, par uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(v, 10, 32)
		if perr != nil {
			return bad("param " + kv)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			par = n
		default:
			return bad("param " + k)
		}
	}
	if t < 1 || t > 100 || par < 1 || par > 255 || m < 8*par || m > 4<<20 {
		return bad("params out of range")
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return bad("salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return bad("key")
	}
	return argonParams{time: uint32(t), memKiB: uint32(m), threads: uint8(par)}, salt, key, nil
}
