package registry

import "testing"

// Hand-outs count until the gate's next report, which replaces them.
func TestPickerCountsHandoutsUntilReport(t *testing.T) {
	var p Picker
	gates := []Gate{{ID: "a", Conns: 0, Rev: 1}, {ID: "b", Conns: 9, Rev: 2}}
	for i := range 9 {
		if g, _ := p.Pick(gates); g.ID != "a" {
			t.Fatalf("pick %d = %s, want a (0+%d handed < 9)", i, g.ID, i)
		}
	}
	if g, _ := p.Pick(gates[:1]); g.ID != "a" { // b out for a moment: a counts on
		t.Fatal(g)
	}
	// a now counts 10 > 9: b is less loaded.
	if g, _ := p.Pick(gates); g.ID != "b" {
		t.Fatalf("pick after 10 hand-outs to a = %s, want b", g.ID)
	}
	// a reports 5 connections (of the 10 handed): the report replaces the count.
	gates[0] = Gate{ID: "a", Conns: 5, Rev: 3}
	if g, _ := p.Pick(gates); g.ID != "a" {
		t.Fatalf("pick after a's report = %s, want a (5 < 9+1)", g.ID)
	}
}

// Equal loads are split at random, never by id.
func TestPickerBreaksTiesAtRandom(t *testing.T) {
	var p Picker
	got := map[string]int{}
	for i := range 200 {
		rev := int64(2 * i) // fresh reports: nothing handed counts
		g, ok := p.Pick([]Gate{{ID: "a", Rev: rev}, {ID: "b", Rev: rev + 1}})
		if !ok {
			t.Fatal("no gate")
		}
		got[g.ID]++
	}
	if got["a"] == 0 || got["b"] == 0 {
		t.Fatalf("200 ties went %v", got)
	}
}

func TestPickerSkipsFullGates(t *testing.T) {
	var p Picker
	if _, ok := p.Pick(nil); ok {
		t.Fatal("picked from no gates")
	}
	full := Gate{ID: "full", Conns: 10, Capacity: 10}
	if _, ok := p.Pick([]Gate{full}); ok {
		t.Fatal("picked a full gate")
	}
	if g, ok := p.Pick([]Gate{full, {ID: "busy", Conns: 500}}); !ok || g.ID != "busy" {
		t.Fatalf("Pick = %v, %v; want the unlimited gate", g, ok)
	}
}
