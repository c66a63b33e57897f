package faults

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// timings are how long each part of a scenario lasts; the short and long
// suites (build tag faults) set them.
type timings struct {
	players int
	// think is a player's pause between requests; timeout bounds one request.
	think, timeout time.Duration
	// warm is the load before the fault; settle bounds the wait for every
	// player to be answered again after it; tail is the load after that.
	warm, settle, tail time.Duration
	// etcdFreeze and natsFreeze are how long etcd and a NATS node stay stopped.
	etcdFreeze, natsFreeze time.Duration
	long                   bool
}

// fault is one scenario on a running cluster: inject injects it (and calls
// l.markFaultEnd when the fault is over, e.g. the process restarted) and
// returns a note for the report; restore brings back what the fault took
// away before the end state is judged.
type fault struct {
	name    string
	inject  func(c *cluster, l *ledger) string
	restore func(c *cluster)
	// after, if set, adds to the note once the cluster serves again.
	after func(c *cluster) string
}

// TestFaultsSingleNode runs scenarios 1 to 5 one after another on one
// cluster with a single NATS node, each with its own report line, judged on
// every gift since the start.
func TestFaultsSingleNode(t *testing.T) {
	parallelIfShort(t)
	c := startCluster(t, 1)
	var before []int
	var victim *proc
	var control []fault
	if timing.long {
		control = append(control, fault{name: "none (control)", inject: func(c *cluster, l *ledger) string { l.markFaultEnd(); return "" }})
	}
	runFaults(t, c, append(control, []fault{
		{name: "game worker kill -9",
			inject: func(c *cluster, l *ledger) string {
				victim = c.leaderWorker()
				l.markFaultEnd()
				victim.kill()
				return "killed " + victim.name + ", the one that logged its election as leader"
			},
			restore: func(c *cluster) { victim.start(); c.waitReady(victim) }},
		{name: "gate kill -9",
			inject: func(c *cluster, l *ledger) string {
				var n float64
				victim, n = c.busiestGate()
				l.markFaultEnd()
				victim.kill()
				return fmt.Sprintf("killed %s, holding %.0f connections", victim.name, n)
			},
			restore: func(c *cluster) { victim.start(); c.waitReady(victim) }},
		{name: "nats-server kill -9 and restart",
			inject: func(c *cluster, l *ledger) string {
				c.nats[0].restart()
				c.waitHTTP(c.nats[0], "http://"+c.natsMon[0]+"/healthz")
				l.markFaultEnd()
				return ""
			}},
		{name: "redis FLUSHALL, kill -9 and restart",
			inject: func(c *cluster, l *ledger) string {
				note := ""
				if err := c.redisDo("FLUSHALL"); err != nil {
					note = "FLUSHALL: " + err.Error()
				}
				c.redis.restart()
				c.waitRedis()
				l.markFaultEnd()
				return note
			}},
		{name: fmt.Sprintf("etcd SIGSTOP %v", timing.etcdFreeze),
			inject: func(c *cluster, l *ledger) string {
				before = electionLines(c)
				c.etcd.signal(syscall.SIGSTOP)
				time.Sleep(timing.etcdFreeze)
				c.etcd.signal(syscall.SIGCONT)
				l.markFaultEnd()
				return ""
			},
			after: func(c *cluster) string { return leaders(c, before) }},
	}...))
}

// TestFaultsNATSCluster is scenario 6: three NATS nodes, the store at three
// replicas; the EVENTS stream's leader killed, a node restarted, the leader
// frozen (a partition's stand-in).
func TestFaultsNATSCluster(t *testing.T) {
	parallelIfShort(t)
	c := startCluster(t, 3)
	var down *proc
	runFaults(t, c, []fault{
		{name: "R3 stream leader kill -9",
			inject: func(c *cluster, l *ledger) string {
				down = c.streamLeader()
				l.markFaultEnd()
				down.kill()
				return "killed " + down.name
			},
			restore: func(c *cluster) { down.start(); c.waitNATS() }},
		{name: "R3 node restart",
			inject: func(c *cluster, l *ledger) string {
				n := c.nats[0]
				n.signal(syscall.SIGTERM)
				c.waitFor(n.name+" exit", 60*time.Second, func() bool { return !n.running() })
				n.start()
				c.waitNATS()
				l.markFaultEnd()
				return "restarted " + n.name
			}},
		{name: fmt.Sprintf("R3 stream leader SIGSTOP %v", timing.natsFreeze),
			inject: func(c *cluster, l *ledger) string {
				n := c.streamLeader()
				n.signal(syscall.SIGSTOP)
				time.Sleep(timing.natsFreeze)
				n.signal(syscall.SIGCONT)
				l.markFaultEnd()
				return "froze " + n.name
			}},
	})
}

// parallelIfShort runs the short suite's two clusters side by side (mostly
// waiting, they fit the time of one); the long suite runs them one at a time
// so that one's load does not slow the other's recovery.
func parallelIfShort(t *testing.T) {
	if !timing.long {
		t.Parallel()
	}
}

// runFaults signs the players up, then for each fault: load for
// timing.warm, the fault, load until every player is answered again (at
// most timing.settle) and timing.tail more, then stops the load, restores,
// judges every gift so far and reports one line. It fails on a lost or
// doubled gift, gold not conserved or a player inconsistent with the events.
func runFaults(t *testing.T, c *cluster, faults []fault) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	players, err := signUp(ctx, c.ucURL, strings.ReplaceAll(t.Name(), "/", "-"), timing.players)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	js := c.tools()
	l := newLedger()
	applied := 0 // failed-but-applied gifts of the earlier faults
	for _, f := range faults {
		l.newPhase()
		ld := startLoad(players, l, timing.think, timing.timeout)
		time.Sleep(timing.warm)
		note := f.inject(c, l)
		recovered := "none within " + timing.settle.String()
		for deadline := time.Now().Add(timing.settle); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if d, ok := l.recovery(len(players)); ok {
				recovered = d.Round(10 * time.Millisecond).String()
				break
			}
		}
		time.Sleep(timing.tail)
		ld.stop()
		if f.restore != nil {
			f.restore(c)
		}
		c.waitServing()
		if f.after != nil {
			note = strings.TrimSpace(note + " " + f.after(c))
		}
		jctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		v, err := judge(jctx, js, players, l)
		cancel()
		if err != nil {
			t.Fatalf("%s: judging the end state: %v", f.name, err)
		}
		l.mu.Lock()
		line := fmt.Sprintf("fault=%q requests=%d errors=%s longest_wait=%v conservation=%d inconsistent=%d lost=%d doubled=%d failed_but_applied=%d recovery=%s",
			f.name, l.requests, "", l.longestWait.Round(10*time.Millisecond), v.conservation, v.inconsistent, v.lost, v.doubled, v.uncertainApplied-applied, recovered)
		l.mu.Unlock()
		applied = v.uncertainApplied
		line = strings.Replace(line, "errors= ", "errors="+l.errorsLine()+" ", 1)
		if note != "" {
			line += " note=" + fmt.Sprintf("%q", note)
		}
		report(t, line)
		if v.failed() {
			for i, p := range v.problems {
				if i == 20 {
					t.Errorf("... %d more", len(v.problems)-i)
					break
				}
				t.Error(p)
			}
			t.Fatalf("%s: gifts lost, doubled or inconsistent", f.name)
		}
	}
}

// report logs a scenario's line and appends it to $HIVE_FAULTS_REPORT if set.
func report(t *testing.T, line string) {
	t.Log(line)
	if path := os.Getenv("HIVE_FAULTS_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
}
