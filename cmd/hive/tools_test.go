package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The tools against one hive dev: hive client's exit status says whether
// every command succeeded, tap --no-follow ends, a kick of nobody fails, a
// replay bounded before the first event says when it is.
func TestBinaryToolsVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hive dev")
	}
	dataDir := t.TempDir()
	dev := startDev(t, dataDir)
	client := func(script string, extra ...string) (string, string, int) {
		return runHiveIn(t, script, append([]string{"client", "--uc", dev.ucURL, "--timeout", "20s"}, extra...)...)
	}

	out, errOut, code := client("register carol secret-carol-1\nlogin carol secret-carol-1\nitems\n")
	if code != 0 {
		t.Fatalf("a script that succeeds: exit %d\n%s\n%s", code, out, errOut)
	}
	var login struct {
		Msg struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"msg"`
	}
	if err := json.Unmarshal([]byte(strings.Split(out, "\n")[1]), &login); err != nil || login.Msg.User.ID == "" {
		t.Fatalf("login line of %q: %v", out, err)
	}
	carol := login.Msg.User.ID
	for name, script := range map[string]string{
		"wrong password":  "login carol wrong-password-1\n",
		"unknown command": "login carol secret-carol-1\nbogus\nitems\n",
		"non-OK answer":   "login carol secret-carol-1\ngift 99999 100 5\n",
		"not logged in":   "items\n",
	} {
		out, errOut, code := client(script)
		if code != 1 || !strings.Contains(errOut, "commands failed") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and how many failed\n%s", name, code, errOut, out)
		}
	}
	if out, _, code := runHiveIn(t, "login carol x\n", "client", "--uc", "http://127.0.0.1:1"); code != 1 || !strings.Contains(out, "go run ./cmd/hive dev") {
		t.Errorf("uc unreachable: exit %d, output %q; want 1 and the hint to start hive dev", code, out)
	}
	if _, _, code := client("", "--timeout", "soon"); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}

	// tap --no-follow ends at the end of what is stored, also as a durable.
	for _, args := range [][]string{{"--since", "24h"}, {"--from-start", "--consumer", "analytics"}} {
		out, errOut, code := runHiveIn(t, "", append([]string{"tap", "--nats", dev.natsURL, "--data-dir", dataDir, "--no-follow"}, args...)...)
		if code != 0 || !strings.Contains(out, `"type":"evt.AccountRegistered"`) {
			t.Errorf("tap --no-follow %v: exit %d, stderr %q, output %q", args, code, errOut, out)
		}
	}
	if _, errOut, code := runHiveIn(t, "", "tap", "--nats", dev.natsURL, "--data-dir", dataDir, "--since", "1h", "--consumer", "analytics"); code != 1 || !strings.Contains(errOut, `"analytics"`) || !strings.Contains(errOut, "--reset") {
		t.Errorf("tap, another start for an existing consumer: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := runHiveIn(t, "", "tap", "--nats", dev.natsURL, "--data-dir", dataDir, "--subject", "player."+carol); code != 2 || !strings.Contains(errOut, "evt.player."+carol) {
		t.Errorf("tap --subject player.%s: exit %d, stderr %q; want 2 suggesting evt.player.%s", carol, code, errOut, carol)
	}

	// admin kick: nobody is an error, an existing (offline) player is kicked.
	if out, errOut, code := runHiveIn(t, "", "admin", "kick", "99999", "--nats", dev.natsURL, "--data-dir", dataDir); code != 1 || !strings.Contains(errOut, "player 99999 does not exist") || out != "" {
		t.Errorf("kick of nobody: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := runHiveIn(t, "", "admin", "kick", carol, "--nats", dev.natsURL, "--data-dir", dataDir); code != 0 || !strings.Contains(out, `"kicked":`+carol) {
		t.Errorf("kick of carol: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// replay --to-time before carol's first event.
	_, errOut, code = runHiveIn(t, "", "replay", "--nats", dev.natsURL, "--data-dir", dataDir, "--player", carol, "--to-time", "2020-01-01T00:00:00Z")
	if code != 1 || !strings.Contains(errOut, "player "+carol+"'s first event is at ") || !strings.Contains(errOut, "--to-time 2020-01-01T00:00:00Z") {
		t.Errorf("replay before the first event: exit %d, stderr %q", code, errOut)
	}
}
