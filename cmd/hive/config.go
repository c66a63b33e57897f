package main

import "flag"

// config is what a long-running command's flags parse into.
type config struct {
	cmd string
	common
	// builders construct the parts this command runs, in start order.
	builders []builder
}

// builder is a bound part: its flags are registered; build reads them.
type builder struct {
	name  string
	build func(d deps) (service, error)
}

// flagSets maps each command with flags to the one function that builds its
// FlagSet: the binary parses with it, and the tests (compose.yaml check,
// --help) inspect the same sets.
func flagSets() map[string]func() *flag.FlagSet {
	return map[string]func() *flag.FlagSet{
		"dev":     func() *flag.FlagSet { fs, _ := devFlags(); return fs },
		"uc":      func() *flag.FlagSet { fs, _ := clusterFlags("uc"); return fs },
		"gate":    func() *flag.FlagSet { fs, _ := clusterFlags("gate"); return fs },
		"game":    func() *flag.FlagSet { fs, _ := clusterFlags("game"); return fs },
		"tap":     func() *flag.FlagSet { fs, _ := tapFlags(); return fs },
		"client":  func() *flag.FlagSet { fs, _ := clientFlags(); return fs },
		"replay":  func() *flag.FlagSet { fs, _ := replayFlags(); return fs },
		"admin":   func() *flag.FlagSet { fs, _ := adminFlags(""); return fs },
		"bench":   func() *flag.FlagSet { fs, _ := benchFlags(); return fs },
		"secrets": func() *flag.FlagSet { fs, _ := secretsFlags(); return fs },
	}
}

// devFlags is the FlagSet of `hive dev`: the shared flags and every part's.
func devFlags() (*flag.FlagSet, *config) {
	c := &config{cmd: "dev"}
	fs := newFlagSet("dev", "Runs everything in one process: embedded NATS with JetStream (store in <data-dir>/nats),\nin-process registry and cache, uc, one gate and one game worker. Ctrl-C drains and exits.")
	c.register(fs, "dev")
	for _, p := range parts() {
		c.builders = append(c.builders, builder{name: p.name, build: p.bind(fs)})
	}
	return fs, c
}

// clusterFlags is the FlagSet of `hive uc`, `hive gate` or `hive game`: the
// shared flags and that part's own.
func clusterFlags(name string) (*flag.FlagSet, *config) {
	c := &config{cmd: name}
	fs := newFlagSet(name, "Runs one "+name+" process of a cluster: needs --nats and --etcd (and --redis for a shared cache).")
	c.register(fs, name)
	if p, ok := findPart(name); ok {
		c.builders = append(c.builders, builder{name: name, build: p.bind(fs)})
	}
	return fs, c
}
