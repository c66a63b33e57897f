package main

import (
	"flag"
	"fmt"
	"strings"
	"testing"
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
	for name, p := range parts {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		p.bind(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if sharedFlag(f.Name) {
				t.Errorf("part %s defines the shared flag --%s", name, f.Name)
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
		if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, "env "+envName(f.Name)) {
			t.Errorf("usage lacks --%s or its env twin %s", f.Name, envName(f.Name))
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

func TestNotBuiltCommandsSaySo(t *testing.T) {
	for _, c := range commands() {
		if c.run != nil {
			continue
		}
		var out, errOut strings.Builder
		code := run(t.Context(), []string{c.name}, &out, &errOut)
		want := fmt.Sprintf("hive %s: not built yet (see issue %d)", c.name, c.issue)
		if code != exitUsage || !strings.Contains(errOut.String(), want) {
			t.Errorf("hive %s: exit %d, stderr %q; want exit 2 and %q", c.name, code, errOut.String(), want)
		}
	}
}
