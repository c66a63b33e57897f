package bus

import "testing"

func TestSessionSubjectRoundTrip(t *testing.T) {
	s := SessionSubject("g1", 42)
	if s != "gate.g1.42" {
		t.Fatalf("SessionSubject = %q", s)
	}
	g, id, err := ParseSessionSubject(s)
	if err != nil || g != "g1" || id != 42 {
		t.Fatalf("Parse(%q) = %q, %d, %v", s, g, id, err)
	}
	for _, bad := range []string{"gate.g1", "gate.g1.x", "user.1", "gate..5", "gate.g1.-1"} {
		if _, _, err := ParseSessionSubject(bad); err == nil {
			t.Errorf("ParseSessionSubject(%q) accepted", bad)
		}
	}
}

func TestUserSubjectRoundTrip(t *testing.T) {
	if UserSubject(10001) != "user.10001" {
		t.Fatal(UserSubject(10001))
	}
	id, err := ParseUserSubject("user.10001")
	if err != nil || id != 10001 {
		t.Fatalf("= %d, %v", id, err)
	}
	if _, err := ParseUserSubject("user.x"); err == nil {
		t.Fatal("accepted user.x")
	}
}

func TestEventSubjectRoundTrip(t *testing.T) {
	if PlayerSubject(7) != "evt.player.7" || AccountSubject(8) != "evt.account.8" {
		t.Fatal(PlayerSubject(7), AccountSubject(8))
	}
	kind, id, err := ParseEventSubject("evt.player.7")
	if err != nil || kind != AggPlayer || id != 7 {
		t.Fatalf("= %q %d %v", kind, id, err)
	}
	for _, bad := range []string{"evt.player", "evt.player.7.x", "msg.player.7", "evt..7", "evt.player.seven"} {
		if _, _, err := ParseEventSubject(bad); err == nil {
			t.Errorf("ParseEventSubject(%q) accepted", bad)
		}
	}
}

func TestStreamConfigFollowsDesign(t *testing.T) {
	c := EventsStreamConfig(StoreConfig{})
	if !c.AllowDirect || !c.AllowAtomicPublish || !c.DenyDelete || c.MaxAge != 0 || c.Replicas != 1 || c.Duplicates <= 0 {
		t.Fatalf("config = %+v", c)
	}
	if c.MaxBytes != -1 {
		t.Fatalf("MaxBytes = %d, want unlimited", c.MaxBytes)
	}
	c = EventsStreamConfig(StoreConfig{MaxBytes: 1 << 30, Replicas: 3})
	if c.MaxBytes != 1<<30 || c.Discard.String() != "DiscardNew" || c.Replicas != 3 {
		t.Fatalf("config = %+v", c)
	}
}

func TestIsPlayerEvent(t *testing.T) {
	for subj, want := range map[string]bool{
		PlayerSubject(7): true, AccountSubject(7): false, "evt.playerx.7": false, "msg.GetItems.Req": false,
	} {
		if got := IsPlayerEvent(subj); got != want {
			t.Errorf("IsPlayerEvent(%q) = %v, want %v", subj, got, want)
		}
	}
}
