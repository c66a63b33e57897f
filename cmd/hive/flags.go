package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/obs"
	"github.com/qeetap/hive/registry"
)

// errHelpShown: --help was asked for and printed; exit 0.
var errHelpShown = errors.New("help shown")

// common holds the flags cmd/hive itself defines (DESIGN §8), shared by the
// long-running commands; the parts (uc, gate, game) register their own.
type common struct {
	NATS          string
	NATSCreds     string
	NATSListen    string // dev only
	Etcd          string
	Redis         string
	DataDir       string
	MetricsListen string
	LogFormat     string
	LogLevel      string
	// Replicas of the EVENTS stream and KV buckets (1 in dev, 3 on a
	// 3-node NATS cluster). Every writer passes it to bus.EnsureStore, so a
	// process started with the wrong value would change the stream: set it
	// the same everywhere.
	Replicas int
	// Partitions is the number of event streams the players are spread
	// over (bus.StoreConfig.Partitions): fixed when the store is created,
	// and a writer with another number is refused at start.
	Partitions int
	// GateLeaseTTL and EtcdSessionTTL are the etcd registry's lease TTLs:
	// of a gate's entry, and of a game leader's election session.
	GateLeaseTTL   time.Duration
	EtcdSessionTTL time.Duration
	// NATSPingInterval paces the pings that find a frozen NATS server.
	NATSPingInterval time.Duration
	// DedupWindow is how long the event streams remember each event's
	// Nats-Msg-Id (bus.StoreConfig.Duplicates); like Replicas, every
	// writer sets it on the streams, so set it the same everywhere.
	DedupWindow time.Duration
}

// sharedNames are the flags defined here rather than by a part; no part may reuse them.
var sharedNames = []string{"nats", "nats-creds", "nats-listen", "etcd", "redis", "data-dir", "metrics-listen", "log-format", "log-level", "replicas", "gate-lease-ttl", "etcd-session-ttl", "nats-ping-interval", "partitions", "events-dedup-window"}

// sharedFlag reports whether name is one of sharedNames.
func sharedFlag(name string) bool { return slices.Contains(sharedNames, name) }

// register adds the shared flags to fs for command cmd. dev adds
// --nats-listen and describes the empty defaults as the in-process
// replacements.
func (c *common) register(fs *flag.FlagSet, cmd string) {
	if cmd == "dev" {
		fs.StringVar(&c.NATS, "nats", "", "NATS URL(s), comma-separated; empty = start the embedded NATS+JetStream server")
		fs.StringVar(&c.NATSListen, "nats-listen", "127.0.0.1:4222", "address where the embedded NATS also accepts other processes (tap, replay, bench); empty = in-process only")
		fs.StringVar(&c.Etcd, "etcd", "", "etcd endpoints, comma-separated; empty = in-process registry")
		fs.StringVar(&c.Redis, "redis", "", "redis address host:port; empty = in-process cache")
		fs.StringVar(&c.DataDir, "data-dir", "./data", "data directory: JetStream store (<data-dir>/nats) and uc's signing key (<data-dir>/uc.key)")
	} else {
		fs.StringVar(&c.NATS, "nats", "", "NATS URL(s), comma-separated (required), e.g. nats://nats:4222")
		fs.StringVar(&c.Etcd, "etcd", "", "etcd endpoints, comma-separated (required), e.g. http://etcd:2379")
		fs.StringVar(&c.Redis, "redis", "", "redis address host:port; empty = an in-process cache (one process only: not for a cluster)")
		fs.StringVar(&c.DataDir, "data-dir", "./data", dataDirUsage[cmd])
	}
	natsCredsFlag(fs, &c.NATSCreds)
	fs.IntVar(&c.Replicas, "replicas", 1, "replicas of the EVENTS stream and KV buckets: 1, or 3 on a 3-node NATS cluster (an ack then means a majority has the event); the same on every process")
	fs.IntVar(&c.Partitions, "partitions", 1, "event streams the players are spread over (1 to 16; 1 = the EVENTS stream alone): fixed when the store is created, a start with another number is refused; the same on every process")
	fs.DurationVar(&c.DedupWindow, "events-dedup-window", bus.DefaultDuplicates, "how long the event streams remember each event's id to drop a re-sent append (at least 1m, above every re-send: the gate's, the transfer consumer's, uc's outbox sweep); the NATS server keeps ~150 bytes per event for this long (20,000 events/s for 10m: ~1.8 GB); the same on every process")
	fs.DurationVar(&c.GateLeaseTTL, "gate-lease-ttl", registry.DefaultGateTTL, "TTL of a gate's etcd lease (renewed every third of it): how long uc may still hand out a gate that died without draining; whole seconds, at least 1s (etcd may grant more: its least lease)")
	fs.DurationVar(&c.EtcdSessionTTL, "etcd-session-ttl", registry.DefaultSessionTTL, "TTL of a game worker's etcd election session: a dead leader is replaced within it; a leader etcd stops answering stops its jobs after 3/4 of it; whole seconds, at least 1s")
	fs.DurationVar(&c.NATSPingInterval, "nats-ping-interval", bus.DefaultPingInterval, "how often each NATS connection pings its server; after 2 unanswered pings it moves to another URL, so a frozen server is left within 2 to 3 of these")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "address for Prometheus /metrics, /healthz and /readyz; empty = off")
	c.LogFormat, c.LogLevel = "text", "info"
	fs.Var(&choice{p: &c.LogFormat, allowed: obs.LogFormats}, "log-format", "log format: `text|json`")
	fs.Var(&choice{p: &c.LogLevel, allowed: []string{"debug", "info", "warn", "error"}}, "log-level", "least log level: `debug|info|warn|error`")
}

// natsCredsFlag registers --nats-creds on fs: every process and tool has it.
func natsCredsFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "nats-creds", "", "NATS credentials of this command's role: an nkey seed file from `hive secrets init` (or a .creds file); "+
		"empty = <data-dir>/secrets/<role>.nk when it exists (`hive dev` writes them there), else none")
}

// dataDirUsage describes --data-dir for each cluster process: what it keeps there.
var dataDirUsage = map[string]string{
	"uc":   "data directory: uc's signing key is <data-dir>/uc.key unless --uc-key-file names another",
	"gate": "data directory; a gate keeps no files (the flag is accepted so one environment serves every process)",
	"game": "data directory; a game worker keeps no files (the flag is accepted so one environment serves every process)",
}

// choice is a string flag restricted to a few values, so a bad value (also
// from the environment) fails when it is set, naming what is allowed.
type choice struct {
	p       *string
	allowed []string
}

func (c *choice) String() string {
	if c.p == nil {
		return ""
	}
	return *c.p
}

func (c *choice) Set(s string) error {
	v := strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(c.allowed, v) {
		return fmt.Errorf("want one of %s", strings.Join(c.allowed, ", "))
	}
	*c.p = v
	return nil
}

// envName is the environment twin of a process flag: --gate-listen =
// HIVE_GATE_LISTEN.
func envName(flagName string) string {
	return "HIVE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// processCommands are the long-running commands. Their flags are named after
// the part they configure (--gate-listen, --uc-key-file), so their twins are
// plain HIVE_<FLAG> and one environment serves every process.
var processCommands = []string{"dev", "uc", "gate", "game"}

// envScope is the command whose name prefixes the environment twins of fs's
// flags: "" for a process command, else the tool ("admin" for "hive admin
// mail"). A tool's flags have short generic names (--to, --all, --timeout),
// so unscoped twins would collide between tools and with the processes.
func envScope(fs *flag.FlagSet) string {
	words := strings.Fields(fs.Name()) // "hive <cmd> [<sub>]"
	if len(words) < 2 || slices.Contains(processCommands, words[1]) {
		return ""
	}
	return words[1]
}

// envTwin is the environment variable that sets flag flagName of fs:
// HIVE_<FLAG> for a process command and for the shared flags (--nats,
// --etcd, --data-dir mean the same cluster everywhere), HIVE_<TOOL>_<FLAG>
// for a tool's own flags (hive admin --to = HIVE_ADMIN_TO; a flag already
// named after its tool keeps one prefix: --admin-token = HIVE_ADMIN_TOKEN).
func envTwin(fs *flag.FlagSet, flagName string) string {
	scope := envScope(fs)
	if scope == "" || sharedFlag(flagName) || strings.HasPrefix(flagName, scope+"-") {
		return envName(flagName)
	}
	return envName(scope + "-" + flagName)
}

// newFlagSet returns an empty FlagSet for `hive <cmd>` whose usage documents
// every flag with its environment twin.
func newFlagSet(cmd, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("hive "+cmd, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: hive %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown; the command line wins):\n", cmd, synopsis)
		printFlags(w, fs, nil)
	}
	return fs
}

// printFlags writes one entry per flag of fs (those keep() accepts; nil = all),
// sorted by name: name, default, help and environment twin.
func printFlags(w io.Writer, fs *flag.FlagSet, keep func(string) bool) {
	var all []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if keep == nil || keep(f.Name) {
			all = append(all, f)
		}
	})
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	for _, f := range all {
		bare := *f // the type name comes from the flag's own value, not explained's
		if e, ok := f.Value.(explained); ok {
			bare.Value = e.Value
		}
		typ, usage := flag.UnquoteUsage(&bare)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if d := defaultText(f); d != "" {
			fmt.Fprintf(w, " (default %s)", d)
		}
		fmt.Fprintf(w, "\n    \tenv %s\n", envTwin(fs, f.Name))
	}
}

// defaultText is how help shows f's default: quoted for a string flag (so an
// empty or spaced value is visible), bare for numbers, durations and choices
// ("10", "10s", "text"); "" for a zero default, which help leaves out.
func defaultText(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "0s", "false":
		return ""
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if _, isString := g.Get().(string); isString {
			return fmt.Sprintf("%q", f.DefValue)
		}
	}
	return f.DefValue
}

// explained wraps a number or duration flag so a bad value says what is
// wanted (the flag package itself says only "parse error").
type explained struct {
	flag.Value
	want string
}

// Set parses s, or fails naming the expected form.
func (e explained) Set(s string) error {
	if err := e.Value.Set(s); err != nil {
		return errors.New("want " + e.want)
	}
	return nil
}

// Get returns the wrapped flag's value.
func (e explained) Get() any { return e.Value.(flag.Getter).Get() }

// explainValues wraps every number and duration flag of fs in explained.
func explainValues(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if _, done := f.Value.(explained); !ok || done {
			return
		}
		want := ""
		switch g.Get().(type) {
		case time.Duration:
			want = "a duration such as 30s, 5m or 1h30m"
		case int, int64:
			want = "a whole number such as 10"
		case uint, uint64:
			want = "a whole number of 0 or more, such as 10"
		case float64:
			want = "a number such as 2.5"
		default:
			return
		}
		f.Value = explained{Value: f.Value, want: want}
	})
}

// Forms of the flag package's parse errors, rewritten to name flags the way
// help shows them (--name).
var (
	errUnknownFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	errBadValue    = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-+([^:]+): (.*)$`)
	errNoArgument  = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// flagError rewrites a parse error of fs as a usage error: an unknown flag
// with the closest known one, a bad value with the flag, the value and the
// form wanted.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := errUnknownFlag.FindStringSubmatch(msg); m != nil {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		hint := ""
		if s := closest(m[1], names); s != "" {
			hint = fmt.Sprintf(": did you mean --%s?", s)
		}
		return usagef("unknown flag --%s%s (see --help)", m[1], hint)
	}
	if m := errBadValue.FindStringSubmatch(msg); m != nil {
		why := m[3]
		if why == "parse error" { // a boolean flag
			why = "want true or false"
		}
		return usagef("--%s %s: %s (see --help)", m[2], m[1], why)
	}
	if m := errNoArgument.FindStringSubmatch(msg); m != nil {
		return usagef("--%s needs a value (see --help)", m[1])
	}
	return usagef("%v (see --help)", err)
}

// parseFlags parses args, then for every flag not given on the command line
// sets it from its environment twin when that is set (lookup is os.LookupEnv
// in the binary). A bad value is a usage error naming the variable. No
// positional arguments are accepted. --help prints the usage to helpOut and
// returns errHelpShown.
func parseFlags(fs *flag.FlagSet, args []string, lookup func(string) (string, bool), helpOut io.Writer) error {
	if err := parseFlagsArgs(fs, args, lookup, helpOut); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (see --help)", fs.Arg(0))
	}
	return nil
}

// parseFlagsArgs is parseFlags for a command that takes arguments after its
// flags (fs.Args()).
func parseFlagsArgs(fs *flag.FlagSet, args []string, lookup func(string) (string, bool), helpOut io.Writer) error {
	fs.SetOutput(io.Discard) // errors are returned and printed once by run
	explainValues(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(helpOut)
			fs.Usage()
			return errHelpShown
		}
		return flagError(fs, err)
	}
	return applyEnv(fs, lookup)
}

// applyEnv sets each flag of fs that was not set on the command line from its
// HIVE_* environment twin (envTwin), if present.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	explainValues(fs)
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		name := envTwin(fs, f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = usagef("environment %s=%q (flag --%s): %v", name, v, f.Name, e)
		}
	})
	return err
}

// checkTTLs checks --gate-lease-ttl and --etcd-session-ttl: etcd counts
// TTLs in whole seconds.
func (c *common) checkTTLs() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"gate-lease-ttl", c.GateLeaseTTL}, {"etcd-session-ttl", c.EtcdSessionTTL}} {
		if f.d < time.Second {
			return usagef("--%s %v: want at least 1s (etcd counts leases in whole seconds)", f.name, f.d)
		}
	}
	if c.NATSPingInterval <= 0 {
		return usagef("--nats-ping-interval %v: want more than 0", c.NATSPingInterval)
	}
	return nil
}

// storeConfig is the durability setting every writer passes to bus.EnsureStore.
func (c *common) storeConfig() (bus.StoreConfig, error) {
	if c.Replicas < 1 || c.Replicas > 5 {
		return bus.StoreConfig{}, usagef("--replicas %d: want 1 to 5 (NATS JetStream allows at most 5)", c.Replicas)
	}
	if c.Partitions < 1 || c.Partitions > bus.MaxPartitions {
		return bus.StoreConfig{}, usagef("--partitions %d: want 1 to %d", c.Partitions, bus.MaxPartitions)
	}
	if c.DedupWindow < time.Minute {
		return bus.StoreConfig{}, usagef("--events-dedup-window %v: want at least 1m (a re-sent append must still find its first)", c.DedupWindow)
	}
	return bus.StoreConfig{Replicas: c.Replicas, Partitions: c.Partitions, Duplicates: c.DedupWindow}, nil
}
