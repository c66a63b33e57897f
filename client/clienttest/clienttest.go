// Package clienttest has test peers for code that talks to Hive as a
// client: a fake gate (a real TCP listener speaking the frame protocol,
// answering through a handler) and a fake uc (an httptest server answering
// the REST calls that log in). They let the SDK and the tools be tested
// without the rest of Hive; tests of Hive itself use the real servers.
package clienttest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// Handler answers one request received by a Gate.
type Handler func(p *Peer, api string, m proto.Message)

// Gate is a fake gate listening on loopback.
type Gate struct {
	t      testing.TB
	ln     net.Listener
	handle Handler

	mu    sync.Mutex
	peers []*Peer
}

// Peer is one client connection accepted by a Gate.
type Peer struct {
	Conn net.Conn
	mu   sync.Mutex
	w    *frame.Writer
}

// Send writes m to the client as one frame (an answer or a push).
func (p *Peer) Send(m proto.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.w.WriteMessage(m)
	_ = p.w.Flush()
}

// SendRaw writes b as it is, to send broken frames.
func (p *Peer) SendRaw(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.Conn.Write(b)
}

// StartGate listens on a loopback port and serves until the test ends; nil
// handle means DefaultHandler.
func StartGate(t testing.TB, handle Handler) *Gate {
	t.Helper()
	if handle == nil {
		handle = DefaultHandler
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{t: t, ln: ln, handle: handle}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		for _, p := range g.peers {
			p.Conn.Close()
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
			p := &Peer{Conn: c, w: frame.NewWriter(c)}
			g.mu.Lock()
			g.peers = append(g.peers, p)
			g.mu.Unlock()
			wg.Go(func() { g.serve(p) })
		}
	}()
	return g
}

// Addr is the gate's listen address.
func (g *Gate) Addr() string { return g.ln.Addr().String() }

// Close stops accepting connections (the port is then closed).
func (g *Gate) Close() { g.ln.Close() }

// serve reads the requests of one connection and hands them to handle.
func (g *Gate) serve(p *Peer) {
	defer p.Conn.Close()
	r := frame.NewReader(p.Conn, 0)
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

// UserID is the player id the fake gate logs every token in as.
const UserID = 10001

// TestUser is the player the fake gate logs in.
func TestUser() *def.User {
	return &def.User{Id: proto.Int64(UserID), Account: proto.Int64(1), Name: proto.String("p10001"),
		Status: proto.Int32(1), CreateTime: proto.Int64(1), UpdateTime: proto.Int64(1)}
}

// Gold is n gold (idx 100) as an item list.
func Gold(n int64) []*def.Item {
	return []*def.Item{{Id: proto.Int64(1), Idx: proto.Int32(100), Num: proto.Int64(n), CreateTime: proto.Int64(1), UpdateTime: proto.Int64(1)}}
}

// code is a result code as the proto field wants it.
func code(c def.ResCode) *int32 { return proto.Int32(int32(c)) }

// DefaultHandler is a tiny game: tokens "good" and "tok-*" log in as
// TestUser, Echo echoes, GetItems answers 100 gold, GiftItems of more than
// 10 is refused with RC_ITEM_NOT_ENOUGH and otherwise answered and followed
// by a GetItems push of 100-num gold, SetEvent with arg_str "taken" is
// refused with RC_NAME_TAKEN, GetUser/GetMails/GetRank/mail calls/Logout
// answer OK; anything else gets msg.Error.Res{RC_API_UNKNOWN, detail "fake gate"}.
func DefaultHandler(p *Peer, api string, m proto.Message) {
	ok := code(def.ResCode_RC_OK)
	switch r := m.(type) {
	case *msg.Login_Req:
		if t := r.GetToken(); t != "good" && !strings.HasPrefix(t, "tok-") {
			p.Send(&msg.Login_Res{Code: code(def.ResCode_RC_LOGIN_TOKEN_INVALID)})
			return
		}
		p.Send(&msg.Login_Res{Code: ok, User: TestUser()})
	case *msg.Echo_Req:
		p.Send(&msg.Echo_Res{Val: r.Val, Ct: r.Ct})
	case *msg.GetItems_Req:
		p.Send(&msg.GetItems_Res{Code: ok, Items: Gold(100)})
	case *msg.GiftItems_Req:
		if r.GetItemNum() > 10 {
			p.Send(&msg.GiftItems_Res{Code: code(def.ResCode_RC_ITEM_NOT_ENOUGH)})
			return
		}
		p.Send(&msg.GiftItems_Res{Code: ok})
		p.Send(&msg.GetItems_Res{Code: ok, Items: Gold(100 - int64(r.GetItemNum()))})
	case *msg.SetEvent_Req:
		if r.GetEvent().GetArgStr() == "taken" {
			p.Send(&msg.SetEvent_Res{Code: code(def.ResCode_RC_NAME_TAKEN)})
			return
		}
		p.Send(&msg.SetEvent_Res{Code: ok})
	case *msg.GetUser_Req:
		p.Send(&msg.GetUser_Res{Code: ok, User: TestUser()})
	case *msg.GetMails_Req:
		p.Send(&msg.GetMails_Res{Code: ok})
	case *msg.GetRank_Req:
		p.Send(&msg.GetRank_Res{Code: ok, Rank: &def.Rank{Type: r.Type}})
	case *msg.ClaimMail_Req:
		p.Send(&msg.ClaimMail_Res{Code: ok, Items: Gold(5)})
	case *msg.ReadMail_Req:
		p.Send(&msg.ReadMail_Res{Code: ok})
	case *msg.DeleteMail_Req:
		p.Send(&msg.DeleteMail_Res{Code: ok})
	case *msg.Logout_Req:
		p.Send(&msg.Logout_Res{Code: ok})
	default:
		p.Send(&msg.Error_Res{Code: code(def.ResCode_RC_API_UNKNOWN), Api: proto.String(api), Detail: proto.String("fake gate")})
	}
}

// UC is a fake account server: register and password/guest auth in memory,
// answering tokens "tok-<name>" that the fake gate accepts, and the gate
// address it was given.
type UC struct {
	// URL is the server's base URL.
	URL string

	gate  string
	mu    sync.Mutex
	users map[string]string // username -> password
}

// StartUC starts a fake uc that sends clients to gateAddr.
func StartUC(t testing.TB, gateAddr string) *UC {
	t.Helper()
	u := &UC{gate: gateAddr, users: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

// serve answers the REST calls of PROTOCOL.md §3 that log in.
func (u *UC) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		u.answer(w, http.StatusBadRequest, &msg.Auth_Res{Code: code(def.ResCode_RC_BAD_REQUEST)})
		return
	}
	user, pass, dev := r.PostForm.Get("username"), r.PostForm.Get("password"), r.PostForm.Get("device_id")
	u.mu.Lock()
	defer u.mu.Unlock()
	switch r.URL.Path {
	case "/v1/account/registry":
		if _, dup := u.users[user]; dup {
			u.answer(w, http.StatusOK, &msg.Auth_Res{Code: code(def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE)})
			return
		}
		u.users[user] = pass
		u.ok(w, user)
	case "/v1/account/auth":
		if dev != "" {
			u.ok(w, "guest-"+dev)
			return
		}
		if p, found := u.users[user]; !found || p != pass {
			u.answer(w, http.StatusOK, &msg.Auth_Res{Code: code(def.ResCode_RC_AUTH_INVALID_USER)})
			return
		}
		u.ok(w, user)
	case "/v1/account/bind/account":
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
			u.answer(w, http.StatusOK, &msg.BindAccount_Res{Code: code(def.ResCode_RC_FORBIDDEN)})
			return
		}
		u.users[user] = pass
		u.answer(w, http.StatusOK, &msg.BindAccount_Res{Code: code(def.ResCode_RC_OK)})
	default:
		u.answer(w, http.StatusNotFound, &msg.Auth_Res{Code: code(def.ResCode_RC_BAD_REQUEST)})
	}
}

// ok answers a successful login of name.
func (u *UC) ok(w http.ResponseWriter, name string) {
	u.answer(w, http.StatusOK, &msg.Auth_Res{Code: code(def.ResCode_RC_OK), Token: proto.String("tok-" + name),
		Addr: proto.String(u.gate), AccountId: proto.Int64(1), ExpiresAt: proto.Int64(2000000000)})
}

// answer writes m as JSON with proto field names.
func (u *UC) answer(w http.ResponseWriter, status int, m proto.Message) {
	b, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
