package main

import (
	"regexp"
	"testing"

	"github.com/qeetap/hive/gate"
)

// Without --gate-id a gate is named after its host and port: the same after
// a restart, a valid subject token, different for another port.
func TestDefaultGateIDIsStable(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	a, b := defaultGateID("", ":9000"), defaultGateID("", ":9000")
	if a != b || !valid.MatchString(a) || !regexp.MustCompile(`-9000$`).MatchString(a) {
		t.Errorf("defaultGateID twice: %q, %q; want one stable id ending -9000", a, b)
	}
	if got := defaultGateID("10.0.0.7:9100", ":9000"); !regexp.MustCompile(`-9100$`).MatchString(got) {
		t.Errorf("with --gate-advertise 10.0.0.7:9100: %q, want the advertised port", got)
	}
	if defaultGateID("", ":9001") == a {
		t.Error("two ports on one host give the same id")
	}
	for host, want := range map[string]string{
		"web.3.example": "web-3-example-9000",
		"":              "gate-9000",
		"ünï":           "-n--9000",
	} {
		if got := gate.IDFrom(host, "9000"); got != want || !valid.MatchString(got) {
			t.Errorf("gate.IDFrom(%q) = %q, want %q", host, got, want)
		}
	}
	// A port the kernel picks names nothing stable: still a valid id.
	if got := defaultGateID("", "127.0.0.1:0"); !valid.MatchString(got) {
		t.Errorf("port 0: %q", got)
	}
}

// The gate part leaves the id empty until the addresses are known, and
// help says how the default is made.
func TestGateIDFlagHelp(t *testing.T) {
	fs := flagSets()["gate"]()
	f := fs.Lookup("gate-id")
	if f == nil || f.DefValue != "" || !regexp.MustCompile(`restarted gate keeps its id`).MatchString(f.Usage) {
		t.Errorf("--gate-id: default %q, usage %q", f.DefValue, f.Usage)
	}
}
