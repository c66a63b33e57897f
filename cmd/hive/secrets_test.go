package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/game"
)

// `hive secrets init DIR` writes a seed per role and a config nats-server
// reads; a second run keeps the seeds; a bad role is a usage error.
func TestSecretsInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	var out bytes.Buffer
	if err := runSecrets(context.Background(), []string{"init", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	var res struct {
		ServerConfig string            `json:"server_config"`
		Creds        map[string]string `json:"creds"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	opts, err := server.ProcessConfigFile(res.ServerConfig)
	if err != nil {
		t.Fatalf("nats-server cannot read the config: %v", err)
	}
	if len(opts.Nkeys) != len(bus.Roles) {
		t.Fatalf("config has %d users, want one per role (%d)", len(opts.Nkeys), len(bus.Roles))
	}
	uc, _ := os.ReadFile(res.Creds["uc"])
	if err := runSecrets(context.Background(), []string{"init", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(res.Creds["uc"]); len(uc) == 0 || !bytes.Equal(again, uc) {
		t.Fatal("a second init changed uc's seed")
	}
	var ue *usageError
	for _, args := range [][]string{{"init", dir, "--rotate", "root"}, {"init"}, {"make", dir}, {}} {
		if err := runSecrets(context.Background(), args, &out, &out); !errors.As(err, &ue) {
			t.Errorf("hive secrets %q: %v, want a usage error", args, err)
		}
	}
	if err := runSecrets(context.Background(), []string{"init", "--rotate", "gate", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gate.prev.nk")); err != nil {
		t.Fatalf("rotation kept no previous seed: %v", err)
	}
}

// The game leader's consumers the read-only roles may not touch are the game's.
func TestProjectionConsumersAreTheGames(t *testing.T) {
	for _, name := range []string{game.PresenceConsumer} {
		found := false
		for _, c := range bus.ProjectionConsumers {
			found = found || c == name
		}
		if !found {
			t.Errorf("game consumer %q is not in bus.ProjectionConsumers: the tools could drain it", name)
		}
	}
}
