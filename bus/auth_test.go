package bus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
)

// attacker is a connection of one role whose permission violations (which
// NATS reports asynchronously) arrive on denied.
type attacker struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	denied chan error
}

func connectAttacker(t *testing.T, n *testenv.NATS, r bus.Role) *attacker {
	t.Helper()
	a := &attacker{denied: make(chan error, 64)}
	a.nc = n.ConnectAs(t, r, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case a.denied <- err:
		default:
		}
	}))
	a.js, _ = jetstream.New(a.nc)
	return a
}

// wantDenied waits for the server's permission violation naming subject.
// The wait is a bound on a failing test only: the server sends the
// violation right after it reads the refused operation.
func (a *attacker) wantDenied(t *testing.T, what, subject string) {
	t.Helper()
	if err := a.nc.Flush(); err != nil && !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("%s: flush: %v", what, err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case err := <-a.denied:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
		case <-timeout:
			t.Fatalf("%s: the server never refused %q", what, subject)
		}
	}
}

// publishEvent tries to append an event as a's role; it must not be stored.
func (a *attacker) publishEvent(t *testing.T, subject string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if ack, err := a.js.Publish(ctx, subject, []byte("minted")); err == nil {
		t.Fatalf("appended %s (stream seq %d): want refused", subject, ack.Sequence)
	}
	a.wantDenied(t, "append "+subject, subject)
}

// readAccount tries a direct get of an account record.
func (a *attacker) readAccount(t *testing.T) {
	t.Helper()
	subj := "$JS.API.DIRECT.GET.KV_" + bus.AccountsBucket + ".$KV." + bus.AccountsBucket + ".id.10001"
	m, err := a.nc.Request(subj, nil, 2*time.Second)
	if err == nil && strings.Contains(string(m.Data), "argon2") {
		t.Fatalf("read the account record: %q", m.Data)
	}
	a.wantDenied(t, "direct get of an account", subj)
}

// startWithAccount is a server with one account record in the accounts bucket.
func startWithAccount(t *testing.T) *testenv.NATS {
	n := testenv.StartNATS(t)
	kv, err := n.JS.KeyValue(context.Background(), bus.AccountsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "id.10001", []byte(`{"username":"lisp","hash":"$argon2id$v=19$..."}`)); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAnonymousClientIsRefused(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, err := nats.Connect(n.URL, nats.RetryOnFailedConnect(false))
	if err == nil {
		nc.Close()
		t.Fatal("connected without credentials")
	}
	if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("err = %v, want an authorization violation", err)
	}
}

func TestGateCannotAppendEventsNorReadAccounts(t *testing.T) {
	n := startWithAccount(t)
	a := connectAttacker(t, n, bus.RoleGate)
	a.publishEvent(t, bus.PlayerSubject(10001))
	a.readAccount(t)
	if _, err := a.js.KeyValue(context.Background(), bus.AccountsBucket); err == nil {
		t.Fatal("gate opened the accounts bucket")
	}
	// Nor watch the bucket's writes go by.
	if _, err := a.nc.SubscribeSync("$KV." + bus.AccountsBucket + ".>"); err != nil {
		t.Fatal(err)
	}
	a.wantDenied(t, "subscribe to account writes", "$KV."+bus.AccountsBucket+".>")
}

func TestGateReadsTokenVersions(t *testing.T) {
	n := testenv.StartNATS(t)
	admin, _ := n.JS.KeyValue(context.Background(), bus.TokenVersionsBucket)
	if _, err := admin.Put(context.Background(), "10001", []byte("3")); err != nil {
		t.Fatal(err)
	}
	a := connectAttacker(t, n, bus.RoleGate)
	kv, err := a.js.KeyValue(context.Background(), bus.TokenVersionsBucket)
	if err != nil {
		t.Fatalf("gate opens %s: %v", bus.TokenVersionsBucket, err)
	}
	e, err := kv.Get(context.Background(), "10001")
	if err != nil || string(e.Value()) != "3" {
		t.Fatalf("gate reads a token version: %v", err)
	}
	// A watch (one subscription instead of a read per login) works too.
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		t.Fatalf("gate watches %s: %v", bus.TokenVersionsBucket, err)
	}
	defer w.Stop()
	if e := <-w.Updates(); e == nil || e.Key() != "10001" || string(e.Value()) != "3" {
		t.Fatalf("watch: first entry %v, want 10001=3", e)
	}
	if _, err := kv.Put(context.Background(), "10001", []byte("0")); err == nil {
		t.Fatal("gate lowered a token version")
	}
}

// uc bumps token versions and kicks the sessions of an account.
func TestUCWritesTokenVersionsAndKicks(t *testing.T) {
	n := testenv.StartNATS(t)
	a := connectAttacker(t, n, bus.RoleUC)
	kv, err := a.js.KeyValue(context.Background(), bus.TokenVersionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "10001", []byte("1")); err != nil {
		t.Fatalf("uc bumps a token version: %v", err)
	}
	gate := n.ConnectAs(t, bus.RoleGate)
	sub, err := gate.SubscribeSync(bus.UserSubject(10001))
	if err != nil {
		t.Fatal(err)
	}
	if err := gate.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.nc.Publish(bus.UserSubject(10001), []byte("kick")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("the gate got no kick from uc: %v", err)
	}
	// uc has no business with player events.
	a.publishEvent(t, bus.PlayerSubject(10001))
}

func TestGameCannotReadAccounts(t *testing.T) {
	n := startWithAccount(t)
	a := connectAttacker(t, n, bus.RoleGame)
	a.readAccount(t)
	// Nor change the bucket's config to republish its records to itself.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := a.js.UpdateStream(ctx, jetstream.StreamConfig{Name: "KV_" + bus.AccountsBucket, Subjects: []string{"$KV.accounts.>"},
		RePublish: &jetstream.RePublish{Source: ">", Destination: "gate.leak.>"}}); err == nil {
		t.Fatal("game changed the accounts bucket's config")
	}
	a.wantDenied(t, "update the accounts stream", "$JS.API.STREAM.UPDATE.KV_"+bus.AccountsBucket)
}

func TestToolsOnlyRead(t *testing.T) {
	n := startWithAccount(t)
	if _, err := n.JS.Publish(context.Background(), bus.PlayerSubject(10001), []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, r := range []bus.Role{bus.RoleTools, bus.RoleAdmin} {
		t.Run(string(r), func(t *testing.T) {
			a := connectAttacker(t, n, r)
			a.publishEvent(t, bus.PlayerSubject(10001))
			a.readAccount(t)
			// A forged request with any Hive-User.
			m := nats.NewMsg("msg.GiftSend.Req")
			m.Header.Set(envelope.HdrUser, "10001")
			if err := a.nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			a.wantDenied(t, "forge a request", "msg.GiftSend.Req")
			kv, err := a.js.KeyValue(context.Background(), bus.PresenceBucket)
			if err != nil {
				t.Fatalf("%s opens the presence bucket: %v", r, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := kv.Put(ctx, "10001", []byte(`{}`)); err == nil {
				t.Fatal("put to the presence bucket")
			}
			a.wantDenied(t, "kv put", "$KV."+bus.PresenceBucket+".10001")
			// The game leader's projection consumer is not theirs to drain.
			if err := a.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+bus.EventsStream+"."+bus.ProjectionConsumers[0], a.nc.NewRespInbox(), []byte(`{"batch":1}`)); err != nil {
				t.Fatal(err)
			}
			a.wantDenied(t, "fetch from the leader's consumer", "$JS.API.CONSUMER.MSG.NEXT."+bus.EventsStream+"."+bus.ProjectionConsumers[0])
			// What they are for: reading the events.
			s, err := a.js.Stream(context.Background(), bus.EventsStream)
			if err != nil {
				t.Fatalf("%s reads the stream: %v", r, err)
			}
			if m, err := s.GetLastMsgForSubject(context.Background(), bus.PlayerSubject(10001)); err != nil || string(m.Data) != "x" {
				t.Fatalf("%s reads an event: %v", r, err)
			}
		})
	}
	a := connectAttacker(t, n, bus.RoleTools)
	if err := a.nc.Publish(bus.UserSubject(10001), nil); err != nil {
		t.Fatal(err)
	}
	a.wantDenied(t, "kick as tools", bus.UserSubject(10001))
	if err := a.nc.Publish(bus.AdminSubject("mail"), nil); err != nil {
		t.Fatal(err)
	}
	a.wantDenied(t, "operator mail as tools", bus.AdminSubject("mail"))
	if _, err := a.nc.SubscribeSync(bus.AdminSubject("mail")); err != nil {
		t.Fatal(err)
	}
	a.wantDenied(t, "listen to operator mail", bus.AdminSubject("mail"))
}

func TestBenchStaysOnItsSubjects(t *testing.T) {
	n := testenv.StartNATS(t)
	a := connectAttacker(t, n, bus.RoleBench)
	sub, err := a.nc.Subscribe(bus.BenchPrefix+"x", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if _, err := a.nc.Request(bus.BenchPrefix+"x", []byte("ping"), 10*time.Second); err != nil {
		t.Fatalf("bench request-reply: %v", err)
	}
	if err := a.nc.Publish(bus.RequestSubject("msg.GetItems.Req"), nil); err != nil {
		t.Fatal(err)
	}
	a.wantDenied(t, "bench forges a request", "msg.GetItems.Req")
}

// The file nats-server reads grants exactly what the embedded server grants.
func TestServerConfigMatchesTheEmbeddedPermissions(t *testing.T) {
	s, err := bus.InitSecrets(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(s.ConfigFile())
	if err != nil {
		t.Fatalf("nats-server cannot read %s: %v", s.ConfigFile(), err)
	}
	if opts.PingInterval != bus.ServerPingInterval || opts.MaxPingsOut != bus.ServerMaxPingsOut {
		t.Errorf("ping_interval %v, ping_max %d: want %v, %d (a frozen route must not hold its subscriptions for minutes)",
			opts.PingInterval, opts.MaxPingsOut, bus.ServerPingInterval, bus.ServerMaxPingsOut)
	}
	want := s.Users()
	if len(opts.Nkeys) != len(want) || len(want) != len(bus.Roles) {
		t.Fatalf("config has %d users, embedded %d, roles %d", len(opts.Nkeys), len(want), len(bus.Roles))
	}
	for i, u := range want {
		got := opts.Nkeys[i]
		if got.Nkey != u.Nkey || !reflect.DeepEqual(got.Permissions, u.Permissions) {
			t.Errorf("user %d: config %s %+v\nembedded %s %+v", i, got.Nkey, got.Permissions, u.Nkey, u.Permissions)
		}
	}
}

// init keeps the seeds; a rotation keeps the old key allowed until its file
// is removed.
func TestSecretsRotation(t *testing.T) {
	dir := t.TempDir()
	s1, err := bus.InitSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	seed1, _ := os.ReadFile(s1.CredsFile(bus.RoleGate))
	if fi, _ := os.Stat(s1.CredsFile(bus.RoleGate)); fi.Mode().Perm() != 0o600 {
		t.Errorf("seed mode %v, want 0600", fi.Mode().Perm())
	}
	s2, err := bus.InitSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if seed2, _ := os.ReadFile(s2.CredsFile(bus.RoleGate)); string(seed2) != string(seed1) {
		t.Fatal("a second init replaced a seed")
	}
	s3, err := bus.InitSecrets(dir, bus.RoleGate)
	if err != nil {
		t.Fatal(err)
	}
	seed3, _ := os.ReadFile(s3.CredsFile(bus.RoleGate))
	if string(seed3) == string(seed1) {
		t.Fatal("rotation kept the seed")
	}
	if len(s3.Users()) != len(bus.Roles)+1 {
		t.Fatalf("during a rotation %d users, want the old gate key too (%d)", len(s3.Users()), len(bus.Roles)+1)
	}
	if err := os.Remove(filepath.Join(dir, "gate.prev.nk")); err != nil {
		t.Fatal(err)
	}
	s4, err := bus.InitSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s4.Users()) != len(bus.Roles) {
		t.Fatalf("after retiring the old key %d users, want %d", len(s4.Users()), len(bus.Roles))
	}
	if _, err := bus.InitSecrets(dir, bus.Role("root")); err == nil {
		t.Fatal("rotated an unknown role")
	}
}
