package game

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// A nats-server restart under load loses no request: those in flight at the
// drop and those sent while the server is away are answered once it is back
// (the gate's connection buffers them; an answer published before the
// gate's subscription is back is lost, and the gate's re-send with the same
// Hive-Req gets it again), and those sent after it is back are answered
// within the deadline, not after a stall. Every answer is RC_OK (a call cut
// by the drop runs again once reconnected) and every gift is applied once
// (its credit, which follows the answer, too).
// Deadlines are the defaults, the gate's as the game's: a batch whose ack
// was lost with the old server held the store's only batch flight for its
// 5 s, and the gifts in flight, re-sent or sent after the restart ran out
// of time behind it; so did a gift's credit, holding the receiver's turn
// (and the receiver's own gifts) on a call cut by the drop.
func TestNATSRestartUnderLoad(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	h.worker(cfg)
	const players = 4
	ps := make([]*player, players)
	for i := range ps {
		ps[i] = h.player(int64(i+1), "g1")
		login(t, ps[i])
	}
	gateNC := h.n.Connect(t, "gate") // TCP: it reconnects to the restarted server
	for _, p := range ps {
		p.nc, p.resendAfter, p.budget = gateNC, 400*time.Millisecond, cfg.RequestTimeout
	}

	var back atomic.Bool // the server is up again
	var mu sync.Mutex
	var failures []string
	var afterBack, total atomic.Int64
	var gifts [players]atomic.Int64 // gifts answered RC_OK, by giver
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				sentAfterBack := back.Load()
				var req proto.Message = &msg.GetItems_Req{}
				if n%2 == 1 {
					req = &msg.GiftItems_Req{DstId: proto.Int64(int64((i+1)%players + 1)), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1)}
				}
				res, err := p.sendID(req, strconv.Itoa(n))
				switch {
				case err != nil:
					mu.Lock()
					failures = append(failures, fmt.Sprintf("player %d request %d: %v", p.uid, n, err))
					mu.Unlock()
				case code(res) != def.ResCode_RC_OK:
					mu.Lock()
					failures = append(failures, fmt.Sprintf("player %d request %d (sent after restart: %v): %v", p.uid, n, sentAfterBack, res))
					mu.Unlock()
				}
				if err == nil && code(res) == def.ResCode_RC_OK && n%2 == 1 {
					gifts[i].Add(1)
				}
				total.Add(1)
				if sentAfterBack {
					afterBack.Add(1)
				}
			}
		})
	}
	eventually(t, "load running", func() bool { return total.Load() >= 40 })
	h.n.Stop()
	time.Sleep(time.Second) // the hole
	h.n.Restart(t)
	back.Store(true)
	eventually(t, "answers to requests sent after the restart", func() bool { return afterBack.Load() >= 200 })
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	// A gift's credit follows its answer: wait for the credits to land
	// (gold only grows once the load has stopped, so a credit applied twice
	// stays visible).
	deadline := time.Now().Add(15 * time.Second)
	for i, p := range ps {
		p.nc = h.n.Conn
		want := 1000 - gifts[i].Load() + gifts[(i+players-1)%players].Load()
		got := items(t, p)[gold]
		for got < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			got = items(t, p)[gold]
		}
		if got != want {
			t.Errorf("player %d: %d gold, want %d (gifts applied once)", p.uid, got, want)
		}
	}
}
