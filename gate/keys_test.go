package gate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// countingKV counts the reads an etcd client makes.
type countingKV struct {
	clientv3.KV
	gets atomic.Int64
}

func (c *countingKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	c.gets.Add(1)
	return c.KV.Get(ctx, key, opts...)
}

// forgedToken is a token whose header names kid and whose signature is junk:
// what an attacker sends to make the gate look a key up.
func forgedToken(kid string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"` + kid + `"}`))
	body := enc.EncodeToString([]byte(`{"sub":"10001","iss":"hive-uc","exp":4102444800}`))
	return head + "." + body + "." + enc.EncodeToString(make([]byte, 64))
}

func randomKid() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestKidFloodReadsNothing: forged tokens with fresh kids make the gate read
// the registry's store not once; the keys come from the registry's watch,
// which still delivers a key published after the gate started.
func TestKidFloodReadsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	et := testenv.StartEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: et.Endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	kv := &countingKV{KV: cli.KV}
	cli.KV = kv
	reg, err := registry.NewEtcd(cli, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	e.reg = reg
	g := e.startGate(func(c *Config) { c.Rate = 0; c.LoginRatePerIP = 0 })

	c := e.dial(g)
	before := kv.gets.Load()
	const flood = 200
	for range flood {
		c.send(&msg.Login_Req{Token: proto.String(forgedToken(randomKid()))})
		expectRes(t, c.next(), envelope.LoginRes, def.ResCode_RC_LOGIN_TOKEN_INVALID)
	}
	if reads := kv.gets.Load() - before; reads != 0 {
		t.Fatalf("%d forged logins with fresh kids made %d registry reads, want 0", flood, reads)
	}

	// uc publishes its key after the gate started (another process, its
	// own client): the watch brings it, and its tokens log in.
	ucCli, err := clientv3.New(clientv3.Config{Endpoints: et.Endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ucCli.Close() })
	ucReg, err := registry.NewEtcd(ucCli, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ucReg.Close() })
	pub, err := token.EncodePublicKey(e.signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := ucReg.PublishKey(context.Background(), e.signer.KeyID(), pub); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uc's key at the gate", func() bool {
		c := e.dial(g)
		c.send(&msg.Login_Req{Token: proto.String(e.token(10001))})
		return codeOf(c.next()) == 0
	})
	if reads := kv.gets.Load() - before; reads != 0 {
		t.Fatalf("logins made %d registry reads, want 0", reads)
	}
}

// publishedPEM is a public key PEM with an Expires header, as uc publishes it.
func publishedPEM(t *testing.T, pub ed25519.PublicKey, expires time.Time) []byte {
	t.Helper()
	b, err := token.EncodePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	blk.Headers = map[string]string{"Expires": expires.UTC().Format(time.RFC3339)}
	return pem.EncodeToMemory(blk)
}

// TestExpiredKeyRefused: a published key past its expiry is not trusted,
// though nobody deleted it, even for a token that has not expired itself.
func TestExpiredKeyRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(nil)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	retired := token.NewSigner(key, "", time.Hour)
	if err := e.reg.PublishKey(context.Background(), retired.KeyID(), publishedPEM(t, retired.PublicKey(), time.Now().Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	tok, _, _ := retired.Sign(10001, 0)
	c := e.dial(g)
	c.send(&msg.Login_Req{Token: proto.String(tok)})
	if m := c.next(); apiOf(m) != envelope.LoginRes || codeOf(m) == 0 {
		t.Fatalf("token of an expired key: %v, want refused", m)
	}

	// A key with an expiry ahead is trusted until then.
	_, key2, _ := ed25519.GenerateKey(rand.Reader)
	live := token.NewSigner(key2, "", time.Hour)
	if err := e.reg.PublishKey(context.Background(), live.KeyID(), publishedPEM(t, live.PublicKey(), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	tok2, _, _ := live.Sign(10001, 0)
	e.dial(g).login(tok2, 10001)
}
