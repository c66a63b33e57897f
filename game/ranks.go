package game

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// RankSize is how many players GetRank answers.
const RankSize = 100

// rankTTL is how long a worker reuses a leaderboard it built: boards are a
// projection and slightly stale by nature; this spares 100 loads per request.
const rankTTL = time.Second

// RankKey is the cache sorted set of the leaderboard of item idx: member =
// player id, score = amount held.
func RankKey(idx int32) string { return "rank:" + strconv.Itoa(int(idx)) }

type rankEntry struct {
	at   time.Time
	rank *def.Rank
}

// rankCache memoizes built leaderboards per item idx for rankTTL.
type rankCache struct {
	w  *Worker
	mu sync.Mutex
	m  map[int32]rankEntry
}

func newRankCache(w *Worker) *rankCache { return &rankCache{w: w, m: map[int32]rankEntry{}} }

func (w *Worker) getRank(ctx context.Context, _ *Request, req *msg.GetRank_Req) (*msg.GetRank_Res, error) {
	idx := req.GetType()
	if _, ok := w.data.Items[idx]; !ok {
		return &msg.GetRank_Res{Code: codeOf(def.ResCode_RC_ITEM_INVALID)}, nil
	}
	rank, err := w.ranks.get(ctx, idx)
	if errors.Is(err, errRanksNotReady) {
		return &msg.GetRank_Res{Code: codeOf(def.ResCode_RC_RANK_NOT_READY)}, nil
	}
	if err != nil {
		return nil, err
	}
	return &msg.GetRank_Res{Code: okCode(), Rank: rank}, nil
}

// errRanksNotReady: the boards are missing or being rebuilt from the first
// event; a partial board would rank players wrongly, so none is answered.
var errRanksNotReady = errors.New("game: leaderboards not ready")

// get returns the top RankSize holders of idx with their public profiles.
func (c *rankCache) get(ctx context.Context, idx int32) (*def.Rank, error) {
	c.mu.Lock()
	e, ok := c.m[idx]
	c.mu.Unlock()
	if ok && time.Since(e.at) < rankTTL {
		return e.rank, nil
	}
	ready, err := ranksReady(ctx, c.w.deps.Cache)
	if err != nil {
		return nil, err
	}
	if !ready {
		return nil, errRanksNotReady
	}
	top, err := c.w.deps.Cache.ZTop(ctx, RankKey(idx), RankSize)
	if err != nil {
		return nil, err
	}
	rank := &def.Rank{Type: proto.Int32(idx)}
	items := make([]*def.Rank_Item, len(top))
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 8) // loads in flight
		errs = make([]error, len(top))
	)
	for i, z := range top {
		uid, err := strconv.ParseInt(z.Member, 10, 64)
		if err != nil || z.Score <= 0 {
			continue // players at 0 hold nothing to rank
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			s, err := c.w.load(ctx, uid)
			if err != nil {
				errs[i] = err
				return
			}
			if !s.GetCreated() {
				return // a stale entry of the cache, not a player
			}
			items[i] = &def.Rank_Item{Val: proto.Int64(int64(z.Score)), User: brief(s)}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for _, it := range items {
		if it != nil {
			it.Rank = proto.Int32(int32(len(rank.Items) + 1))
			rank.Items = append(rank.Items, it)
		}
	}
	c.mu.Lock()
	c.m[idx] = rankEntry{at: time.Now(), rank: rank}
	c.mu.Unlock()
	return rank, nil
}
