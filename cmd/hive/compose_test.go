package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/qeetap/hive/bus"
)

// composeFile is the part of compose.yaml the checks read.
type composeFile struct {
	Services map[string]composeService `json:"services"`
}

type composeService struct {
	Build       any             `json:"build"`
	Image       string          `json:"image"`
	Command     []string        `json:"command"`
	Environment json.RawMessage `json:"environment"`
	Healthcheck struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	Ports   []string `json:"ports"`
	Volumes []string `json:"volumes"`
}

// env returns the service's environment, in either compose form (map or KEY=VALUE list).
func (s composeService) env(t *testing.T) map[string]string {
	out := map[string]string{}
	if len(s.Environment) == 0 {
		return out
	}
	var m map[string]any
	if err := json.Unmarshal(s.Environment, &m); err == nil {
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
		return out
	}
	var l []string
	if err := json.Unmarshal(s.Environment, &l); err != nil {
		t.Fatalf("environment is neither a map nor a list: %s", s.Environment)
	}
	for _, kv := range l {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw) // resolves anchors and << merges
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var f composeFile
	if err := json.Unmarshal(js, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return f
}

// hiveArgs splits a hive command line after the subcommand into flag name
// and value pairs (--name=value, or --name value for non-boolean flags).
func hiveArgs(fs *flag.FlagSet, args []string) (pairs [][2]string, problems []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			problems = append(problems, fmt.Sprintf("positional argument %q: hive takes flags only", a))
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasVal {
			if f := fs.Lookup(name); f != nil {
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					val = "true"
				} else if i+1 < len(args) {
					i++
					val = args[i]
				}
			}
		}
		pairs = append(pairs, [2]string{name, val})
	}
	return pairs, problems
}

// checkHiveCommand checks that every flag of a hive command line exists in
// the binary's flag set for that subcommand and accepts its value, and
// returns the values given.
func checkHiveCommand(cmd []string) (vals map[string]string, problems []string) {
	if len(cmd) == 0 {
		return nil, []string{"no command"}
	}
	sub := cmd[0]
	mk, ok := flagSets()[sub]
	if !ok {
		return nil, []string{fmt.Sprintf("hive %s is not a command with flags", sub)}
	}
	fs := mk()
	vals = map[string]string{}
	pairs, problems := hiveArgs(fs, cmd[1:])
	for _, nv := range pairs {
		name, val := nv[0], nv[1]
		vals[name] = val
		if fs.Lookup(name) == nil {
			problems = append(problems, fmt.Sprintf("hive %s has no flag --%s", sub, name))
			continue
		}
		if err := fs.Set(name, val); err != nil {
			problems = append(problems, fmt.Sprintf("hive %s --%s=%q: %v", sub, name, val, err))
		}
	}
	return vals, problems
}

// checkEnvKeys checks that every HIVE_* variable is the twin of a flag of sub.
func checkEnvKeys(sub string, keys []string) (problems []string) {
	fs := flagSets()[sub]()
	twins := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { twins[envTwin(fs, f.Name)] = true })
	for _, k := range keys {
		if !strings.HasPrefix(k, "HIVE_") || twins[k] {
			continue
		}
		problems = append(problems, fmt.Sprintf("%s is not the environment twin of any flag of hive %s", k, sub))
	}
	return problems
}

// report turns problems into test errors.
func report(t *testing.T, where string, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("%s: %s", where, p)
	}
}

func TestComposeMatchesTheBinary(t *testing.T) {
	f := loadCompose(t)
	count := map[string]int{}
	seen := map[string]map[string]bool{} // flag -> values, for the gates
	secretsDir := ""
	for _, s := range f.Services {
		if len(s.Command) == 3 && s.Command[0] == "secrets" && s.Command[1] == "init" {
			secretsDir = s.Command[2] // the one-shot init: where every service finds its seed
		}
	}
	if secretsDir == "" {
		t.Fatal("no service runs `hive secrets init DIR`: NATS would run without identities")
	}
	for name, s := range f.Services {
		if s.Build == nil && !strings.HasPrefix(s.Image, "hive") {
			continue // nats, etcd, redis
		}
		if len(s.Command) > 0 && s.Command[0] == "secrets" {
			continue
		}
		where := "service " + name
		vals, problems := checkHiveCommand(s.Command)
		report(t, where, problems)
		if len(s.Command) == 0 {
			continue
		}
		sub := s.Command[0]
		count[sub]++
		var keys []string
		for k := range s.env(t) {
			keys = append(keys, k)
		}
		if _, ok := flagSets()[sub]; ok {
			report(t, where, checkEnvKeys(sub, keys))
		}

		// Every process is reachable where its health check looks, and
		// shares the cluster's cache (without --redis a process warns).
		for _, k := range []string{"nats", "etcd", "redis", "metrics-listen"} {
			if vals[k] == "" {
				t.Errorf("%s: no --%s", where, k)
			}
		}
		if _, port, err := net.SplitHostPort(vals["metrics-listen"]); err == nil {
			test := strings.Join(s.Healthcheck.Test, " ")
			if !strings.Contains(test, ":"+port+"/healthz") {
				t.Errorf("%s: health check %q does not ask /healthz on --metrics-listen port %s", where, test, port)
			}
		}
		if u, err := url.Parse(vals["nats"]); err != nil || u.Scheme != "nats" || u.Host != "nats:4222" {
			t.Errorf("%s: --nats %q, want nats://nats:4222", where, vals["nats"])
		}
		// Each process connects as its own role, with the seed the init wrote.
		if want := secretsDir + "/" + sub + ".nk"; vals["nats-creds"] != want {
			t.Errorf("%s: --nats-creds %q, want %s", where, vals["nats-creds"], want)
		}
		if !mounts(s, secretsDir) {
			t.Errorf("%s: does not mount the secrets volume at %s", where, secretsDir)
		}
		if sub == "gate" {
			for _, k := range []string{"gate-id", "gate-advertise"} {
				if seen[k] == nil {
					seen[k] = map[string]bool{}
				}
				if seen[k][vals[k]] {
					t.Errorf("%s: --%s %q is used by another gate too", where, k, vals[k])
				}
				seen[k][vals[k]] = true
			}
		}
	}
	want := map[string]int{"uc": 1, "gate": 2, "game": 2}
	for sub, n := range want {
		if count[sub] != n {
			t.Errorf("compose.yaml runs %d hive %s, want %d", count[sub], sub, n)
		}
	}
	nats := strings.Join(f.Services["nats"].Command, " ")
	if !strings.Contains(nats, "-js") || !strings.Contains(nats, "-sd /data") {
		t.Errorf("nats command %q: want JetStream (-js) with its store on the volume (-sd /data)", nats)
	}
	// nats runs with the generated identities, and only this host reaches it.
	conf := ""
	for _, v := range f.Services["nats"].Volumes {
		if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[0] == volumeOf(f, secretsDir) {
			conf = parts[1] + "/" + bus.ServerConfigFile
		}
	}
	if conf == "" || !strings.Contains(nats, "-c "+conf) {
		t.Errorf("nats command %q: want -c with the generated %s from the secrets volume", nats, bus.ServerConfigFile)
	}
	for _, p := range f.Services["nats"].Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("nats publishes %q: want 127.0.0.1 only (NATS is for the cluster and this host's tools)", p)
		}
	}
	for _, b := range []string{"etcd", "redis"} {
		if _, ok := f.Services[b]; !ok {
			t.Errorf("compose.yaml has no %s service", b)
		}
	}
}

// mounts reports whether s mounts a volume at dir.
func mounts(s composeService, dir string) bool {
	for _, v := range s.Volumes {
		if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[1] == dir {
			return true
		}
	}
	return false
}

// volumeOf is the volume the secrets service mounts at dir.
func volumeOf(f composeFile, dir string) string {
	for _, s := range f.Services {
		if len(s.Command) > 0 && s.Command[0] == "secrets" {
			for _, v := range s.Volumes {
				if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[1] == dir {
					return parts[0]
				}
			}
		}
	}
	return ""
}

// The Dockerfile's default command and HIVE_* defaults exist in the binary.
func TestDockerfileMatchesTheBinary(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	m := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("Dockerfile has no exec-form CMD")
	}
	var cmd []string
	if err := json.Unmarshal([]byte(m[1]), &cmd); err != nil {
		t.Fatalf("Dockerfile CMD: %v", err)
	}
	_, problems := checkHiveCommand(cmd)
	report(t, "Dockerfile CMD", problems)
	if !strings.Contains(df, `ENTRYPOINT ["hive"]`) {
		t.Error(`Dockerfile: want ENTRYPOINT ["hive"], which compose's commands rely on`)
	}
	// ENV defaults apply to every long-running subcommand.
	keys := regexp.MustCompile(`\bHIVE_[A-Z0-9_]+`).FindAllString(strings.Join(regexp.MustCompile(`(?m)^ENV .*$`).FindAllString(df, -1), "\n"), -1)
	if len(keys) == 0 {
		t.Fatal("Dockerfile sets no HIVE_* defaults")
	}
	for _, sub := range []string{"dev", "uc", "gate", "game"} {
		report(t, "Dockerfile ENV", checkEnvKeys(sub, keys))
	}
}

// The checks themselves catch what they are for: an unknown flag, a bad
// value, a stray argument and an environment variable with no flag.
func TestComposeChecksCatchMistakes(t *testing.T) {
	_, problems := checkHiveCommand([]string{"dev", "--nats-listen", "0.0.0.0:4222", "--data-dir=/d", "--no-such-flag=1", "--log-level=loud", "stray"})
	got := strings.Join(problems, "\n")
	for _, want := range []string{"no flag --no-such-flag", "--log-level", "positional argument \"stray\""} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
	if len(problems) != 3 {
		t.Errorf("got %d problems, want 3: %q", len(problems), got)
	}
	if _, problems := checkHiveCommand([]string{"nosuch"}); len(problems) != 1 {
		t.Errorf("unknown subcommand: problems %q", problems)
	}
	problems = checkEnvKeys("dev", []string{"HIVE_DATA_DIR", "HIVE_NO_SUCH", "PATH"})
	if len(problems) != 1 || !strings.Contains(problems[0], "HIVE_NO_SUCH") {
		t.Errorf("env problems = %q, want one about HIVE_NO_SUCH", problems)
	}
}
