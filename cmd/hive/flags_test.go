package main

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/qeetap/hive/bus"
)

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestEnvName(t *testing.T) {
	for flagName, want := range map[string]string{
		"gate-listen": "HIVE_GATE_LISTEN",
		"nats":        "HIVE_NATS",
		"data-dir":    "HIVE_DATA_DIR",
	} {
		if got := envName(flagName); got != want {
			t.Errorf("envName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestEnvTwinsFillUnsetFlagsOnly(t *testing.T) {
	fs, c := devFlags()
	env := map[string]string{
		"HIVE_NATS_LISTEN": "127.0.0.1:1", // the command line wins over this
		"HIVE_DATA_DIR":    "/tmp/from-env",
		"HIVE_LOG_LEVEL":   "DEBUG",
	}
	if err := parseFlags(fs, []string{"--nats-listen", "127.0.0.1:4333"}, lookupFrom(env), nil); err != nil {
		t.Fatal(err)
	}
	if c.NATSListen != "127.0.0.1:4333" {
		t.Errorf("nats-listen = %q: the command line must win over HIVE_NATS_LISTEN", c.NATSListen)
	}
	if c.DataDir != "/tmp/from-env" {
		t.Errorf("data-dir = %q, want the HIVE_DATA_DIR value", c.DataDir)
	}
	if c.LogLevel != "debug" {
		t.Errorf("log-level = %q, want debug", c.LogLevel)
	}
	if c.LogFormat != "text" {
		t.Errorf("log-format = %q, want the default text", c.LogFormat)
	}
}

func TestBadEnvValueNamesTheVariable(t *testing.T) {
	fs, _ := devFlags()
	err := parseFlags(fs, nil, lookupFrom(map[string]string{"HIVE_LOG_FORMAT": "xml"}), nil)
	if _, ok := err.(*usageError); !ok || !strings.Contains(err.Error(), "HIVE_LOG_FORMAT") || !strings.Contains(err.Error(), "text, json") {
		t.Fatalf("err = %v (%T), want a usage error naming HIVE_LOG_FORMAT and the allowed values", err, err)
	}
}

func TestBadCommandLine(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--log-level", "loud"},
		{"stray-argument"},
	} {
		fs, _ := devFlags()
		err := parseFlags(fs, args, lookupFrom(nil), nil)
		if _, ok := err.(*usageError); !ok {
			t.Errorf("%v: err = %v (%T), want a usage error", args, err, err)
		}
	}
}

// Every command's flag set builds (a part reusing another's flag name would
// panic here), and every flag has help text.
func TestFlagSetsBuildAndDocumentEveryFlag(t *testing.T) {
	for name, mk := range flagSets() {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("hive %s: building its flags panicked (a flag name defined twice?): %v", name, r)
				}
			}()
			fs := mk()
			fs.VisitAll(func(f *flag.Flag) {
				if strings.TrimSpace(f.Usage) == "" {
					t.Errorf("hive %s --%s has no help text", name, f.Name)
				}
			})
			// The tools (not long-running processes) have their own flags.
			switch name {
			case "tap", "client", "replay", "admin", "bench", "secrets":
				return
			}
			for _, s := range sharedNames {
				if s == "nats-listen" && name != "dev" {
					continue
				}
				if fs.Lookup(s) == nil {
					t.Errorf("hive %s lacks the shared flag --%s", name, s)
				}
			}
		}()
	}
}

// A part must not define a shared flag itself: cmd/hive owns those.
func TestPartsDoNotRedefineSharedFlags(t *testing.T) {
	for _, p := range parts() {
		fs := flag.NewFlagSet(p.name, flag.ContinueOnError)
		p.bind(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if sharedFlag(f.Name) {
				t.Errorf("part %s defines the shared flag --%s", p.name, f.Name)
			}
		})
	}
}

func TestUsageShowsEnvTwins(t *testing.T) {
	fs, _ := devFlags()
	var b strings.Builder
	fs.SetOutput(&b)
	fs.Usage()
	out := b.String()
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, "env "+envTwin(fs, f.Name)) {
			t.Errorf("usage lacks --%s or its env twin %s", f.Name, envTwin(fs, f.Name))
		}
	})
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		":8082":          "127.0.0.1:8082",
		"0.0.0.0:9000":   "127.0.0.1:9000",
		"[::]:9000":      "127.0.0.1:9000",
		"10.0.0.5:9000":  "10.0.0.5:9000",
		"localhost:4222": "localhost:4222",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

// Help shows numbers and durations bare and strings quoted.
func TestUsageDefaults(t *testing.T) {
	help := func(cmd string) string {
		fs := flagSets()[cmd]()
		var b strings.Builder
		fs.SetOutput(&b)
		fs.Usage()
		return b.String()
	}
	bench, dev := help("bench"), help("dev")
	for _, c := range []struct{ out, want, not string }{
		{bench, "(default 10)\n", `(default "10")`},               // --conns, an int
		{bench, "(default 10s)\n", `(default "10s")`},             // --duration
		{dev, "(default 1)\n", `(default "1")`},                   // --replicas
		{dev, "(default text)\n", `(default "text")`},             // --log-format, a choice
		{dev, `(default "./data")`, "(default ./data)"},           // --data-dir, a string
		{dev, `(default "127.0.0.1:4222")`, "(default 127.0.0.1"}, // --nats-listen
	} {
		if !strings.Contains(c.out, c.want) || strings.Contains(c.out, c.not) {
			t.Errorf("help shows a default as %q, want %q", c.not, c.want)
		}
	}
	// The number's type survives the parse-error wrapper: after parsing,
	// help still says "--conns int".
	fs := flagSets()["bench"]()
	var b strings.Builder
	if err := parseFlags(fs, []string{"--help"}, lookupFrom(nil), &b); err != errHelpShown {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "--conns int\n") || !strings.Contains(b.String(), "--duration duration\n") {
		t.Errorf("bench --help lost the flag types:\n%s", b.String())
	}
}

// A tool's own flags have twins scoped to the tool; process flags and the
// shared ones keep HIVE_<FLAG>.
func TestEnvTwinNames(t *testing.T) {
	admin := func(sub string) *flag.FlagSet { fs, _ := adminFlags(sub); return fs }
	for _, c := range []struct {
		fs   *flag.FlagSet
		flag string
		want string
	}{
		{admin("mail"), "to", "HIVE_ADMIN_TO"},
		{admin("mail"), "all", "HIVE_ADMIN_ALL"},
		{admin("mail"), "id", "HIVE_ADMIN_ID"},
		{admin("kick"), "timeout", "HIVE_ADMIN_TIMEOUT"},
		{admin(""), "admin-token", "HIVE_ADMIN_TOKEN"},
		{admin(""), "data-dir", "HIVE_DATA_DIR"},
		{flagSets()["bench"](), "timeout", "HIVE_BENCH_TIMEOUT"},
		{flagSets()["bench"](), "conns", "HIVE_BENCH_CONNS"},
		{flagSets()["client"](), "timeout", "HIVE_CLIENT_TIMEOUT"},
		{flagSets()["replay"](), "player", "HIVE_REPLAY_PLAYER"},
		{flagSets()["tap"](), "limit", "HIVE_TAP_LIMIT"},
		{flagSets()["tap"](), "nats", "HIVE_NATS"},
		{flagSets()["dev"](), "gate-listen", "HIVE_GATE_LISTEN"},
		{flagSets()["gate"](), "gate-listen", "HIVE_GATE_LISTEN"},
		{flagSets()["uc"](), "data-dir", "HIVE_DATA_DIR"},
	} {
		if c.fs.Lookup(c.flag) == nil {
			t.Errorf("%s has no --%s", c.fs.Name(), c.flag)
			continue
		}
		if got := envTwin(c.fs, c.flag); got != c.want {
			t.Errorf("%s --%s: twin %s, want %s", c.fs.Name(), c.flag, got, c.want)
		}
	}
}

// No two flags share an environment variable unless they are the same
// setting: the same flag of the processes, or a shared flag.
func TestEnvTwinsDoNotCollide(t *testing.T) {
	sets := map[string]*flag.FlagSet{}
	for name, mk := range flagSets() {
		sets[name] = mk()
	}
	for _, s := range adminSubcommands {
		fs, _ := adminFlags(s.name)
		sets["admin "+s.name] = fs
	}
	type owner struct{ cmd, flag string }
	seen := map[string]owner{}
	for cmd, fs := range sets {
		fs.VisitAll(func(f *flag.Flag) {
			env := envTwin(fs, f.Name)
			o, dup := seen[env]
			if !dup {
				seen[env] = owner{cmd, f.Name}
				return
			}
			same := o.flag == f.Name && (sharedFlag(f.Name) || envScope(fs) == "" && envScope(sets[o.cmd]) == "" ||
				envScope(fs) == envScope(sets[o.cmd]))
			if !same {
				t.Errorf("%s is the twin of hive %s --%s and of hive %s --%s", env, o.cmd, o.flag, cmd, f.Name)
			}
		})
	}
}

// The scoped twin sets the tool's flag; the generic name does not.
func TestToolReadsItsScopedTwin(t *testing.T) {
	fs, c := adminFlags("mail")
	env := map[string]string{"HIVE_ADMIN_TO": "10001,10002", "HIVE_TIMEOUT": "1s", "HIVE_ALL": "true"}
	if err := parseFlagsArgs(fs, nil, lookupFrom(env), nil); err != nil {
		t.Fatal(err)
	}
	if c.to != "10001,10002" || c.all || c.timeout != 30*time.Second {
		t.Errorf("to=%q all=%v timeout=%v: want HIVE_ADMIN_TO read and HIVE_ALL, HIVE_TIMEOUT ignored", c.to, c.all, c.timeout)
	}
}

// A bad number or duration names the flag, the value and an example.
func TestBadValueSaysWhatIsWanted(t *testing.T) {
	fs, _ := benchFlags()
	err := parseFlags(fs, []string{"--duration", "5x"}, lookupFrom(nil), nil)
	if _, ok := err.(*usageError); !ok || !strings.Contains(err.Error(), `--duration "5x"`) || !strings.Contains(err.Error(), "30s") || strings.Contains(err.Error(), "parse error") {
		t.Errorf("--duration 5x: %v", err)
	}
	fs, _ = benchFlags()
	err = parseFlags(fs, nil, lookupFrom(map[string]string{"HIVE_BENCH_CONNS": "many"}), nil)
	if _, ok := err.(*usageError); !ok || !strings.Contains(err.Error(), "HIVE_BENCH_CONNS") || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("HIVE_BENCH_CONNS=many: %v", err)
	}
	fs, _ = tapFlags()
	err = parseFlags(fs, []string{"--from-start=maybe"}, lookupFrom(nil), nil)
	if err == nil || !strings.Contains(err.Error(), "want true or false") {
		t.Errorf("--from-start=maybe: %v", err)
	}
}

// The store flags (--partitions, --events-dedup-window, or their
// environment variables) reach the store config, within their bounds.
func TestStoreFlags(t *testing.T) {
	def := bus.StoreConfig{Replicas: 1, Partitions: 1, Duplicates: bus.DefaultDuplicates}
	with := func(f func(*bus.StoreConfig)) bus.StoreConfig { c := def; f(&c); return c }
	for _, c := range []struct {
		args []string
		env  map[string]string
		want bus.StoreConfig // zero: a usage error naming bad
		bad  string
	}{
		{nil, nil, def, ""},
		{[]string{"--partitions", "4"}, nil, with(func(c *bus.StoreConfig) { c.Partitions = 4 }), ""},
		{nil, map[string]string{"HIVE_PARTITIONS": "3"}, with(func(c *bus.StoreConfig) { c.Partitions = 3 }), ""},
		{[]string{"--partitions", "0"}, nil, bus.StoreConfig{}, "--partitions"},
		{[]string{"--partitions", "17"}, nil, bus.StoreConfig{}, "--partitions"},
		{[]string{"--events-dedup-window", "2m"}, nil, with(func(c *bus.StoreConfig) { c.Duplicates = 2 * time.Minute }), ""},
		{nil, map[string]string{"HIVE_EVENTS_DEDUP_WINDOW": "90s"}, with(func(c *bus.StoreConfig) { c.Duplicates = 90 * time.Second }), ""},
		{[]string{"--events-dedup-window", "30s"}, nil, bus.StoreConfig{}, "--events-dedup-window"},
		{[]string{"--events-dedup-window", "0"}, nil, bus.StoreConfig{}, "--events-dedup-window"},
	} {
		var cm common
		fs := flag.NewFlagSet("game", flag.ContinueOnError)
		cm.register(fs, "game")
		if err := parseFlags(fs, c.args, lookupFrom(c.env), nil); err != nil {
			t.Fatalf("%v %v: %v", c.args, c.env, err)
		}
		sc, err := cm.storeConfig()
		if c.bad != "" {
			if _, ok := err.(*usageError); !ok || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("%v: got %v, want a usage error naming %s", c.args, err, c.bad)
			}
			continue
		}
		if err != nil || sc != c.want {
			t.Errorf("%v %v: %+v, %v; want %+v", c.args, c.env, sc, err, c.want)
		}
	}
}
