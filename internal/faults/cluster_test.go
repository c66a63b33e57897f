package faults

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/internal/testenv"
)

// cluster is the compose topology as processes on loopback: nats-server
// (one node, or three with the store at three replicas), etcd, redis-server,
// uc, two gates and two game workers.
type cluster struct {
	t       *testing.T
	dir     string
	b       binaries
	secrets string

	nats      []*proc // node i is server name "n<i>"
	natsURL   string  // every node, comma-separated
	natsMon   []string
	etcd      *proc
	etcdURL   string
	redis     *proc
	redisAddr string
	uc        *proc
	ucURL     string
	gates     []*proc
	games     []*proc
	// metrics is each hive process's --metrics-listen.
	metrics map[*proc]string
}

func free(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) }

// startCluster starts the servers and the hive processes and waits until
// uc hands out a gate. natsNodes is 1 or 3 (then --replicas 3).
func startCluster(t *testing.T, natsNodes int) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), b: bins(t), metrics: map[*proc]string{}}
	c.secrets = filepath.Join(c.dir, "secrets")
	if out, err := exec.Command(c.b.hive, "secrets", "init", c.secrets).CombinedOutput(); err != nil {
		t.Fatalf("hive secrets init: %v\n%s", err, out)
	}
	c.startNATS(natsNodes)
	c.startEtcd()
	c.startRedis()

	replicas := "1"
	if natsNodes > 1 {
		replicas = "3"
	}
	hive := func(role, name string, extra ...string) *proc {
		m := free(t)
		args := append([]string{role, "--nats", c.natsURL, "--nats-creds", bus.CredsPath(c.secrets, bus.Role(role)),
			"--etcd", c.etcdURL, "--redis", c.redisAddr, "--replicas", replicas,
			"--data-dir", filepath.Join(c.dir, name), "--metrics-listen", m}, extra...)
		p := startProc(t, c.dir, name, c.b.hive, args...)
		c.metrics[p] = m
		return p
	}
	// The game workers first, both at once: they create the stream and
	// buckets together, as a fresh deployment's do.
	for i := range 2 {
		c.games = append(c.games, hive("game", fmt.Sprintf("game-%d", i+1)))
	}
	c.waitReady(c.games...)
	ucAddr := free(t)
	c.ucURL = "http://" + ucAddr
	c.uc = hive("uc", "uc", "--uc-listen", ucAddr, "--sms-log-codes",
		"--uc-create-limit", "0", "--uc-ip-rate", "0") // every player comes from 127.0.0.1
	for i := range 2 {
		g := free(t)
		c.gates = append(c.gates, hive("gate", fmt.Sprintf("gate-%d", i+1), "--gate-id", fmt.Sprintf("gate-%d", i+1), "--gate-listen", g,
			"--gate-ip-login-rate", "0", "--gate-max-conns-per-ip", "0"))
	}
	c.waitReady(append([]*proc{c.uc}, c.gates...)...)
	c.waitServing()
	return c
}

func (c *cluster) startNATS(n int) {
	t := c.t
	conf := filepath.Join(c.secrets, bus.ServerConfigFile)
	var urls, routes []string
	clientAddrs := make([]string, n)
	for i := range n {
		clientAddrs[i] = free(t)
		urls = append(urls, "nats://"+clientAddrs[i])
		routes = append(routes, "nats://"+free(t))
	}
	c.natsURL = strings.Join(urls, ",")
	for i := range n {
		host, port, _ := net.SplitHostPort(clientAddrs[i])
		mon := free(t)
		_, mport, _ := net.SplitHostPort(mon)
		args := []string{"-c", conf, "-js", "-sd", filepath.Join(c.dir, fmt.Sprintf("nats-%d", i)),
			"-a", host, "-p", port, "-m", mport, "-n", fmt.Sprintf("n%d", i)}
		if n > 1 {
			args = append(args, "--cluster_name", "hive", "--cluster", routes[i], "--routes", strings.Join(routes, ","))
		}
		c.nats = append(c.nats, startProc(t, c.dir, fmt.Sprintf("nats-%d", i), c.b.nats, args...))
		c.natsMon = append(c.natsMon, mon)
	}
	for i := range n {
		c.waitHTTP(c.nats[i], "http://"+c.natsMon[i]+"/healthz")
	}
}

func (c *cluster) startEtcd() {
	client, peer := free(c.t), free(c.t)
	c.etcdURL = "http://" + client
	c.etcd = startProc(c.t, c.dir, "etcd", c.b.etcd, "--data-dir", filepath.Join(c.dir, "etcd"),
		"--client", "http://"+client, "--peer", "http://"+peer)
	c.waitHTTP(c.etcd, "http://"+client+"/health")
}

func (c *cluster) startRedis() {
	c.redisAddr = free(c.t)
	_, port, _ := net.SplitHostPort(c.redisAddr)
	c.redis = startProc(c.t, c.dir, "redis", c.b.redis, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", c.dir, "--loglevel", "warning")
	c.waitRedis()
}

// waitRedis waits until redis answers PING.
func (c *cluster) waitRedis() {
	cli := redis.NewClient(&redis.Options{Addr: c.redisAddr})
	defer cli.Close()
	c.waitFor("redis ping", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return cli.Ping(ctx).Err() == nil
	})
}

// redisDo runs one command against redis.
func (c *cluster) redisDo(args ...any) error {
	cli := redis.NewClient(&redis.Options{Addr: c.redisAddr})
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cli.Do(ctx, args...).Err()
}

// waitHTTP waits until url answers 200, failing if p exits first.
func (c *cluster) waitHTTP(p *proc, url string) {
	c.t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	c.waitFor(p.name+" at "+url, 60*time.Second, func() bool {
		if !p.running() {
			c.t.Fatalf("faults: %s exited:\n%s", p.name, tail(p.log, 40))
		}
		res, err := hc.Get(url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode == 200
	})
}

func (c *cluster) waitReady(ps ...*proc) {
	c.t.Helper()
	for _, p := range ps {
		c.waitHTTP(p, "http://"+c.metrics[p]+"/readyz")
	}
}

// waitServing waits until a guest can sign in at uc and log in at the gate
// it names: uc knows a gate and the gate reaches a game worker.
func (c *cluster) waitServing() {
	c.t.Helper()
	p := &player{device: "faults-probe-0123456789", uc: &client.UC{BaseURL: c.ucURL}}
	c.waitFor("a guest login through uc and a gate", 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if p.login(ctx) != nil {
			return false
		}
		p.s.Close()
		return true
	})
}

func (c *cluster) waitFor(what string, d time.Duration, cond func() bool) {
	c.t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("faults: timed out after %v waiting for %s", d, what)
		}
	}
}

// tools connects to NATS as the read-only tools role.
func (c *cluster) tools() jetstream.JetStream {
	c.t.Helper()
	nc, err := bus.Connect(c.natsURL, "faults-tools", func() []nats.Option {
		o, err := bus.CredsOption(bus.CredsPath(c.secrets, bus.RoleTools))
		if err != nil {
			c.t.Fatal(err)
		}
		return []nats.Option{o}
	}()...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}

// scrape returns the value of the first series named name (any labels) in
// p's /metrics, and whether it was there.
func (c *cluster) scrape(p *proc, name string) (float64, bool) {
	hc := &http.Client{Timeout: 2 * time.Second}
	res, err := hc.Get("http://" + c.metrics[p] + "/metrics")
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) || len(line) <= len(name) || (line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}

// fds counts the open file descriptors of p (Linux /proc).
func fds(p *proc) int {
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(es)
}
