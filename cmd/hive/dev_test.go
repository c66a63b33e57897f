package main

import (
	"io"
	"testing"
)

// hive dev changes a few defaults (devDefaults); what the command line or
// the environment gives wins.
func TestDevDefaults(t *testing.T) {
	for _, c := range []struct {
		args  []string
		env   map[string]string
		reads string
	}{
		{nil, nil, "true"},
		{[]string{"--game-reads-from-cache"}, nil, "true"},
		{[]string{"--game-reads-from-cache=false"}, nil, "false"},
		{nil, map[string]string{"HIVE_GAME_READS_FROM_CACHE": "false"}, "false"},
	} {
		fs, _ := devFlags()
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		if err := parseFlags(fs, c.args, lookup, io.Discard); err != nil {
			t.Fatal(err)
		}
		setDevDefaults(fs)
		if got := fs.Lookup("game-reads-from-cache").Value.String(); got != c.reads {
			t.Errorf("%v %v: game-reads-from-cache = %s, want %s", c.args, c.env, got, c.reads)
		}
	}
	// A cluster's game worker keeps checking its reads.
	fs, _ := clusterFlags("game")
	if got := fs.Lookup("game-reads-from-cache").Value.String(); got != "false" {
		t.Errorf("hive game: game-reads-from-cache = %s", got)
	}
}
