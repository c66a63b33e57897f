package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// Scenarios.
const (
	ScenarioEcho   = "echo"    // msg.Echo round trips through gate and game
	ScenarioItems  = "items"   // msg.GetItems: a read of the player's state
	ScenarioGift   = "gift"    // msg.GiftItems of 1 gold to the next player: a two-aggregate write
	ScenarioNATSRR = "nats-rr" // raw NATS request-reply, the floor under the others
)

// gameOps signs up and logs in the players and returns their ops.
func gameOps(ctx context.Context, opt Options, ring *giftRing) ([]*benchPlayer, []benchOp, func(), error) {
	n := opt.Conns
	if opt.Scenario == ScenarioGift && n == 1 {
		n = 2 // a gift needs someone else: see the gift op below
	}
	players, cleanup, err := signUpAll(ctx, opt, n)
	if err != nil {
		return nil, nil, nil, err
	}
	ops, err := playerOps(opt, players, ring)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return players, ops, cleanup, nil
}

// signUpAll signs up n guest players (16 at a time) and returns them with
// the function that closes their connections.
func signUpAll(ctx context.Context, opt Options, n int) ([]*benchPlayer, func(), error) {
	uc := &client.UC{BaseURL: opt.UC, HTTP: opt.HTTP}
	players := make([]*benchPlayer, n)
	cleanup := func() {
		for _, p := range players {
			if p != nil {
				p.close()
			}
		}
	}
	// uc rate-limits per IP: signUp waits and retries when it says so.
	err := sixteenAtATime(len(players), func(i int) error {
		p, err := signUp(ctx, uc, opt, opt.Prefix+strconv.Itoa(i))
		players[i] = p
		return err
	})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return players, cleanup, nil
}

// playerOps returns the opt.Conns ops of a game scenario over the players
// (two players for one gift connection, else one per op). Each op's
// request is encoded here, once. The gift ops keep to ring's gold.
func playerOps(opt Options, players []*benchPlayer, ring *giftRing) ([]benchOp, error) {
	ops := make([]benchOp, opt.Conns)
	gold := int32(def.ItemType_ITEM_GOLD)
	gift := func(to *benchPlayer) (*benchReq, error) {
		return newBenchReq(&msg.GiftItems_Req{DstId: proto.Int64(to.id), ItemIdx: proto.Int32(gold), ItemNum: proto.Int32(1)})
	}
	if opt.Scenario == ScenarioGift && opt.Conns == 1 {
		// One request in flight between two players, alternating the
		// giver, so neither runs dry.
		var reqs [2]*benchReq
		for i := range reqs {
			q, err := gift(players[1-i])
			if err != nil {
				return nil, err
			}
			reqs[i] = q
		}
		var turn int
		ops[0] = func(ctx context.Context, t0 time.Time) error {
			from, q := players[turn], reqs[turn]
			turn = 1 - turn
			return from.bc.do(ctx, from, q, t0, opt.Timeout)
		}
		return ops, nil
	}
	for i, p := range players {
		var q *benchReq
		var err error
		switch opt.Scenario {
		case ScenarioEcho:
			q, err = newEchoReq(int64(i))
		case ScenarioItems:
			q, err = newBenchReq(&msg.GetItems_Req{Idx: proto.Int32(0)})
		case ScenarioGift:
			// Gold goes round the ring of players, one at a time.
			to := (i + 1) % len(players)
			if q, err = gift(players[to]); err != nil {
				return nil, err
			}
			ops[i] = func(ctx context.Context, t0 time.Time) error {
				if !ring.may(i) {
					return errNoGold
				}
				err := p.bc.do(ctx, p, q, t0, opt.Timeout)
				if err == nil {
					ring.gave(i, to)
				}
				return err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		ops[i] = func(ctx context.Context, t0 time.Time) error {
			return p.bc.do(ctx, p, q, t0, opt.Timeout)
		}
	}
	return ops, nil
}

// giftRing keeps the gift scenario's players from running dry. Each
// connection gives to the next one's player, and a connection answered
// faster than the one before it would give its gold away faster than it
// comes round and be refused (RC_ITEM_NOT_ENOUGH) in a long run. So the
// ring counts each player's gold from the bench's own answers (read before
// the run, less each gift it gave, plus each it was given), and a player
// left with giftReserve or less waits for gold instead of asking.
type giftRing struct {
	gold []atomic.Int64 // by player; nil until start
}

// giftReserve is gold a player keeps back for gifts to it the bench saw
// answered whose credit is not stored yet (a credit follows its answer by
// milliseconds: the credit lag's p99 was under 50 ms in every run).
const giftReserve = 32

// errNoGold is a gift op not sent: its player is down to giftReserve.
var errNoGold = errors.New("bench: waiting for gold to come round")

// start sets each player's gold before the run.
func (r *giftRing) start(golds []int64) {
	r.gold = make([]atomic.Int64, len(golds))
	for i, g := range golds {
		r.gold[i].Store(g)
	}
}

// may reports whether player i has gold to give beyond the reserve.
func (r *giftRing) may(i int) bool { return r.gold == nil || r.gold[i].Load() > giftReserve }

// gave records a gift of one gold from player i to player to, answered RC_OK.
func (r *giftRing) gave(i, to int) {
	if r.gold != nil {
		r.gold[i].Add(-1)
		r.gold[to].Add(1)
	}
}

// natsOps starts a responder on its own connection and returns requesters
// sharing a few connections (as gates share theirs among sessions).
func natsOps(opt Options) ([]benchOp, func(), error) {
	var conns []*nats.Conn
	cleanup := func() {
		for _, nc := range conns {
			nc.Close()
		}
	}
	responder, err := bus.Connect(opt.NATS, "hive-bench-responder", opt.NATSOptions...)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	conns = append(conns, responder)
	subject := bus.BenchPrefix + nats.NewInbox()[len("_INBOX."):]
	if _, err := responder.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("bench: responder: %w", err)
	}
	if err := responder.Flush(); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("bench: responder: %w", err)
	}
	var requesters []*nats.Conn
	for range min(opt.Conns, 8) {
		nc, err := bus.Connect(opt.NATS, "hive-bench", opt.NATSOptions...)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("bench: %w", err)
		}
		conns = append(conns, nc)
		requesters = append(requesters, nc)
	}
	payload := make([]byte, 16)
	ops := make([]benchOp, opt.Conns)
	for i := range ops {
		nc := requesters[i%len(requesters)]
		ops[i] = func(ctx context.Context, _ time.Time) error {
			rctx, cancel := context.WithTimeout(ctx, opt.Timeout)
			defer cancel()
			_, err := nc.RequestWithContext(rctx, subject, payload)
			return err
		}
	}
	return ops, cleanup, nil
}
