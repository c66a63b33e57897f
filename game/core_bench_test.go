package game

import (
	"testing"

	"github.com/qeetap/hive/proto/def"
)

// BenchmarkDecideApplyGift: the pure part of a gift, decide plus apply on
// both players, without any I/O. Gifts alternate direction so neither side
// runs out.
func BenchmarkDecideApplyGift(b *testing.B) {
	d := DefaultData()
	p := [2]*Player{created(b, 1), created(b, 2)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		src, dst := i%2, 1-i%2
		emits, rc := giftBoth(d, p[src], p[dst], int64(src+1), int64(dst+1), gold, 1, now)
		if rc != def.ResCode_RC_OK || len(emits) != 2 {
			b.Fatalf("decide = %v, %d events", rc, len(emits))
		}
		if err := apply(p[src], emits[0].Event); err != nil {
			b.Fatal(err)
		}
		if err := apply(p[dst], emits[1].Event); err != nil {
			b.Fatal(err)
		}
	}
	if total := held(p[0], gold) + held(p[1], gold); total != 2*held(created(b, 3), gold) {
		b.Fatalf("gold total %d after gifts", total)
	}
}

// BenchmarkViewItems: answering GetItems from a loaded player.
func BenchmarkViewItems(b *testing.B) {
	d := DefaultData()
	s := created(b, 1, Amount{Idx: card, Num: 3})
	b.ReportAllocs()
	for b.Loop() {
		if items, rc := viewItems(d, s, 0); rc != def.ResCode_RC_OK || len(items) != 2 {
			b.Fatalf("view = %v, %d items", rc, len(items))
		}
	}
}
