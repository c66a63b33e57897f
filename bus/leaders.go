package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SpreadLeaders moves the leaders of the event streams so that no node
// leads more than its share (the number of partitions over the number of
// nodes, rounded up): every write of a partition goes through its leader,
// and nats-server picks a new stream's leader at random, so four
// partitions on three nodes may all be led by one. It asks each stream led
// by a node over its share to step down in favour of its least loaded
// replica, and returns how many it asked; the elections end shortly after.
// A store of one partition, or of one replica, has nothing to spread.
// Writers call it at start (EnsureStore): once leaders are spread it does
// nothing.
func SpreadLeaders(ctx context.Context, js jetstream.JetStream) (int, error) {
	streams, err := PartitionStreams(ctx, js)
	if err != nil || len(streams) < 2 {
		return 0, err
	}
	type part struct {
		name, leader string
		peers        []string
	}
	var parts []part
	load := map[string]int{}
	for _, name := range streams {
		c, err := streamCluster(ctx, js, name)
		if err != nil {
			return 0, err
		}
		if c == nil || len(c.Replicas) == 0 {
			return 0, nil // one replica: nothing to spread
		}
		p := part{name: name, leader: c.Leader, peers: []string{c.Leader}}
		for _, r := range c.Replicas {
			p.peers = append(p.peers, r.Name)
			load[r.Name] += 0 // every node, leading or not
		}
		load[c.Leader]++
		parts = append(parts, p)
	}
	share := (len(parts) + len(load) - 1) / len(load)
	moved := 0
	for _, p := range parts {
		if load[p.leader] <= share {
			continue
		}
		to := ""
		for _, peer := range p.peers {
			if peer != p.leader && load[peer] < share && (to == "" || load[peer] < load[to]) {
				to = peer
			}
		}
		if to == "" {
			continue
		}
		if err := stepDown(ctx, js, p.name, to); err != nil {
			return moved, err
		}
		load[p.leader]--
		load[to]++
		moved++
	}
	return moved, nil
}

// streamCluster is the cluster part of stream's info once it has a leader
// (a stream just made elects one within moments; this waits up to 10 s).
func streamCluster(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.ClusterInfo, error) {
	for wait := 0; ; wait++ {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("bus: stream %s: %w", name, err)
		}
		c := s.CachedInfo().Cluster
		if c == nil || c.Leader != "" || wait == 100 {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stepDown asks stream's leader to hand leadership to server to.
func stepDown(ctx context.Context, js jetstream.JetStream, stream, to string) error {
	req, err := json.Marshal(map[string]any{"placement": map[string]string{"preferred": to}})
	if err != nil {
		return err
	}
	m, err := js.Conn().RequestWithContext(ctx, jsAPI+"STREAM.LEADER.STEPDOWN."+stream, req)
	if err != nil {
		return fmt.Errorf("bus: stream %s: leader step down: %w", stream, err)
	}
	var resp struct {
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return fmt.Errorf("bus: stream %s: leader step down: %w", stream, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("bus: stream %s: leader step down to %s: %w", stream, to, resp.Error)
	}
	return nil
}

// leaderStepDowns is the permission SpreadLeaders needs.
func leaderStepDowns() []string {
	var out []string
	for _, s := range eventStreams() {
		out = append(out, jsAPI+"STREAM.LEADER.STEPDOWN."+s)
	}
	return out
}
