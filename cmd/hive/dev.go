package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/obs"
	"github.com/qeetap/hive/tools/admin"
	"github.com/qeetap/hive/uc"
)

// runDev is `hive dev`: everything in one process (DESIGN §7).
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := devFlags()
	if err := parseFlags(fs, args, os.LookupEnv, stdout); err != nil {
		return err
	}
	log, err := obs.NewLoggerTo(stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return usagef("%v", err)
	}
	sc, err := c.storeConfig()
	if err != nil {
		return err
	}
	if err := c.checkTTLs(); err != nil {
		return err
	}
	if c.NATS == "" && sc.Replicas != 1 {
		return usagef("--replicas %d: the embedded NATS is one server, so 1 (use --nats for a cluster)", sc.Replicas)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// The data dir's lock, then the ports, before anything is opened: a
	// second `hive dev` must fail without touching the first one's store.
	lock, err := lockDataDir(c.DataDir)
	if err != nil {
		return err
	}
	defer lock.release()
	var skip []string
	if c.NATS != "" { // no embedded server: --nats-listen is unused
		skip = append(skip, "nats-listen")
	}
	if err := checkPorts(fs, skip...); err != nil {
		return err
	}
	restarted := exists(filepath.Join(c.DataDir, "nats")) || exists(filepath.Join(c.DataDir, "uc.key"))
	ctx, stopWatch := stopWithGoRun(ctx, log)
	defer stopWatch()

	adminToken, err := devAdminToken(fs, c.DataDir)
	if err != nil {
		return err
	}
	setDevDefaults(fs)

	// NATS: the embedded server unless --nats points elsewhere. The
	// embedded one runs with the identities and permissions of production
	// (their seeds in <data-dir>/secrets, kept across restarts), and each
	// part connects as its own role, so a missing permission fails here first.
	var emb *bus.Embedded
	var connect func(bus.Role) (*nats.Conn, error)
	natsURL := c.NATS
	if c.NATS == "" {
		sec, err := bus.InitSecrets(filepath.Join(c.DataDir, secretsDir))
		if err != nil {
			return err
		}
		// nats-server's notices are many; show its warnings and errors only,
		// unless debugging.
		natsLevel := "warn"
		if c.LogLevel == "debug" {
			natsLevel = "info"
		}
		nlog, _ := obs.NewLoggerTo(stderr, c.LogFormat, natsLevel)
		emb, err = bus.StartEmbedded(bus.EmbeddedConfig{
			StoreDir: filepath.Join(c.DataDir, "nats"),
			Listen:   c.NATSListen,
			Logger:   nlog,
			Users:    sec.Users(),
		})
		if err != nil {
			return err
		}
		defer emb.Shutdown() // last: after every part and its connection
		natsURL = emb.ClientURL()
		connect = func(r bus.Role) (*nats.Conn, error) {
			creds, err := bus.CredsOption(sec.CredsFile(r))
			if err != nil {
				return nil, err
			}
			return emb.Connect("hive-dev-"+string(r), creds)
		}
	} else {
		connect = func(r bus.Role) (*nats.Conn, error) {
			creds, err := natsCreds(c.NATSCreds, c.DataDir, r)
			if err != nil {
				return nil, err
			}
			return bus.Connect(c.NATS, "hive-dev-"+string(r), append(creds, nats.PingInterval(c.NATSPingInterval))...)
		}
	}
	return serve(ctx, c, connect, log, true, func(d deps, up []running, ms *obs.Server, conns map[bus.Role]*nats.Conn) (func(), error) {
		// `hive admin gates` asks the in-process registry over NATS (a
		// cluster's gates are in etcd instead); uc, which picks gates from
		// the registry, answers.
		stop := func() {}
		if nc := conns[bus.RoleUC]; nc != nil {
			gatesSub, err := admin.ServeGates(nc, adminToken, d.Registry)
			if err != nil {
				return nil, fmt.Errorf("admin.gates: %w", err)
			}
			stop = func() { gatesSub.Unsubscribe() }
		}
		printDevBanner(stdout, c, natsURL, up, ms, restarted)
		if adminToken != "" {
			fmt.Fprintf(stdout, "Operator commands: go run ./cmd/hive admin --help (token in %s, or --game-admin-token)\n", filepath.Join(c.DataDir, adminTokenFile))
		}
		log.Info("hive dev ready", "data_dir", c.DataDir, "nats", natsURL)
		return stop, nil
	})
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// devAdminToken is the game's --game-admin-token inside `hive dev`: the one
// given, or else the token in <data-dir>/admin.token (generated on first
// use), so `hive admin --data-dir` works against dev out of the box. It is
// set on fs so the game part reads it. "" when no part has that flag.
func devAdminToken(fs *flag.FlagSet, dataDir string) (string, error) {
	f := fs.Lookup("game-admin-token")
	if f == nil {
		return "", nil
	}
	if tok := f.Value.String(); tok != "" {
		return tok, nil
	}
	tok, err := loadOrCreateAdminToken(filepath.Join(dataDir, adminTokenFile))
	if err != nil {
		return "", err
	}
	return tok, fs.Set("game-admin-token", tok)
}

// devDefaults are the flags whose default differs in `hive dev`, each
// applied unless given:
//   - gate-ws-origins: the demo page at /play/, served by uc on another
//     port than the gate's WebSocket, must open it; a page still needs a
//     token from uc, whose answers other origins cannot read without
//     --uc-cors-origins.
//   - game-reads-from-cache: dev's one game worker is every player's only
//     writer, so its own cache is always current.
var devDefaults = map[string]string{
	"gate-ws-origins":       "*",
	"game-reads-from-cache": "true",
}

// setDevDefaults sets devDefaults on fs where the command line did not.
func setDevDefaults(fs *flag.FlagSet) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, v := range devDefaults {
		if fs.Lookup(name) != nil && !given[name] {
			_ = fs.Set(name, v)
		}
	}
}

// printDevBanner tells a newcomer where everything is and what to try first;
// restarted is true when the data dir held a store or key from an earlier run.
func printDevBanner(w io.Writer, c *config, natsURL string, up []running, ms *obs.Server, restarted bool) {
	addr := map[string]string{}
	for _, r := range up {
		addr[r.name] = dialable(r.svc.Addr())
	}
	fmt.Fprintf(w, "hive dev: running (data in %s)\n", c.DataDir)
	if natsURL == "" {
		fmt.Fprintf(w, "  nats     in-process only (set --nats-listen to reach it)\n")
	} else {
		fmt.Fprintf(w, "  nats     %s\n", natsURL)
	}
	for _, r := range up {
		a := addr[r.name]
		if a == "" {
			a = "running (no listener: NATS only)"
		}
		fmt.Fprintf(w, "  %-8s %s\n", r.name, a)
		if ws, ok := r.svc.(interface{ WSURL() string }); ok && ws.WSURL() != "" {
			fmt.Fprintf(w, "  %-8s %s\n", r.name+"-ws", ws.WSURL())
		}
	}
	if ms != nil {
		fmt.Fprintf(w, "  metrics  http://%s/metrics\n", dialable(ms.Addr()))
	}
	if a, ok := addr["uc"]; ok {
		fmt.Fprintf(w, "  play     http://%s%s/ (the demo game page, in a browser)\n", a, uc.PlayPath)
	}
	if uc, ok := addr["uc"]; ok && restarted {
		// The players registered before are still there: registering the
		// same name again would only answer "username taken".
		fmt.Fprintf(w, "\nThe data dir keeps the players registered before. Log in as one of them:\n")
		fmt.Fprintf(w, "  go run ./cmd/hive client --uc http://%s login lisp secret-lisp-1\n", uc)
		fmt.Fprintf(w, "or register another name:\n")
		fmt.Fprintf(w, "  curl -X POST -d 'username=NAME&password=PASSWORD' http://%s/v1/account/registry\n", uc)
	} else if ok {
		fmt.Fprintf(w, "\nTry it:\n")
		fmt.Fprintf(w, "  curl -X POST -d 'username=lisp&password=secret-lisp-1' http://%s/v1/account/registry\n", uc)
		fmt.Fprintf(w, "  go run ./cmd/hive client --uc http://%s login lisp secret-lisp-1\n", uc)
	}
	if natsURL != "" {
		fmt.Fprintf(w, "\nWatch the events: go run ./cmd/hive tap --nats %s --data-dir %s\n", natsURL, c.DataDir)
		fmt.Fprintf(w, "  (the tools find their NATS credentials in %s)\n", filepath.Join(c.DataDir, secretsDir))
	}
	fmt.Fprintf(w, "Ctrl-C drains and stops.\n")
}
