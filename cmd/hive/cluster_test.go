package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
)

func TestBinaryClusterNeedsNATSAndEtcd(t *testing.T) {
	for _, sub := range []string{"uc", "gate", "game"} {
		_, errOut, code := runHive(t, nil, sub)
		if code != 2 || !strings.Contains(errOut, "--nats") {
			t.Errorf("hive %s without --nats: exit %d, stderr %q; want 2 naming --nats", sub, code, errOut)
		}
		_, errOut, code = runHive(t, []string{"HIVE_NATS=nats://127.0.0.1:1"}, sub)
		if code != 2 || !strings.Contains(errOut, "--etcd") {
			t.Errorf("hive %s without --etcd: exit %d, stderr %q; want 2 naming --etcd", sub, code, errOut)
		}
	}
}

// The compose topology as plain processes on loopback: uc, a gate and a
// game worker, each its own hive process, joined by a real NATS (with the
// identities and permissions of production: each process gets its role's
// --nats-creds, as compose does), etcd and redis. A registration answers
// code 0 only if uc sees the gate's lease in etcd; a player then logs in
// through the gate to the game and gifts; each process is ready on its
// /readyz and drains to exit 0 on SIGTERM.
func TestBinaryClusterProcesses(t *testing.T) {
	n := testenv.StartNATS(t)
	et := testenv.StartEtcd(t)
	rd := testenv.StartRedis(t)
	free := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	ucAddr, gateAddr := free(), free()
	common := []string{"--nats", n.URL, "--etcd", strings.Join(et.Endpoints, ","), "--redis", rd.Addr, "--data-dir", t.TempDir()}
	type proc struct {
		name    string
		cmd     *exec.Cmd
		metrics string
		out     *syncBuffer
		exited  chan error
	}
	var procs []*proc
	start := func(sub string, extra ...string) *proc {
		p := &proc{name: sub, metrics: free(), out: &syncBuffer{}, exited: make(chan error, 1)}
		args := append(append([]string{sub}, common...), append(extra, "--metrics-listen", p.metrics,
			"--nats-creds", n.Secrets.CredsFile(bus.Role(sub)))...)
		p.cmd = exec.Command(hiveBin(t), args...)
		p.cmd.Env = cleanEnv()
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.exited <- p.cmd.Wait() }()
		procs = append(procs, p)
		return p
	}
	defer func() {
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				<-p.exited
			}
			if t.Failed() {
				t.Logf("hive %s output:\n%s", p.name, p.out.String())
			}
		}
	}()
	start("game")
	start("uc", "--uc-listen", ucAddr, "--sms-log-codes")
	start("gate", "--gate-listen", gateAddr, "--gate-id", "g-test")

	deadline := time.Now().Add(60 * time.Second)
	for _, p := range procs {
		for {
			res, err := http.Get("http://" + p.metrics + "/readyz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			select {
			case err := <-p.exited:
				t.Fatalf("hive %s exited early: %v", p.name, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("hive %s never ready on %s: %v", p.name, p.metrics, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// uc learns about the gate through etcd; poll until it hands it out.
	for {
		res, err := http.PostForm("http://"+ucAddr+"/v1/account/auth", map[string][]string{"device_id": {"cluster-test-device-0123456789"}})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Code int    `json:"code"`
			Addr string `json:"addr"`
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if err == nil && body.Code == 0 {
			if body.Addr != gateAddr {
				t.Errorf("uc handed out gate %q, want %q", body.Addr, gateAddr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest auth never succeeded: code %d, %v", body.Code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Through the gate to the game and back, each on its own identity.
	ucURL := "http://" + ucAddr
	bob := userOf(t, runClientScript(t, ucURL, "register bob secret-bob-1", "login bob secret-bob-1")[1])
	lines := runClientScript(t, ucURL, "register alice secret-alice-1", "login alice secret-alice-1", "gift "+bob.ID+" 100 7", "user")
	if alice := userOf(t, lines[3]); alice.items()[100] != "993" {
		t.Fatalf("alice after a gift of 7 gold: %+v, want 993", alice)
	}
	// The tools read the events with their own (read-only) identity.
	out, errOut, code := runHive(t, nil, "replay", "--nats", n.URL, "--nats-creds", n.Secrets.CredsFile(bus.RoleTools), "--player", bob.ID)
	if code != 0 || !strings.Contains(out, `"id":"`+bob.ID+`"`) {
		t.Fatalf("hive replay as tools: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	for i := len(procs) - 1; i >= 0; i-- { // gate first, as hive dev drains
		p := procs[i]
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-p.exited:
			if err != nil {
				t.Errorf("hive %s after SIGTERM: %v, want exit 0", p.name, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("hive %s did not exit within 60s of SIGTERM", p.name)
		}
		// Each process ran as its NATS role: a refused operation is a
		// missing permission in bus.Permissions.
		if strings.Contains(strings.ToLower(p.out.String()), "permissions violation") {
			t.Errorf("hive %s hit a NATS permission violation", p.name)
		}
	}
}
