package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client/clienttest"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// testCtx bounds a test's calls generously: a hang fails, a slow machine does not.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial connects to g and closes the session when the test ends.
func dial(t *testing.T, g *clienttest.Gate, opts ...Option) *Session {
	t.Helper()
	s, err := Dial(testCtx(t), g.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLoginAndCalls(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	s := dial(t, g)
	ctx := testCtx(t)
	u, err := s.Login(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	if u.GetId() != 10001 || s.User().GetId() != 10001 {
		t.Fatalf("login user %v, session user %v", u, s.User())
	}
	items, err := s.GetItems(ctx, 0)
	if err != nil || len(items) != 1 || items[0].GetNum() != 100 {
		t.Fatalf("GetItems = %v, %v", items, err)
	}
	e, err := s.Echo(ctx, 77)
	if err != nil || e.GetVal() != 77 || e.GetCt() == 0 {
		t.Fatalf("Echo = %v, %v", e, err)
	}
	if err := s.Rename(ctx, "neo"); err != nil {
		t.Fatal(err)
	}
}

func TestLoginRefused(t *testing.T) {
	s := dial(t, clienttest.StartGate(t, nil))
	u, err := s.Login(testCtx(t), "bad")
	if u != nil {
		t.Fatalf("user %v on refused login", u)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != def.ResCode_RC_LOGIN_TOKEN_INVALID || e.Op != "msg.Login.Req" {
		t.Fatalf("err = %#v", err)
	}
	if got := err.Error(); got != "hive: msg.Login.Req: RC_LOGIN_TOKEN_INVALID (2001)" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestNonZeroCodeKeepsAnswer(t *testing.T) {
	s := dial(t, clienttest.StartGate(t, nil))
	ctx := testCtx(t)
	res, err := Call[*msg.GiftItems_Res](ctx, s, &msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(100), ItemNum: proto.Int32(11)})
	if res == nil || res.GetCode() != int32(def.ResCode_RC_ITEM_NOT_ENOUGH) {
		t.Fatalf("answer %v not returned with the error", res)
	}
	if !errors.Is(err, &Error{Code: def.ResCode_RC_ITEM_NOT_ENOUGH}) {
		t.Fatalf("err = %v", err)
	}
	if c, ok := CodeOf(err); !ok || c != def.ResCode_RC_ITEM_NOT_ENOUGH {
		t.Fatalf("CodeOf = %v, %v", c, ok)
	}
	// SetEvent.Res carries its code in field 2.
	err = s.Rename(ctx, "taken")
	if c, _ := CodeOf(err); c != def.ResCode_RC_NAME_TAKEN {
		t.Fatalf("Rename taken: %v", err)
	}
}

func TestErrorResAnswersRequest(t *testing.T) {
	s := dial(t, clienttest.StartGate(t, nil))
	// The fake gate answers Error.Res to what it does not know.
	m, err := Call[*msg.VerificationCode_Res](testCtx(t), s, &msg.VerificationCode_Req{Phone: proto.String("+1")})
	var e *Error
	if m != nil || !errors.As(err, &e) || e.Code != def.ResCode_RC_API_UNKNOWN || e.Detail != "fake gate" || e.Op != "msg.VerificationCode.Req" {
		t.Fatalf("err = %#v", err)
	}
	// The session is still usable.
	if _, err := s.Echo(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
}

// pushLog collects pushes for assertions.
type pushLog struct {
	mu   sync.Mutex
	apis []string
	msgs []proto.Message
	ch   chan struct{} // one token per push
}

func newPushLog() *pushLog { return &pushLog{ch: make(chan struct{}, 100)} }

func (l *pushLog) handle(api string, m proto.Message) {
	l.mu.Lock()
	l.apis = append(l.apis, api)
	l.msgs = append(l.msgs, m)
	l.mu.Unlock()
	l.ch <- struct{}{}
}

// wait blocks until n more pushes arrived.
func (l *pushLog) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-l.ch:
		case <-time.After(10 * time.Second):
			t.Fatal("no push")
		}
	}
}

func TestPushAfterAnswer(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	log := newPushLog()
	s := dial(t, g, WithPushHandler(log.handle))
	if err := s.GiftItems(testCtx(t), 2, 100, 3); err != nil {
		t.Fatal(err)
	}
	log.wait(t, 1)
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.apis[0] != "msg.GetItems.Res" || log.msgs[0].(*msg.GetItems_Res).GetItems()[0].GetNum() != 97 {
		t.Fatalf("push %s %v", log.apis[0], log.msgs[0])
	}
}

// A push of a type no request waits for, arriving while another request is
// in flight, goes to the push handler and the request gets its own answer.
func TestPushDuringRequest(t *testing.T) {
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		if e, ok := m.(*msg.Echo_Req); ok {
			p.Send(&msg.GetMails_Res{Code: proto.Int32(0)})
			p.Send(&msg.Error_Res{Code: proto.Int32(1), Api: proto.String("msg.Other.Req")})
			p.Send(&msg.Echo_Res{Val: e.Val})
			return
		}
		clienttest.DefaultHandler(p, api, m)
	})
	log := newPushLog()
	s := dial(t, g)
	s.OnPush(log.handle)
	e, err := s.Echo(testCtx(t), 5)
	if err != nil || e.GetVal() != 5 {
		t.Fatalf("Echo = %v, %v", e, err)
	}
	log.wait(t, 2)
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.apis[0] != "msg.GetMails.Res" || log.apis[1] != "msg.Error.Res" {
		t.Fatalf("pushes %v", log.apis)
	}
}

func TestKick(t *testing.T) {
	kick := make(chan *clienttest.Peer, 1)
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		if _, ok := m.(*msg.GetItems_Req); ok {
			kick <- p // leave the request in flight
			return
		}
		clienttest.DefaultHandler(p, api, m)
	})
	log := newPushLog()
	s := dial(t, g, WithPushHandler(log.handle))
	errc := make(chan error, 1)
	go func() {
		_, err := s.GetItems(testCtx(t), 0)
		errc <- err
	}()
	p := <-kick
	p.Send(&msg.Kick_Res{Code: proto.Int32(int32(def.ResCode_RC_LOGIN_KICKED)), Reason: proto.String("logged in elsewhere")})
	err := <-errc
	if !errors.Is(err, ErrClosed) || !errors.Is(err, &Error{Code: def.ResCode_RC_LOGIN_KICKED}) {
		t.Fatalf("in-flight request: %v", err)
	}
	<-s.Done()
	var e *Error
	if !errors.As(s.Err(), &e) || e.Op != "kick" || e.Detail != "logged in elsewhere" {
		t.Fatalf("Err() = %v", s.Err())
	}
	log.wait(t, 1)
	if log.apis[0] != "msg.Kick.Res" {
		t.Fatalf("push %v", log.apis)
	}
	if _, err := s.Echo(testCtx(t), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after kick: %v", err)
	}
}

func TestServerCloses(t *testing.T) {
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) { p.Conn.Close() })
	s := dial(t, g)
	_, err := s.Echo(testCtx(t), 1)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	<-s.Done()
}

func TestBadFrameFromServer(t *testing.T) {
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		p.SendRaw([]byte{1, 0, 0}) // size 1: too short
	})
	s := dial(t, g)
	_, err := s.Echo(testCtx(t), 1)
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
}

func TestBadPayloadFromServer(t *testing.T) {
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		p.SendRaw([]byte{2 + 12 + 1, 0, 12, 0, 'm', 's', 'g', '.', 'E', 'c', 'h', 'o', '.', 'R', 'e', 's', 0xff})
	})
	s := dial(t, g)
	_, err := s.Echo(testCtx(t), 1)
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownAPIFromServerIgnored(t *testing.T) {
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		p.SendRaw([]byte{2 + 10, 0, 10, 0, 'm', 's', 'g', '.', 'N', 'e', 'w', '.', 'R', 's'})
		clienttest.DefaultHandler(p, api, m)
	})
	s := dial(t, g)
	if e, err := s.Echo(testCtx(t), 9); err != nil || e.GetVal() != 9 {
		t.Fatalf("Echo = %v, %v", e, err)
	}
}

// A request abandoned by its context must not take the next request's
// answer: its late answer is consumed first.
func TestAbandonedRequest(t *testing.T) {
	release := make(chan struct{})
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		if e := m.(*msg.Echo_Req); e.GetVal() == 1 {
			go func() { // answer late, after the caller gave up
				<-release
				p.Send(&msg.Echo_Res{Val: e.Val})
			}()
			return
		}
		clienttest.DefaultHandler(p, api, m)
	})
	s := dial(t, g)
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := s.Echo(ctx, 1)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned: %v", err)
	}
	got := make(chan *msg.Echo_Res, 1)
	go func() {
		e, err := s.Echo(testCtx(t), 2)
		if err != nil {
			t.Error(err)
		}
		got <- e
	}()
	close(release)
	if e := <-got; e.GetVal() != 2 {
		t.Fatalf("second request got %v", e)
	}
}

// Concurrent callers each get their own answer, and the gate never sees two
// requests of one session in flight.
func TestConcurrentCalls(t *testing.T) {
	var inFlight, overlap atomic.Int32
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		if inFlight.Add(1) > 1 {
			overlap.Add(1)
		}
		e := m.(*msg.Echo_Req)
		go func() {
			inFlight.Add(-1)
			p.Send(&msg.Echo_Res{Val: e.Val})
		}()
	})
	s := dial(t, g)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 25 {
				v := int64(i*1000 + j)
				e, err := s.Echo(testCtx(t), v)
				if err != nil || e.GetVal() != v {
					t.Errorf("Echo(%d) = %v, %v", v, e, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := overlap.Load(); n > 0 {
		t.Fatalf("%d requests sent while another was in flight", n)
	}
}

func TestHeartbeat(t *testing.T) {
	beats := make(chan struct{}, 10)
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		select {
		case beats <- struct{}{}:
		default:
		}
		clienttest.DefaultHandler(p, api, m)
	})
	dial(t, g, WithHeartbeat(20*time.Millisecond))
	for range 2 {
		select {
		case <-beats:
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat")
		}
	}
}

func TestDoRejectsBadRequests(t *testing.T) {
	s := dial(t, clienttest.StartGate(t, nil))
	ctx := testCtx(t)
	if _, err := s.Do(ctx, nil); err == nil {
		t.Fatal("nil request accepted")
	}
	if _, err := s.Do(ctx, &msg.Echo_Res{}); err == nil {
		t.Fatal("a Res accepted as request")
	}
	if _, err := s.Do(ctx, &msg.GiftItems_Req{}); err == nil {
		t.Fatal("request without required fields accepted")
	}
	if _, err := Call[*msg.GetItems_Res](ctx, s, &msg.Echo_Req{}); err == nil {
		t.Fatal("Call with the wrong answer type succeeded")
	}
}

func TestCloseEndsCalls(t *testing.T) {
	s := dial(t, clienttest.StartGate(t, nil))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Echo(testCtx(t), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDialFails(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	addr := g.Addr()
	g.Close()
	if _, err := Dial(testCtx(t), addr); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

// A call whose context has already ended sends nothing and leaves the
// session usable.
func TestExpiredContextKeepsSession(t *testing.T) {
	s := dial(t, clienttest.StartGate(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	for range 20 {
		if _, err := s.Echo(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	}
	if e, err := s.Echo(testCtx(t), 3); err != nil || e.GetVal() != 3 {
		t.Fatalf("Echo after expired calls = %v, %v", e, err)
	}
}
