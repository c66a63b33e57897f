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
	// StackLimit is the most one player may hold; 0 = no limit. A grant,
	// gift or claim that would pass it is refused (RC_ITEM_INVALID), never
	// silently capped, so no operation loses items.
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

// fits reports whether holding `after` of idx respects its stack limit.
func (d *Data) fits(idx int32, after int64) bool {
	lim := d.Items[idx].StackLimit
	return lim <= 0 || after <= lim
}
