package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
)

// devProc is a running `hive dev` started by a test.
type devProc struct {
	cmd      *exec.Cmd
	exited   chan error
	out, err syncBuffer
	natsURL  string
	ucURL    string
}

// startDev starts `hive dev` on free ports with dataDir and waits until it
// is ready (/readyz 200: every part started). It is killed at the test's end
// if still running.
func startDev(t *testing.T, dataDir string) *devProc {
	t.Helper()
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	natsAddr, ucAddr, gateAddr, gateWSAddr, metricsAddr := addr(), addr(), addr(), addr(), addr()
	d := &devProc{exited: make(chan error, 1), natsURL: "nats://" + natsAddr, ucURL: "http://" + ucAddr}
	d.cmd = exec.Command(hiveBin(t), "dev", "--data-dir", dataDir, "--nats-listen", natsAddr,
		"--uc-listen", ucAddr, "--gate-listen", gateAddr, "--gate-ws-listen", gateWSAddr, "--metrics-listen", metricsAddr)
	d.cmd.Env = cleanEnv()
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.err
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("hive dev stdout:\n%s\nstderr:\n%s", d.out.String(), d.err.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-d.exited:
			t.Fatalf("hive dev exited early: %v", err)
		default:
		}
		res, err := http.Get("http://" + metricsAddr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hive dev never ready on %s: %v", metricsAddr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (d *devProc) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("hive dev after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("hive dev did not exit within 90s of SIGTERM")
	}
	// Every part runs as its NATS role: one refused operation is a bug in
	// the permission table (bus.Permissions), caught here before production.
	if strings.Contains(strings.ToLower(d.err.String()), "permissions violation") {
		t.Errorf("hive dev hit a NATS permission violation:\n%s", d.err.String())
	}
}

// clientLine is one line `hive client` prints.
type clientLine struct {
	Res   string          `json:"res"`
	Push  string          `json:"push"`
	Msg   json.RawMessage `json:"msg"`
	Error string          `json:"error"`
}

// userJSON is the def.User fields the test compares (protojson, proto names).
type userJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Items []struct {
		Idx int32  `json:"idx"`
		Num string `json:"num"`
	} `json:"items"`
}

// items maps idx to num.
func (u userJSON) items() map[int32]string {
	m := map[int32]string{}
	for _, it := range u.Items {
		m[it.Idx] = it.Num
	}
	return m
}

// runClient runs a scripted `hive client --fail-fast` session and returns
// its answers (pushes left out).
func runClientScript(t *testing.T, ucURL string, script ...string) []clientLine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hiveBin(t), "client", "--uc", ucURL, "--fail-fast", "--timeout", "20s")
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(strings.Join(script, "\n") + "\n")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("hive client %q: %v\nstdout:\n%s\nstderr:\n%s", script, err, o.String(), e.String())
	}
	var out []clientLine
	for _, l := range strings.Split(strings.TrimSpace(o.String()), "\n") {
		var cl clientLine
		if err := json.Unmarshal([]byte(l), &cl); err != nil {
			t.Fatalf("hive client printed a line that is not JSON: %q", l)
		}
		if cl.Push == "" {
			out = append(out, cl)
		}
	}
	if len(out) != len(script) {
		t.Fatalf("hive client %q: %d answers, want %d:\n%s", script, len(out), len(script), o.String())
	}
	return out
}

// userOf decodes the user in a Login.Res or GetUser.Res answer.
func userOf(t *testing.T, l clientLine) userJSON {
	t.Helper()
	var m struct {
		Code int      `json:"code"`
		User userJSON `json:"user"`
	}
	if err := json.Unmarshal(l.Msg, &m); err != nil || m.Code != 0 || m.User.ID == "" {
		t.Fatalf("answer %s %s: no user (code %d, %v)", l.Res, l.Msg, m.Code, err)
	}
	return m.User
}

// storedEvents is the number of events in the EVENTS stream now.
func storedEvents(t *testing.T, url, dataDir string) int {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second), devCreds(t, dataDir, bus.RoleTools))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Msgs)
}

// hiveOK runs the binary and fails the test unless it exits 0.
func hiveOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runHive(t, nil, args...)
	if code != 0 {
		t.Fatalf("hive %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// The whole tool chain against the built binary: hive dev, a scripted
// hive client session, hive tap, hive replay, hive admin; then a restart of
// hive dev on the same data dir keeps accounts and players.
func TestBinaryEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hive dev twice")
	}
	dataDir := t.TempDir()
	dev := startDev(t, dataDir)

	// Two players: bob receives alice's gift.
	bob := userOf(t, runClientScript(t, dev.ucURL, "register bob secret-bob-1", "login bob secret-bob-1")[1])
	lines := runClientScript(t, dev.ucURL,
		"register alice secret-alice-1",
		"login alice secret-alice-1",
		"items",
		"gift "+bob.ID+" 100 7",
		"rename Alicia",
		"user",
	)
	for _, l := range lines {
		if l.Error != "" {
			t.Fatalf("client: %+v", l)
		}
	}
	alice := userOf(t, lines[5])
	if alice.Name != "Alicia" || alice.items()[100] != "993" {
		t.Fatalf("alice after gift and rename: %+v, want name Alicia and 993 gold", alice)
	}

	// hive tap: every event stored so far (more may follow: logouts land
	// a moment after the clients exit), as JSON lines of the DESIGN §8 shape.
	n := storedEvents(t, dev.natsURL, dataDir)
	out := hiveOK(t, "tap", "--nats", dev.natsURL, "--data-dir", dataDir, "--from-start", "--limit", fmt.Sprint(n))
	types := map[string]int{}
	seqs := map[uint64]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var tl struct {
			StreamSeq uint64          `json:"stream_seq"`
			Subject   string          `json:"subject"`
			Time      string          `json:"time"`
			Type      string          `json:"type"`
			Event     json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &tl); err != nil {
			t.Fatalf("hive tap line %q: %v", l, err)
		}
		if tl.StreamSeq == 0 || seqs[tl.StreamSeq] || !strings.HasPrefix(tl.Subject, "evt.") || tl.Type == "" || len(tl.Event) < 2 || tl.Event[0] != '{' {
			t.Errorf("hive tap line %q: want a stream_seq, subject, type and event object", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, tl.Time); err != nil {
			t.Errorf("hive tap line %q: time: %v", l, err)
		}
		seqs[tl.StreamSeq] = true
		types[tl.Type]++
	}
	if len(seqs) != n {
		t.Errorf("hive tap --limit %d printed %d events:\n%s", n, len(seqs), out)
	}
	for typ, want := range map[string]int{"evt.AccountRegistered": 2, "evt.PlayerCreated": 2, "evt.GiftSent": 1, "evt.GiftReceived": 1, "evt.Renamed": 1} {
		if types[typ] != want {
			t.Errorf("hive tap: %d %s events, want %d; got %v", types[typ], typ, want, types)
		}
	}

	// hive replay: the state the game reported, rebuilt from the events.
	var replayed userJSON
	if err := json.Unmarshal([]byte(hiveOK(t, "replay", "--nats", dev.natsURL, "--data-dir", dataDir, "--player", alice.ID)), &replayed); err != nil {
		t.Fatal(err)
	}
	if replayed.Name != alice.Name || fmt.Sprint(replayed.items()) != fmt.Sprint(alice.items()) {
		t.Errorf("hive replay: %+v, want the game's %+v", replayed, alice)
	}
	steps := strings.Split(strings.TrimSpace(hiveOK(t, "replay", "--nats", dev.natsURL, "--data-dir", dataDir, "--player", alice.ID, "--steps")), "\n")
	stepTypes := map[string]bool{}
	for _, l := range steps {
		var st struct {
			Type  string   `json:"type"`
			State userJSON `json:"state"`
		}
		if err := json.Unmarshal([]byte(l), &st); err != nil || st.State.ID != alice.ID {
			t.Fatalf("hive replay --steps line %q: %v", l, err)
		}
		stepTypes[st.Type] = true
	}
	for _, typ := range []string{"evt.PlayerCreated", "evt.GiftSent", "evt.Renamed"} {
		if !stepTypes[typ] {
			t.Errorf("hive replay --steps lacks %s: %v", typ, stepTypes)
		}
	}
	var bobReplayed userJSON
	if err := json.Unmarshal([]byte(hiveOK(t, "replay", "--nats", dev.natsURL, "--data-dir", dataDir, "--player", bob.ID)), &bobReplayed); err != nil {
		t.Fatal(err)
	}
	if bobReplayed.items()[100] != "1007" {
		t.Errorf("bob replayed: %+v, want 1007 gold after the gift", bobReplayed)
	}
	if _, errOut, code := runHive(t, nil, "replay", "--nats", dev.natsURL, "--data-dir", dataDir, "--player", "99999"); code != 1 || !strings.Contains(errOut, "player 99999 has no events") {
		t.Errorf("hive replay of a player without events: exit %d, stderr %q", code, errOut)
	}

	// hive admin, authorised by the token hive dev wrote into the data dir.
	mailOut := hiveOK(t, "admin", "mail", "--nats", dev.natsURL, "--data-dir", dataDir,
		"--to", alice.ID, "--title", "Welcome", "--content", "a present", "--items", "100:3")
	if !strings.Contains(mailOut, `"delivered":1`) {
		t.Errorf("hive admin mail: %s, want delivered 1", mailOut)
	}
	if _, errOut, code := runHive(t, nil, "admin", "mail", "--nats", dev.natsURL, "--data-dir", dataDir, "--to", alice.ID, "--title", "x", "--items", "100"); code != 2 || !strings.Contains(errOut, "idx:num") {
		t.Errorf("hive admin mail --items 100: exit %d, stderr %q; want 2 explaining idx:num", code, errOut)
	}
	if _, _, code := runHive(t, nil, "admin", "mail", "--nats", dev.natsURL, "--data-dir", dataDir, "--admin-token", "wrong", "--to", alice.ID, "--title", "x"); code != 1 {
		t.Errorf("hive admin mail with a wrong token: exit %d, want 1", code)
	}
	// An amount over the game's --game-mail-max-amount: refused, and the CLI says why.
	if _, errOut, code := runHive(t, nil, "admin", "mail", "--nats", dev.natsURL, "--data-dir", dataDir, "--to", alice.ID, "--title", "x", "--items", "100:1000001"); code != 1 ||
		!strings.Contains(errOut, "RC_ITEM_OVERFLOW") || !strings.Contains(errOut, "1000000") || !strings.Contains(errOut, "--game-mail-max-amount") {
		t.Errorf("hive admin mail over the bound: exit %d, stderr %q; want 1 naming RC_ITEM_OVERFLOW and the bound", code, errOut)
	}
	var gates struct {
		Gates []struct {
			ID   string `json:"id"`
			Addr string `json:"addr"`
		} `json:"gates"`
	}
	if err := json.Unmarshal([]byte(hiveOK(t, "admin", "gates", "--nats", dev.natsURL, "--data-dir", dataDir)), &gates); err != nil || len(gates.Gates) != 1 {
		t.Errorf("hive admin gates: %+v, %v; want the one gate of hive dev", gates, err)
	}
	var status struct {
		Player userJSON `json:"player"`
		Online *bool    `json:"online"`
	}
	if err := json.Unmarshal([]byte(hiveOK(t, "admin", "player", alice.ID, "--nats", dev.natsURL, "--data-dir", dataDir)), &status); err != nil || status.Player.Name != "Alicia" || status.Online == nil {
		t.Errorf("hive admin player: %+v, %v", status, err)
	}
	hiveOK(t, "admin", "kick", alice.ID, "--nats", dev.natsURL, "--data-dir", dataDir)

	mails := runClientScript(t, dev.ucURL, "login alice secret-alice-1", "mails")
	var ml struct {
		Mails []struct {
			Title string `json:"title"`
			Items []struct {
				Idx int32  `json:"idx"`
				Num string `json:"num"`
			} `json:"items"`
		} `json:"mails"`
	}
	if err := json.Unmarshal(mails[1].Msg, &ml); err != nil || len(ml.Mails) != 1 || ml.Mails[0].Title != "Welcome" ||
		len(ml.Mails[0].Items) != 1 || ml.Mails[0].Items[0].Idx != 100 || ml.Mails[0].Items[0].Num != "3" {
		t.Errorf("alice's mails: %s (%v), want the Welcome mail with 3 gold", mails[1].Msg, err)
	}

	// Restart on the same data dir: accounts and players are as they were.
	dev.stop(t)
	if !strings.Contains(dev.out.String(), filepath.Join(dataDir, adminTokenFile)) {
		t.Errorf("the dev banner does not say where the admin token is")
	}
	dev = startDev(t, dataDir)
	again := userOf(t, runClientScript(t, dev.ucURL, "login alice secret-alice-1", "user")[1])
	if again.ID != alice.ID || again.Name != "Alicia" || fmt.Sprint(again.items()) != fmt.Sprint(alice.items()) {
		t.Errorf("alice after restart: %+v, want %+v", again, alice)
	}
	bobAgain := userOf(t, runClientScript(t, dev.ucURL, "login bob secret-bob-1")[0])
	if bobAgain.ID != bob.ID || bobAgain.items()[100] != "1007" {
		t.Errorf("bob after restart: %+v, want id %s with 1007 gold", bobAgain, bob.ID)
	}
	// The generated admin token survives the restart too.
	hiveOK(t, "admin", "gates", "--nats", dev.natsURL, "--data-dir", dataDir)
	dev.stop(t)
}
