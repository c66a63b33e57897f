package game

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDataValidFile(t *testing.T) {
	d, err := ParseData("ok.json", []byte(`{
  "start": [{"idx": 1, "num": 10}, {"idx": 2, "num": 3}, {"idx": 1, "num": 5}],
  "items": [
    {"idx": 1, "name": "coin", "giftable": true},
    {"idx": 2, "name": "chest", "stack_limit": 5}
  ],
  "usage": [{"idx": 2, "grant": [{"idx": 1, "num": 100}]}]
}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Items) != 2 || !d.Items[1].Giftable || d.Items[2].StackLimit != 5 || d.Usage[2].Grant[0].Num != 100 {
		t.Fatalf("data = %+v", d)
	}
	if len(d.Start) != 2 || d.Start[0] != (Amount{1, 15}) {
		t.Fatalf("start = %+v (same idx must merge)", d.Start)
	}
	// Absent sections keep the built-in defaults.
	d, err = ParseData("partial.json", []byte(`{"start": [{"idx": 101, "num": 5}]}`))
	if err != nil || len(d.Items) != 3 || d.Start[0].Idx != 101 || len(d.Usage) != 1 {
		t.Fatalf("partial = %+v, %v", d, err)
	}
}

func TestParseDataErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct {
		name, src string
		line      int
		want      string
	}{
		{"syntax", "{\n  \"items\": [\n    {\"idx\": 1,, \"name\": \"x\"}\n  ]\n}", 3, "invalid character"},
		{"type", "{\n \"items\": [\n  {\"idx\": \"one\", \"name\": \"x\"}\n ]\n}", 3, "cannot unmarshal"},
		{"unknown field", "{\n \"items\": [\n  {\"idx\": 1, \"name\": \"x\"},\n  {\"idx\": 2, \"name\": \"y\", \"color\": 3}\n ]\n}", 4, "unknown field"},
		{"unknown section", "{\n \"items\": [],\n \"monsters\": []\n}", 3, "unknown section"},
		{"duplicate idx", "{\"items\": [\n {\"idx\": 1, \"name\": \"a\"},\n {\"idx\": 1, \"name\": \"b\"}\n]}", 3, "listed twice"},
		{"no name", "{\"items\": [\n\n {\"idx\": 4}\n]}", 3, "no name"},
		{"bad idx", "{\"items\": [{\"idx\": 0, \"name\": \"z\"}]}", 1, "idx must be > 0"},
		{"negative limit", "{\"items\": [\n{\"idx\": 3, \"name\": \"z\", \"stack_limit\": -1}]}", 2, "stack_limit"},
		{"start unknown item", "{\"start\": [\n {\"idx\": 9, \"num\": 1}\n]}", 2, "not in the item table"},
		{"start zero", "{\"start\": [\n\n\n {\"idx\": 100, \"num\": 0}]}", 4, "num must be > 0"},
		{"start over limit", "{\"start\": [{\"idx\": 102, \"num\": 10000}]}", 1, "stack_limit"},
		{"limit past MaxStack", "{\"items\": [\n{\"idx\": 3, \"name\": \"z\", \"stack_limit\": 9007199254740992}]}", 2, "stack_limit must be 0..9007199254740991"},
		{"start sum past MaxStack", "{\"start\": [\n{\"idx\": 100, \"num\": 9007199254740991}, {\"idx\": 100, \"num\": 1}]}", 2, "largest amount"},
		{"usage past MaxStack", "{\"usage\": [\n {\"idx\": 102, \"grant\": [{\"idx\": 100, \"num\": 9007199254740992}]}\n]}", 2, "largest amount"},
		{"usage unknown item", "{\"usage\": [\n {\"idx\": 100, \"grant\": [{\"idx\": 5, \"num\": 1}]}\n]}", 2, "grants item 5"},
		{"usage grants nothing", "{\"usage\": [\n\n {\"idx\": 100, \"grant\": []}]}", 3, "grants nothing"},
		{"usage twice", "{\"usage\": [\n {\"idx\": 100, \"grant\": [{\"idx\": 101, \"num\": 1}]},\n {\"idx\": 100, \"grant\": [{\"idx\": 101, \"num\": 1}]}\n]}", 3, "listed twice"},
		{"not an object", "[1, 2]", 1, "expected"},
		{"truncated", "{\"items\": [\n", 2, "end of file"},
		{"trailing data", "{}\n{}", 2, "after the closing brace"},
	} {
		_, err := ParseData("bad.json", []byte(c.src))
		var de *DataError
		if !errors.As(err, &de) {
			t.Errorf("%s: err = %v, want a DataError", c.name, err)
			continue
		}
		if de.Line != c.line || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.json:") {
			t.Errorf("%s: %v, want line %d and %q", c.name, err, c.line, c.want)
		}
	}
}

func TestNewRefusesABadDataFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "game.json")
	os.WriteFile(path, []byte("{\n \"items\": [{\"idx\": -1, \"name\": \"x\"}]\n}"), 0o600)
	h := newHarness(t)
	cfg := testConfig()
	cfg.DataFile = path
	_, err := New(cfg, Deps{NC: h.n.Conn, JS: h.n.JS})
	if err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("New = %v, want an error naming %s:2", err, path)
	}
	cfg.DataFile = filepath.Join(t.TempDir(), "missing.json")
	if _, err := New(cfg, Deps{NC: h.n.Conn, JS: h.n.JS}); err == nil {
		t.Fatal("New accepted a missing data file")
	}
}
