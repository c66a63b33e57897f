package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ServerConfigFile is the name of the generated nats-server configuration
// (its authorization block) in a secrets directory.
const ServerConfigFile = "nats-server.conf"

// credsExt ends a role's credentials file: the role's nkey seed.
const credsExt = ".nk"

// prevSuffix marks the seed a rotation replaced; its public key stays
// allowed until the file is removed and the config written again.
const prevSuffix = ".prev"

// Secrets is a directory of NATS identities: one nkey seed per role
// (<role>.nk, mode 0600), the seeds a rotation replaced (<role>.prev.nk)
// and nats-server.conf, whose authorization block lists every public key
// with its role's permissions. The config holds no secret.
type Secrets struct {
	// Dir is the directory.
	Dir string
	// keys maps each role to its public keys, current first.
	keys map[Role][]string
}

// CredsFile is the path of role r's credentials (its nkey seed): what
// --nats-creds takes.
func (s *Secrets) CredsFile(r Role) string { return CredsPath(s.Dir, r) }

// CredsPath is role r's credentials file in the secrets directory dir.
func CredsPath(dir string, r Role) string { return filepath.Join(dir, string(r)+credsExt) }

// ConfigFile is the path of the generated server configuration.
func (s *Secrets) ConfigFile() string { return filepath.Join(s.Dir, ServerConfigFile) }

// InitSecrets makes dir a complete secrets directory: it keeps every seed
// already there, generates the missing ones, replaces the seeds of the roles
// in rotate (the old one kept as <role>.prev.nk, still allowed), and writes
// nats-server.conf from the current permission table. Running it again is
// safe: it changes only what is missing or asked for, and refreshes the
// config (so an upgrade that changes a role's permissions takes effect on
// the server's next reload).
func InitSecrets(dir string, rotate ...Role) (*Secrets, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bus: secrets dir: %w", err)
	}
	for _, r := range rotate {
		if _, ok := ParseRole(string(r)); !ok {
			return nil, fmt.Errorf("bus: rotate: unknown role %q", r)
		}
		cur := CredsPath(dir, r)
		if _, err := os.Stat(cur); err == nil {
			if err := os.Rename(cur, filepath.Join(dir, string(r)+prevSuffix+credsExt)); err != nil {
				return nil, fmt.Errorf("bus: rotate %s: %w", r, err)
			}
		}
	}
	for _, r := range Roles {
		path := CredsPath(dir, r)
		if _, err := os.Stat(path); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bus: secrets: %w", err)
		}
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, fmt.Errorf("bus: new nkey for %s: %w", r, err)
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(path, append(seed, '\n'), 0o600); err != nil {
			return nil, fmt.Errorf("bus: secrets: %w", err)
		}
	}
	s, err := LoadSecrets(dir)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(s.ConfigFile(), s.ServerConfig(), 0o644); err != nil {
		return nil, fmt.Errorf("bus: secrets: %w", err)
	}
	return s, nil
}

// LoadSecrets reads the seeds of a secrets directory (InitSecrets). Every
// role must have one.
func LoadSecrets(dir string) (*Secrets, error) {
	s := &Secrets{Dir: dir, keys: map[Role][]string{}}
	for _, r := range Roles {
		for _, name := range []string{string(r) + credsExt, string(r) + prevSuffix + credsExt} {
			path := filepath.Join(dir, name)
			pub, err := publicKeyOf(path)
			if errors.Is(err, fs.ErrNotExist) && name != string(r)+credsExt {
				continue // no rotation under way
			}
			if err != nil {
				return nil, fmt.Errorf("bus: secrets %s: %w", dir, err)
			}
			s.keys[r] = append(s.keys[r], pub)
		}
	}
	return s, nil
}

// publicKeyOf returns the public key of the user seed in path.
func publicKeyOf(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("%s: not a user nkey seed", path)
	}
	return pub, nil
}

// Users is the authorization of the server: every role's public keys, each
// with the role's permissions. The embedded server takes it as is;
// ServerConfig writes the same for nats-server.
func (s *Secrets) Users() []*server.NkeyUser {
	var out []*server.NkeyUser
	for _, r := range Roles {
		for _, pub := range s.keys[r] {
			out = append(out, &server.NkeyUser{Nkey: pub, Permissions: Permissions(r)})
		}
	}
	return out
}

// confPerms is a permission set as nats-server's configuration spells it.
type confPerms struct {
	Publish        *server.SubjectPermission `json:"publish,omitempty"`
	Subscribe      *server.SubjectPermission `json:"subscribe,omitempty"`
	AllowResponses *confResponses            `json:"allow_responses,omitempty"`
}

type confResponses struct {
	Max     int    `json:"max"`
	Expires string `json:"expires"`
}

type confUser struct {
	Nkey        string    `json:"nkey"`
	Permissions confPerms `json:"permissions"`
}

// ServerPingInterval and ServerMaxPingsOut are the ping_interval and
// ping_max ServerConfig sets: how soon a server gives up on a client or a
// route to another server that stopped answering.
const (
	ServerPingInterval = time.Second
	ServerMaxPingsOut  = 3
)

// ServerConfig renders the authorization block for nats-server (its
// configuration language reads JSON): include it from the server's own
// configuration, or start `nats-server -c nats-server.conf -js ...`.
func (s *Secrets) ServerConfig() []byte {
	var b bytes.Buffer
	b.WriteString("# Hive's NATS identities, written by `hive secrets init`: one nkey user per\n" +
		"# role with that role's permissions (bus.Permissions). No secret is in this\n" +
		"# file; the seeds are the <role>.nk files beside it. Regenerate it with\n" +
		"# `hive secrets init` after an upgrade or a rotation, then reload the server\n" +
		"# (nats-server --signal reload, or SIGHUP).\n")
	for _, r := range Roles {
		fmt.Fprintf(&b, "#   %-6s %s\n", r, strings.Join(s.keys[r], ", "))
	}
	var users []confUser
	for _, u := range s.Users() {
		p := confPerms{Publish: u.Permissions.Publish, Subscribe: u.Permissions.Subscribe}
		if rp := u.Permissions.Response; rp != nil {
			p.AllowResponses = &confResponses{Max: rp.MaxMsgs, Expires: rp.Expires.String()}
		}
		users = append(users, confUser{Nkey: u.Nkey, Permissions: p})
	}
	// nats-server pings clients and routes every 2 minutes (routes at most
	// every 30 s): a frozen peer kept its subscriptions, direct gets of a
	// replicated stream among them, for a minute or more. With these a
	// server drops a frozen route or client within 3 to 4 s.
	fmt.Fprintf(&b, "ping_interval: %q\nping_max: %d\n", ServerPingInterval.String(), ServerMaxPingsOut)
	b.WriteString("authorization ")
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the configuration language knows no \u escapes; '>' must stay '>'
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{"users": users})
	return b.Bytes()
}

// writeFileAtomic writes path through a temporary file and a rename, so a
// reader never sees half a seed or half a config.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CredsOption is the nats.Option that authenticates with the credentials
// in file: an nkey seed (what `hive secrets init` writes), or a .creds file
// (user JWT and seed) for a server using decentralised JWT auth. The seed is
// read once, so replacing the file (a rotation) does not change the
// identity of a running process: it changes when the process restarts.
func CredsOption(file string) (nats.Option, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("bus: nats credentials: %w", err)
	}
	defer wipe(b)
	if bytes.Contains(b, []byte("BEGIN NATS USER JWT")) {
		return nats.UserCredentials(file), nil
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, fmt.Errorf("bus: nats credentials %s: %w", file, err)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, fmt.Errorf("bus: nats credentials %s: not a user nkey seed", file)
	}
	return nats.Nkey(pub, kp.Sign), nil
}

// wipe overwrites a buffer that held a seed.
func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}
