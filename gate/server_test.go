package gate

import (
	"testing"

	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/registry"
)

// A gate restarted with the same --gate-id must not hand out the session ids
// of its previous run: the game dedups commands by gate/session/request.
func TestRestartedGateDoesNotReuseSessionIDs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID = "fixed"
	nc := testenv.StartNATS(t).Conn
	first, err := New(cfg, Deps{NC: nc, Registry: registry.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	second, err := New(cfg, Deps{NC: nc, Registry: registry.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := first.nextID.Load(), second.nextID.Load(); b <= a {
		t.Fatalf("second run starts session ids at %d, first at %d", b, a)
	}
}
