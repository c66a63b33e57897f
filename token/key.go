package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// LoadOrCreateKey reads an Ed25519 private key (PKCS#8 PEM) from path, or
// generates one and writes it there (mode 0600) when the file does not exist.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("token: generate key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("token: encode key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("token: key dir: %w", err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("token: write key: %w", err)
		}
		if _, err := f.Write(pemBytes); err != nil {
			f.Close()
			return nil, fmt.Errorf("token: write key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("token: write key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token: read key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("token: %s: not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("token: %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token: %s: not an Ed25519 key", path)
	}
	return ek, nil
}

// EncodePublicKey renders a public key as PKIX PEM, the form stored in etcd
// at /hive/keys/<kid> and accepted by --token-public-key.
func EncodePublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ExpiresHeader is the PEM header of a published public key that says until
// when it may verify tokens (RFC 3339). Decoders that do not know it (older
// gates) ignore it.
const ExpiresHeader = "Expires"

// EncodePublishedKey renders pub as EncodePublicKey does, with an Expires
// header when expires is not zero: the form uc publishes at /hive/keys/<kid>.
func EncodePublishedKey(pub ed25519.PublicKey, expires time.Time) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	blk := &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	if !expires.IsZero() {
		blk.Headers = map[string]string{ExpiresHeader: expires.UTC().Format(time.RFC3339)}
	}
	return pem.EncodeToMemory(blk), nil
}

// DecodePublishedKey parses a PKIX PEM Ed25519 public key and its Expires
// header; expires is zero when the PEM has none (the key never expires).
func DecodePublishedKey(b []byte) (pub ed25519.PublicKey, expires time.Time, err error) {
	pub, err = DecodePublicKey(b)
	if err != nil {
		return nil, time.Time{}, err
	}
	blk, _ := pem.Decode(b)
	if v, ok := blk.Headers[ExpiresHeader]; ok {
		if expires, err = time.Parse(time.RFC3339, v); err != nil {
			return nil, time.Time{}, fmt.Errorf("token: bad %s header %q", ExpiresHeader, v)
		}
	}
	return pub, expires, nil
}

// DecodePublicKey parses a PKIX PEM Ed25519 public key (headers ignored).
func DecodePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("token: not a PEM PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("token: not an Ed25519 public key")
	}
	return ek, nil
}

// CreatedHeader is the PEM header of a private key file that says when the
// key was made (RFC 3339); uc rotates a key once it is old enough. A file
// without it (written by an older uc) is dated by its modification time.
const CreatedHeader = "Created"

// LoadKeyFile reads an Ed25519 private key as LoadOrCreateKey does, with the
// time it was created. ok is false when the file does not exist.
func LoadKeyFile(path string) (key ed25519.PrivateKey, created time.Time, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("token: read key: %w", err)
	}
	if key, err = LoadOrCreateKey(path); err != nil {
		return nil, time.Time{}, false, err
	}
	blk, _ := pem.Decode(b)
	if v, has := blk.Headers[CreatedHeader]; has {
		if created, err = time.Parse(time.RFC3339, v); err != nil {
			return nil, time.Time{}, false, fmt.Errorf("token: %s: bad %s header %q", path, CreatedHeader, v)
		}
		return key, created, true, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("token: %w", err)
	}
	return key, st.ModTime(), true, nil
}

// WriteNewKey generates an Ed25519 private key created at now and puts it at
// path, replacing any key there in one rename (mode 0600), so a process
// reading the file sees the old key or the new one, never a mix.
func WriteNewKey(path string, now time.Time) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("token: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("token: encode key: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der,
		Headers: map[string]string{CreatedHeader: now.UTC().Format(time.RFC3339)}})
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token: key dir: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".new*")
	if err != nil {
		return nil, fmt.Errorf("token: write key: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(pemBytes)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("token: write key: %w", werr)
	}
	return key, nil
}
