package client

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// fakeGate is a test peer: a real TCP listener speaking the frame protocol,
// answering each request through handle. It stands in for a gate so the
// session logic can be tested without the rest of Hive.
type fakeGate struct {
	t      *testing.T
	ln     net.Listener
	handle func(p *peer, api string, m proto.Message)

	mu    sync.Mutex
	peers []*peer
}

// peer is one accepted connection of the fake gate.
type peer struct {
	conn net.Conn
	mu   sync.Mutex
	w    *frame.Writer
}

// send writes m as one frame.
func (p *peer) send(m proto.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.w.WriteMessage(m)
	_ = p.w.Flush()
}

// sendRaw writes bytes as they are (broken frames).
func (p *peer) sendRaw(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.conn.Write(b)
}

// testUser is the player the fake gate logs in.
func testUser() *def.User {
	return &def.User{Id: proto.Int64(10001), Account: proto.Int64(1), Name: proto.String("p10001"),
		Status: proto.Int32(1), CreateTime: proto.Int64(1), UpdateTime: proto.Int64(1)}
}

// gold is n gold as an item list.
func gold(n int64) []*def.Item {
	return []*def.Item{{Id: proto.Int64(1), Idx: proto.Int32(100), Num: proto.Int64(n), CreateTime: proto.Int64(1), UpdateTime: proto.Int64(1)}}
}

// defaultHandle is a tiny game: token "good" logs in, Echo echoes, GetItems
// answers 100 gold, GiftItems of more than 10 is refused and otherwise
// answered and followed by a GetItems push; anything else gets Error.Res.
func defaultHandle(p *peer, api string, m proto.Message) {
	switch r := m.(type) {
	case *msg.Login_Req:
		if r.GetToken() != "good" {
			p.send(&msg.Login_Res{Code: proto.Int32(int32(def.ResCode_RC_LOGIN_TOKEN_INVALID))})
			return
		}
		p.send(&msg.Login_Res{Code: proto.Int32(0), User: testUser()})
	case *msg.Echo_Req:
		p.send(&msg.Echo_Res{Val: r.Val, Ct: r.Ct})
	case *msg.GetItems_Req:
		p.send(&msg.GetItems_Res{Code: proto.Int32(0), Items: gold(100)})
	case *msg.GiftItems_Req:
		if r.GetItemNum() > 10 {
			p.send(&msg.GiftItems_Res{Code: proto.Int32(int32(def.ResCode_RC_ITEM_NOT_ENOUGH))})
			return
		}
		p.send(&msg.GiftItems_Res{Code: proto.Int32(0)})
		p.send(&msg.GetItems_Res{Code: proto.Int32(0), Items: gold(100 - int64(r.GetItemNum()))})
	case *msg.SetEvent_Req:
		if r.GetEvent().GetArgStr() == "taken" {
			p.send(&msg.SetEvent_Res{Code: proto.Int32(int32(def.ResCode_RC_NAME_TAKEN))})
			return
		}
		p.send(&msg.SetEvent_Res{Code: proto.Int32(0)})
	default:
		p.send(&msg.Error_Res{Code: proto.Int32(int32(def.ResCode_RC_API_UNKNOWN)), Api: proto.String(api), Detail: proto.String("fake gate")})
	}
}

// startGate listens on loopback and serves until the test ends. handle nil
// means defaultHandle.
func startGate(t *testing.T, handle func(p *peer, api string, m proto.Message)) *fakeGate {
	t.Helper()
	if handle == nil {
		handle = defaultHandle
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGate{t: t, ln: ln, handle: handle}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		for _, p := range g.peers {
			p.conn.Close()
		}
		g.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p := &peer{conn: c, w: frame.NewWriter(c)}
			g.mu.Lock()
			g.peers = append(g.peers, p)
			g.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.serve(p)
			}()
		}
	}()
	return g
}

// serve reads requests of one connection and hands them to handle.
func (g *fakeGate) serve(p *peer) {
	defer p.conn.Close()
	r := frame.NewReader(p.conn, 0)
	for {
		api, payload, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				g.t.Logf("fake gate: read: %v", err)
			}
			return
		}
		m, err := frame.Decode(api, payload)
		if err != nil {
			g.t.Errorf("fake gate: client sent a bad frame %s: %v", api, err)
			return
		}
		g.handle(p, string(api), m)
	}
}

// addr is the gate's listen address.
func (g *fakeGate) addr() string { return g.ln.Addr().String() }
