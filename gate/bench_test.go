package gate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
)

// leanGame is a minimal game worker for benchmarks: Login succeeds for the
// Hive-User, Echo is answered with the request's own bytes (Echo.Res has
// Echo.Req's fields), anything else with an empty payload. It keeps no
// record, so it can serve millions of requests.
func leanGame(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	_, err := nc.QueueSubscribe(bus.RequestWildcard, bus.GameQueue, func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		res := nats.NewMsg(m.Reply)
		res.Header.Set(envelope.HdrAPI, frame.ResponseAPI(m.Subject))
		if id := m.Header.Get(envelope.HdrReq); id != "" {
			res.Header.Set(envelope.HdrReq, id)
		}
		switch m.Subject {
		case envelope.EchoReq:
			res.Data = m.Data
		case envelope.LoginReq:
			uid, _ := strconv.ParseInt(m.Header.Get(envelope.HdrUser), 10, 64)
			res.Data, _ = proto.Marshal(&msg.Login_Res{Code: proto.Int32(0), User: testUser(uid)})
		default:
			res.Data = []byte{0x08, 0x00} // code: 0
		}
		_ = nc.PublishMsg(res)
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
}

// rawClient is a bare gate client for benchmarks (no testing.T plumbing).
type rawClient struct {
	c   net.Conn
	r   *frame.Reader
	buf []byte
}

// dialLogin connects to addr (host:port, or a ws:// URL) and logs in.
func dialLogin(addr, tok string) (*rawClient, error) {
	var c net.Conn
	var err error
	if strings.HasPrefix(addr, "ws://") {
		c, _, err = dialWSURL(addr, nil)
	} else {
		c, err = net.DialTimeout("tcp", addr, 10*time.Second)
	}
	if err != nil {
		return nil, err
	}
	rc := &rawClient{c: c, r: frame.NewReader(c, frame.MaxSize)}
	if err := rc.call(&msg.Login_Req{Token: proto.String(tok)}); err != nil {
		c.Close()
		return nil, err
	}
	return rc, nil
}

// call sends m and reads one frame back.
func (rc *rawClient) call(m proto.Message) error {
	var err error
	if rc.buf, err = frame.AppendMessage(rc.buf[:0], m); err != nil {
		return err
	}
	if _, err := rc.c.Write(rc.buf); err != nil {
		return err
	}
	_, _, err = rc.r.Next()
	return err
}

// benchWorld is NATS, a game and a gate in this process, as in `hive dev`.
type benchWorld struct {
	nats   *testenv.NATS
	signer *token.Signer
	gate   *Server
}

func newBenchWorld(b *testing.B) *benchWorld {
	b.Helper()
	n := testenv.StartNATS(b)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer := token.NewSigner(key, "", time.Hour)
	reg := registry.NewMemory()
	pem, _ := token.EncodePublicKey(signer.PublicKey())
	_ = reg.PublishKey(context.Background(), signer.KeyID(), pem)
	leanGame(b, n.Connect(b, "game"))
	cfg := DefaultConfig()
	cfg.Listen, cfg.Rate = "127.0.0.1:0", 0
	cfg.MaxConnsPerIP, cfg.LoginRatePerIP = 0, 0 // every connection comes from loopback
	g, err := New(cfg, Deps{NC: n.Connect(b, "gate"), Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Shutdown(context.Background()) })
	return &benchWorld{nats: n, signer: signer, gate: g}
}

// latencies records per-op durations and reports p50/p99 next to ns/op.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), "p99-us")
}

// BenchmarkEcho compares, in one run, an echo round trip through the gate
// (client -> gate -> NATS -> game -> gate -> client over loopback TCP) with
// a raw NATS request-reply to the same game (client -> NATS -> game ->
// client): the difference is the gate's added latency.
//
//	go test ./gate -run '^$' -bench Echo -benchtime 20000x -count 5
func BenchmarkEcho(b *testing.B) {
	w := newBenchWorld(b)
	payload, _ := proto.Marshal(&msg.Echo_Req{Val: proto.Int64(42), Ct: proto.Int64(time.Now().UnixNano())})
	echo := &msg.Echo_Req{Val: proto.Int64(42), Ct: proto.Int64(time.Now().UnixNano())}

	b.Run("nats-rr", func(b *testing.B) {
		nc := w.nats.Connect(b, "client")
		lat := make(latencies, 0, b.N)
		for b.Loop() {
			t0 := time.Now()
			if _, err := nc.Request(envelope.EchoReq, payload, 5*time.Second); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		lat.report(b)
	})
	b.Run("gate", func(b *testing.B) {
		tok, _, _ := w.signer.Sign(1, 0)
		c, err := dialLogin(w.gate.Addr(), tok)
		if err != nil {
			b.Fatal(err)
		}
		defer c.c.Close()
		lat := make(latencies, 0, b.N)
		for b.Loop() {
			t0 := time.Now()
			if err := c.call(echo); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		lat.report(b)
	})
	// About 100 concurrent clients (a multiple of GOMAXPROCS): ns/op is the
	// inverse of throughput.
	par := (100 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	conns := par * runtime.GOMAXPROCS(0)
	b.Run("nats-rr-100", func(b *testing.B) {
		ncs := make(chan *nats.Conn, conns)
		for i := range conns {
			ncs <- w.nats.Connect(b, "client-"+strconv.Itoa(i))
		}
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			nc := <-ncs
			for pb.Next() {
				if _, err := nc.Request(envelope.EchoReq, payload, 5*time.Second); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("gate-100", func(b *testing.B) {
		cs := make(chan *rawClient, conns)
		var mu sync.Mutex
		var all []*rawClient
		for i := range conns {
			tok, _, _ := w.signer.Sign(int64(100+i), 0)
			c, err := dialLogin(w.gate.Addr(), tok)
			if err != nil {
				b.Fatal(err)
			}
			mu.Lock()
			all = append(all, c)
			mu.Unlock()
			cs <- c
		}
		defer func() {
			for _, c := range all {
				c.c.Close()
			}
		}()
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			c := <-cs
			m := proto.Clone(echo)
			for pb.Next() {
				if err := c.call(m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
