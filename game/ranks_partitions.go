package game

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
)

// rankPos is the decoded RankStateKey: a position in each partition's
// stream, written "s0,s1,..." (one number in a store of one partition,
// the form of before partitions).
type rankPos struct {
	ready   bool
	seqs    []uint64 // by partition: last stream sequence folded into the boards
	pending uint64   // rebuilding: events left to read when the rebuild began
}

// formatSeqs writes a sequence per partition, "s0,s1,...".
func formatSeqs(seqs []uint64) string {
	out := make([]string, len(seqs))
	for i, s := range seqs {
		out[i] = strconv.FormatUint(s, 10)
	}
	return strings.Join(out, ",")
}

// parseSeqs reads what formatSeqs wrote.
func parseSeqs(s string) ([]uint64, error) {
	var seqs []uint64
	for v := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, n)
	}
	return seqs, nil
}

func (p rankPos) encode() []byte {
	s := formatSeqs(p.seqs)
	if p.ready {
		return []byte("ready " + s)
	}
	return []byte("rebuilding " + s + " " + strconv.FormatUint(p.pending, 10))
}

func parseRankPos(b []byte) (rankPos, error) {
	f := strings.Fields(string(b))
	var p rankPos
	var err error
	switch {
	case len(f) == 2 && f[0] == "ready":
		p.ready = true
		p.seqs, err = parseSeqs(f[1])
	case len(f) == 3 && f[0] == "rebuilding":
		if p.seqs, err = parseSeqs(f[1]); err == nil {
			p.pending, err = strconv.ParseUint(f[2], 10, 64)
		}
	default:
		err = errors.New("unknown form")
	}
	if err != nil {
		return rankPos{}, fmt.Errorf("game: %s %q: %w", RankStateKey, b, err)
	}
	return p, nil
}

// read is what a reader goroutine hands the fold: an event of partition
// part, or why it stopped.
type read struct {
	part    int
	ev      *events.Event
	seq     uint64 // stream sequence, also for events that could not be decoded
	pending uint64 // events left in the partition after this one
	err     error
}

// readRanks starts an ordered consumer of the events on each partition's
// stream after the sequence after gives it, and a goroutine per partition
// handing its events to the returned channel until done is closed. It
// returns the events left to read in each partition when they started.
// stop ends the consumers.
func (w *Worker) readRanks(ctx context.Context, after []uint64, done <-chan struct{}) (reads chan read, left []uint64, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	reads = make(chan read, 4096)
	for p, stream := range w.store.Streams() {
		var cfg jetstream.OrderedConsumerConfig // no filter: see Worker.consume
		if after[p] > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after[p]+1
		}
		cons, err := w.deps.JS.OrderedConsumer(ctx, stream, cfg)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		left = append(left, info.NumPending)
		it, err := cons.Messages(jetstream.PullMaxMessages(1024))
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		stops = append(stops, it.Stop)
		go w.readPartition(p, it, reads, done)
	}
	return reads, left, stop, nil
}

// readPartition hands one partition's events to reads until an error or done.
func (w *Worker) readPartition(p int, it jetstream.MessagesContext, reads chan<- read, done <-chan struct{}) {
	for {
		m, err := it.Next()
		r := read{part: p, err: err}
		if err == nil {
			if md, merr := m.Metadata(); merr == nil {
				r.seq, r.pending = md.Sequence.Stream, md.NumPending
			}
			// An account event (partition 0) is not a player's: its
			// position counts, its content does not.
			if bus.IsPlayerEvent(m.Subject()) {
				if r.ev, err = events.DecodeJS(m); err != nil {
					// Not ours to fold (a type this version does not know):
					// skip it loudly rather than stall the boards behind it.
					w.log.Error("game: leaderboards: skipping an event", "partition", p, "seq", r.seq, "err", err)
				}
			}
		}
		select {
		case reads <- r:
		case <-done:
			return
		}
		if r.err != nil {
			return
		}
	}
}
