package game

import (
	"slices"

	"github.com/qeetap/hive/proto/def"
)

// Amount is a number of one item kind.
type Amount struct {
	Idx int32 `json:"idx"`
	Num int64 `json:"num"`
}

// ItemDef is one row of the item table.
type ItemDef struct {
	Idx      int32  `json:"idx"`
	Name     string `json:"name"`
	Giftable bool   `json:"giftable"`
	// StackLimit is the most one player may hold; 0 = MaxStack. A grant,
	// gift, claim or use that would pass it is refused (RC_ITEM_OVERFLOW),
	// never silently capped, so no operation loses items.
	StackLimit int64 `json:"stack_limit"`
}

// Usage is one row of the item-usage table: using one item of Idx grants
// Grant (multiplied by the number used).
type Usage struct {
	Idx   int32    `json:"idx"`
	Grant []Amount `json:"grant"`
}

// Data is the game data: starting items, the item table and the item-usage
// table. It is read once at start (LoadData) and only read afterwards.
type Data struct {
	Start []Amount
	Items map[int32]ItemDef
	Usage map[int32]Usage
}

// DefaultData is the built-in game data: 1000 gold to start; gold and cards
// giftable, diamonds not; a card is used for 100 gold.
func DefaultData() *Data {
	gold, diamond, card := int32(def.ItemType_ITEM_GOLD), int32(def.ItemType_ITEM_DIAMOND), int32(def.ItemType_ITEM_CARD)
	return &Data{
		Start: []Amount{{gold, 1000}},
		Items: map[int32]ItemDef{
			gold:    {Idx: gold, Name: "gold", Giftable: true},
			diamond: {Idx: diamond, Name: "diamond", Giftable: false},
			card:    {Idx: card, Name: "card", Giftable: true, StackLimit: 9999},
		},
		Usage: map[int32]Usage{card: {Idx: card, Grant: []Amount{{gold, 100}}}},
	}
}

// ItemIdxs returns the item kinds of the table, sorted.
func (d *Data) ItemIdxs() []int32 {
	out := make([]int32, 0, len(d.Items))
	for idx := range d.Items {
		out = append(out, idx)
	}
	slices.Sort(out)
	return out
}

// MaxStack is the most of one item kind any player may hold, whatever the
// item table says: 2^53-1, the largest integer a float64 holds exactly.
// Leaderboard scores are doubles (redis sorted sets), and so are the
// numbers of JavaScript clients; past it amounts would silently round.
// It also keeps every sum of two amounts far from int64 overflow, which
// would wrap a balance negative and leave the player unloadable.
const MaxStack int64 = 1<<53 - 1

// limit is the most of idx one player may hold.
func (d *Data) limit(idx int32) int64 {
	lim := d.Items[idx].StackLimit
	if lim <= 0 || lim > MaxStack {
		return MaxStack
	}
	return lim
}

// add returns have+n of idx, or false when n is negative or the sum would
// pass idx's limit (checked without computing an overflowing sum).
func (d *Data) add(idx int32, have, n int64) (int64, bool) {
	lim := d.limit(idx)
	if n < 0 || have < 0 || have > lim || n > lim-have {
		return 0, false
	}
	return have + n, true
}
