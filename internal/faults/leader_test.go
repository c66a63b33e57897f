package faults

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/qeetap/hive/bus"
)

// electedLine is what a game worker logs when it wins the leader election
// (game/leader.go).
const electedLine = "game: elected leader"

// lostLine is what the registry logs when a worker's election session
// expires (registry/etcd.go).
const lostLine = "lost leadership"

// electionLines counts each game worker's election and lost-leadership log
// lines so far: elections of worker i at 2i, losses at 2i+1.
func electionLines(c *cluster) []int {
	n := make([]int, 2*len(c.games))
	for i, g := range c.games {
		text := g.logText()
		n[2*i], n[2*i+1] = strings.Count(text, electedLine), strings.Count(text, lostLine)
	}
	return n
}

// leaders says which game workers run the leader jobs: from the
// hive_game_leader gauge where the workers export it, else from the
// elections they logged since before (counts from electionLines).
func leaders(c *cluster, before []int) string {
	var b strings.Builder
	n, seen := 0, false
	for _, g := range c.games {
		v, ok := c.scrape(g, "hive_game_leader")
		if ok {
			seen = true
			if v == 1 {
				n++
			}
		}
		fmt.Fprintf(&b, " %s=%v", g.name, v)
	}
	if seen {
		return fmt.Sprintf("%d leader(s) by hive_game_leader:%s", n, b.String())
	}
	b.Reset()
	after := electionLines(c)
	for i, g := range c.games {
		fmt.Fprintf(&b, " %s elected %d lost %d;", g.name, after[2*i]-before[2*i], after[2*i+1]-before[2*i+1])
	}
	return "no hive_game_leader gauge; logged during and after the freeze:" + strings.TrimSuffix(b.String(), ";")
}

// streamLeader is the NATS node leading the EVENTS stream's raft group.
func (c *cluster) streamLeader() *proc {
	c.t.Helper()
	js := c.tools()
	var leader *proc
	c.waitFor("the EVENTS stream leader", 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, bus.EventsStream)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		var i int
		if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &i); err != nil || i >= len(c.nats) {
			return false
		}
		leader = c.nats[i]
		return true
	})
	return leader
}

// waitNATS waits until every node is healthy and the EVENTS stream has a
// leader with every replica current.
func (c *cluster) waitNATS() {
	c.t.Helper()
	for i, n := range c.nats {
		c.waitHTTP(n, "http://"+c.natsMon[i]+"/healthz")
	}
	if len(c.nats) == 1 {
		return
	}
	js := c.tools()
	c.waitFor("EVENTS replicas current", 90*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, bus.EventsStream)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != len(c.nats)-1 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	})
}

// leaderWorker is the game worker that logged the most elections (the
// first on a tie): the one running the leader jobs.
func (c *cluster) leaderWorker() *proc {
	n := electionLines(c)
	best := 0
	for i := range c.games {
		if n[2*i] > n[2*best] {
			best = i
		}
	}
	return c.games[best]
}

// busiestGate is the gate with the most open client connections
// (hive_gate_connections) and that number.
func (c *cluster) busiestGate() (*proc, float64) {
	best, most := c.gates[0], -1.0
	for _, g := range c.gates {
		if v, ok := c.scrape(g, "hive_gate_connections"); ok && v > most {
			best, most = g, v
		}
	}
	return best, most
}
