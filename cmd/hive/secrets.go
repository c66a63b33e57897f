package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/bus"
)

// secretsDir is where `hive dev` keeps its NATS identities inside
// --data-dir, and where every command looks for its role's credentials
// when --nats-creds is empty.
const secretsDir = "secrets"

// secretsConfig is what `hive secrets`'s flags parse into.
type secretsConfig struct {
	rotate string
}

// secretsFlags is the FlagSet of `hive secrets init`.
func secretsFlags() (*flag.FlagSet, *secretsConfig) {
	c := &secretsConfig{}
	roles := make([]string, len(bus.Roles))
	for i, r := range bus.Roles {
		roles[i] = string(r)
	}
	fs := newFlagSet("secrets", "Usage: hive secrets init [flags] DIR\n\n"+
		"Writes a deployment's NATS identities into DIR: one nkey seed per role ("+strings.Join(roles, ", ")+"),\n"+
		"DIR/<role>.nk (mode 0600), for that role's --nats-creds, and DIR/"+bus.ServerConfigFile+", the nats-server\n"+
		"authorization block granting each role's public key exactly its subjects (no secret in it).\n"+
		"Seeds already in DIR are kept; running it again refreshes the config (after an upgrade).\n"+
		"Then: nats-server -c DIR/"+bus.ServerConfigFile+" -js ... (or include it), and give each process its file.\n"+
		"Rotation: --rotate ROLE writes a new seed and keeps the old one as DIR/<role>.prev.nk, still\n"+
		"allowed; reload nats-server, restart that role's processes, then delete <role>.prev.nk, run\n"+
		"init again and reload (SECURITY.md, \"Rotating keys and credentials\").")
	fs.StringVar(&c.rotate, "rotate", "", "roles to give a new seed, comma-separated (their old key stays allowed until <role>.prev.nk is deleted)")
	return fs, c
}

// runSecrets is `hive secrets init DIR`.
func runSecrets(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		if len(args) > 0 && strings.HasPrefix(args[0], "-") {
			fs, _ := secretsFlags()
			if err := parseFlagsArgs(fs, args, os.LookupEnv, stdout); err != nil {
				return err
			}
		}
		return usagef("give a subcommand: hive secrets init DIR (see --help)")
	}
	fs, c := secretsFlags()
	pos, err := parseInterleaved(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give one directory: hive secrets init DIR")
	}
	var rotate []bus.Role
	if c.rotate != "" {
		for _, name := range strings.Split(c.rotate, ",") {
			r, ok := bus.ParseRole(strings.TrimSpace(name))
			if !ok {
				return usagef("--rotate: unknown role %q (roles: %v)", name, bus.Roles)
			}
			rotate = append(rotate, r)
		}
	}
	s, err := bus.InitSecrets(pos[0], rotate...)
	if err != nil {
		return err
	}
	out := map[string]any{"dir": s.Dir, "server_config": s.ConfigFile()}
	creds := map[string]string{}
	for _, r := range bus.Roles {
		creds[string(r)] = s.CredsFile(r)
	}
	out["creds"] = creds
	return printJSON(stdout, out)
}

// natsCreds resolves a command's credentials for role: the --nats-creds
// file when given, else <dataDir>/secrets/<role>.nk when it exists, else
// none (an open NATS). It returns the options to connect with.
func natsCreds(flagVal, dataDir string, role bus.Role) ([]nats.Option, error) {
	file := flagVal
	if file == "" {
		file = bus.CredsPath(filepath.Join(dataDir, secretsDir), role)
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	opt, err := bus.CredsOption(file)
	if err != nil {
		return nil, usagef("--nats-creds: %v", err)
	}
	return []nats.Option{opt}, nil
}

// explainAuth says what to do about a connection NATS refused for want of
// credentials.
func explainAuth(err error, role bus.Role) error {
	if err != nil && (errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization")) {
		return fmt.Errorf("%w (this NATS wants credentials: give --nats-creds with the %s role's file, or --data-dir of a `hive dev`)", err, role)
	}
	return err
}
