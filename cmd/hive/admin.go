package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/game"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/tools/admin"
)

// adminTokenFile is where `hive dev` keeps the admin token it generated
// (inside --data-dir) and where `hive admin` looks when --admin-token is empty.
const adminTokenFile = "admin.token"

// adminSubcommands are the subcommands of `hive admin`, in help order.
var adminSubcommands = []struct{ name, args, summary string }{
	{"mail", "--to ID[,ID...] | --all --title T --content C [--items idx:num,...]", "send an operator mail (attachments claimable once)"},
	{"gates", "[--etcd URLS]", "list the live gates with their load"},
	{"kick", "ID [--reason R]", "close every session of a player on every gate (exit 1 if no such player)"},
	{"player", "ID", "a player's state (rebuilt from its events) and online/offline"},
}

// adminConfig is what `hive admin`'s flags parse into.
type adminConfig struct {
	nats    string
	creds   string
	token   string
	dataDir string
	etcd    string
	timeout time.Duration
	// mail
	to, title, content, items, id string
	all                           bool
	// kick
	reason string
}

// adminFlags is the FlagSet of `hive admin <sub>`; sub "" is the flags every
// subcommand shares (what `hive admin --help` shows).
func adminFlags(sub string) (*flag.FlagSet, *adminConfig) {
	c := &adminConfig{}
	var b strings.Builder
	b.WriteString("Operator commands. Usage: hive admin <subcommand> [flags] [args]\n")
	for _, s := range adminSubcommands {
		fmt.Fprintf(&b, "  %-7s %s\n          %s\n", s.name, s.args, s.summary)
	}
	b.WriteString("Each prints one JSON object. Authorisation: mail and gates present the admin token, which must\n" +
		"equal the game's --game-admin-token (HIVE_GAME_ADMIN_TOKEN). `hive dev` without one generates it\n" +
		"into <data-dir>/" + adminTokenFile + ", which `hive admin` reads when --admin-token is empty.\n" +
		"NATS identity: mail, gates and kick connect as the admin role (--nats-creds admin.nk), player as\n" +
		"the read-only tools role (tools.nk; admin.nk works too); empty = <data-dir>/secrets/<role>.nk.\n" +
		"gates: `hive dev` answers it on NATS; in a cluster give --etcd (gates live in etcd).")
	name := "admin"
	if sub != "" {
		name += " " + sub
	}
	fs := newFlagSet(name, b.String())
	fs.StringVar(&c.nats, "nats", defaultToolNATS, "NATS URL(s), comma-separated")
	fs.StringVar(&c.token, "admin-token", "", "the admin credential (= the game's --game-admin-token); empty = read <data-dir>/"+adminTokenFile)
	fs.StringVar(&c.dataDir, "data-dir", "./data", "the data dir of a hive dev run, to read its generated "+adminTokenFile+" and NATS credentials (secrets/) from")
	natsCredsFlag(fs, &c.creds)
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "time limit for the command (a mail to --all waits for every delivery)")
	switch sub {
	case "mail":
		fs.StringVar(&c.to, "to", "", "recipients: player ids, comma-separated")
		fs.BoolVar(&c.all, "all", false, "send to every player that exists (instead of --to)")
		fs.StringVar(&c.title, "title", "", fmt.Sprintf("mail title, at most %d characters", game.MaxMailTitleRunes))
		fs.StringVar(&c.content, "content", "", fmt.Sprintf("mail text, at most %d characters", game.MaxMailContentRunes))
		fs.StringVar(&c.items, "items", "", fmt.Sprintf("attachments, idx:num comma-separated, e.g. 100:10,101:5 for 10 gold and 5 diamonds (at most %d)", game.MaxMailItems))
		fs.StringVar(&c.id, "id", "", "mail id making a re-send idempotent (players who got this id are skipped); empty = a new one")
	case "gates":
		fs.StringVar(&c.etcd, "etcd", "", "etcd endpoints of a cluster, comma-separated; empty = ask hive dev over NATS")
	case "kick":
		fs.StringVar(&c.reason, "reason", admin.KickReason, "reason the kicked client is told")
	}
	return fs, c
}

// runAdmin is `hive admin`.
func runAdmin(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs, _ := adminFlags("")
		if err := parseFlagsArgs(fs, args, os.LookupEnv, stdout); err != nil {
			return err
		}
		return usagef("give a subcommand: hive admin mail|gates|kick|player (see --help)")
	}
	sub := args[0]
	known := false
	for _, s := range adminSubcommands {
		known = known || s.name == sub
	}
	if !known {
		return usagef("unknown subcommand %q: want mail, gates, kick or player", sub)
	}
	fs, c := adminFlags(sub)
	pos, err := parseInterleaved(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	switch sub {
	case "mail":
		return adminMail(ctx, c, pos, stdout)
	case "gates":
		return adminGates(ctx, c, pos, stdout)
	}
	// kick and player: one player id, straight on NATS.
	uid, err := onePlayerArg(sub, pos)
	if err != nil {
		return err
	}
	role := bus.RoleAdmin // kick publishes on user.*
	if sub == "player" {
		role = bus.RoleTools // read-only
	}
	nc, err := connectTool(c.nats, "hive-admin", c.creds, c.dataDir, role)
	if err != nil {
		return err
	}
	defer nc.Close()
	if sub == "kick" {
		if err := admin.KickPlayer(ctx, nc, uid, c.reason); err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"kicked": uid, "reason": c.reason})
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	st, err := admin.Player(ctx, js, uid)
	if err != nil {
		return err
	}
	return printJSON(stdout, st)
}

// parseInterleaved parses flags and positional arguments in any order
// (`kick 10001 --reason x` as well as `kick --reason x 10001`).
func parseInterleaved(fs *flag.FlagSet, args []string, helpOut io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseFlagsArgs(fs, args, os.LookupEnv, helpOut); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// onePlayerArg is the single player id argument of kick and player.
func onePlayerArg(sub string, pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, usagef("give one player id: hive admin %s ID", sub)
	}
	uid, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || uid <= 0 {
		return 0, usagef("%q is not a player id (a number > 0)", pos[0])
	}
	return uid, nil
}

// adminToken is --admin-token, or else the token `hive dev` generated in
// --data-dir. Empty with neither is a usage error.
func (c *adminConfig) adminToken() (string, error) {
	if c.token != "" {
		return c.token, nil
	}
	path := filepath.Join(c.dataDir, adminTokenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", usagef("no admin token: give --admin-token (HIVE_ADMIN_TOKEN, the game's --game-admin-token), or --data-dir of a `hive dev` (no %s there)", path)
	}
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", usagef("%s is empty: give --admin-token", path)
	}
	return tok, nil
}

// adminMail is `hive admin mail`.
func adminMail(ctx context.Context, c *adminConfig, pos []string, stdout io.Writer) error {
	if len(pos) > 0 {
		return usagef("unexpected argument %q (mail takes flags only)", pos[0])
	}
	req := game.MailRequest{ID: c.id, All: c.all, Title: c.title, Content: c.content}
	switch {
	case c.all && c.to != "":
		return usagef("give --to or --all, not both")
	case !c.all && c.to == "":
		return usagef("give the recipients: --to ID[,ID...] or --all")
	case c.title == "" && c.content == "":
		return usagef("a mail needs --title or --content")
	}
	if c.to != "" {
		ids, err := admin.ParseIDs(c.to)
		if err != nil {
			return usagef("--to: %v", err)
		}
		req.To = ids
	}
	items, err := admin.ParseItems(c.items)
	if err != nil {
		return usagef("--items: %v", err)
	}
	req.Items = items
	tok, err := c.adminToken()
	if err != nil {
		return err
	}
	nc, err := connectTool(c.nats, "hive-admin", c.creds, c.dataDir, bus.RoleAdmin)
	if err != nil {
		return err
	}
	defer nc.Close()
	res, err := game.SendMail(ctx, nc, tok, req)
	if errors.Is(err, nats.ErrNoResponders) {
		return errors.New("no game worker answers admin.mail on this NATS")
	}
	if res != nil {
		if perr := printJSON(stdout, res); perr != nil {
			return perr
		}
	}
	if err != nil {
		return err
	}
	if len(res.Failed) > 0 {
		return fmt.Errorf("mail %s did not reach %d recipient(s) (see failed)", res.ID, len(res.Failed))
	}
	return nil
}

// gateLoad is one line of `hive admin gates`: the registry entry and its load.
type gateLoad struct {
	registry.Gate
	// Load is conns/capacity (conns when the capacity is unlimited).
	Load float64 `json:"load"`
}

// adminGates is `hive admin gates`.
func adminGates(ctx context.Context, c *adminConfig, pos []string, stdout io.Writer) error {
	if len(pos) > 0 {
		return usagef("unexpected argument %q (gates takes flags only)", pos[0])
	}
	var gates []registry.Gate
	if c.etcd != "" {
		reg, err := openRegistry(c.etcd, 0, 0, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		gates = reg.Gates()
		reg.Close()
	} else {
		tok, err := c.adminToken()
		if err != nil {
			return err
		}
		nc, err := connectTool(c.nats, "hive-admin", c.creds, c.dataDir, bus.RoleAdmin)
		if err != nil {
			return err
		}
		defer nc.Close()
		if gates, err = admin.GatesOverBus(ctx, nc, tok); err != nil {
			return err
		}
	}
	out := struct {
		Gates []gateLoad `json:"gates"`
	}{Gates: []gateLoad{}}
	for _, g := range gates {
		out.Gates = append(out.Gates, gateLoad{Gate: g, Load: g.Load()})
	}
	return printJSON(stdout, out)
}

// printJSON writes v as one JSON line.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// loadOrCreateAdminToken returns the token in path, generating a random one
// (mode 0600) when the file does not exist: `hive dev`'s admin credential
// when --game-admin-token is not given, kept across restarts.
func loadOrCreateAdminToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("admin token: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok, nil
}
