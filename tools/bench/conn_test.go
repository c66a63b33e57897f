package bench

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/client/clienttest"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/tools/internal/tooltest"
)

// The answer's code field is found by name, as client.Session does:
// SetEvent.Res has it at field 2, Echo.Res has none.
func TestBenchReqCodeField(t *testing.T) {
	set, err := newBenchReq(&msg.SetEvent_Req{Event: &def.Event{Oper: proto.Int32(1001)}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := proto.Marshal(&msg.SetEvent_Res{Code: proto.Int32(int32(def.ResCode_RC_NAME_TAKEN))})
	var e *client.Error
	if err := set.check(b); !errors.As(err, &e) || e.Code != def.ResCode_RC_NAME_TAKEN || e.Op != "msg.SetEvent.Req" {
		t.Fatalf("SetEvent.Res check: %v", err)
	}
	echo, err := newEchoReq(1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = proto.Marshal(&msg.Echo_Res{Val: proto.Int64(5)}) // val at field 1: not a code
	if err := echo.check(b); err != nil || echo.code != 0 {
		t.Fatalf("Echo.Res check: %v (code field %d)", err, echo.code)
	}
	var pe *client.ProtocolError
	if err := echo.check([]byte{0x08}); !errors.As(err, &pe) {
		t.Fatalf("bad payload: %v, want a ProtocolError", err)
	}
}

// The pre-encoded Echo.Req carries the request's time in ms, as
// client.Session.Echo does.
func TestEchoReqTime(t *testing.T) {
	q, err := newEchoReq(300)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_700_000_000_123)
	for _, at := range []time.Time{t0, t0.Add(500 * time.Microsecond), t0.Add(time.Second), time.UnixMilli(1)} {
		b := q.bytes(at)
		api, payload, err := frame.NewReader(bytes.NewReader(b), 0).Next()
		if err != nil {
			t.Fatal(err)
		}
		m, err := frame.Decode(api, payload)
		if err != nil {
			t.Fatal(err)
		}
		r := m.(*msg.Echo_Req)
		if r.GetVal() != 300 || r.GetCt() != at.UnixMilli() {
			t.Fatalf("at %v: %v", at.UnixMilli(), r)
		}
	}
}

// benchGate is a fake gate counting logins whose answers to GiftItems
// come from answer (nil: none).
func benchGate(t *testing.T, answer func(p *clienttest.Peer, n int64)) (*clienttest.Gate, *atomic.Int64) {
	var logins, gifts atomic.Int64
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		switch api {
		case "msg.Login.Req":
			logins.Add(1)
		case "msg.GiftItems.Req":
			answer(p, gifts.Add(1))
			return
		}
		clienttest.DefaultHandler(p, api, m)
	})
	return g, &logins
}

// rawFrame is a frame with any api and payload.
func rawFrame(api string, payload []byte) []byte {
	b, _ := frame.AppendFrame(nil, api, payload)
	return b
}

func giftRes(c def.ResCode) proto.Message {
	return &msg.GiftItems_Res{Code: proto.Int32(int32(c))}
}

// Pushes and errors about other requests are skipped; a refusal is the
// request's error and keeps the connection; a kick or a bad payload fails
// the request and the next one logs in again.
func TestBenchConnAnswers(t *testing.T) {
	g, logins := benchGate(t, func(p *clienttest.Peer, n int64) {
		switch n {
		case 1:
			p.Send(&msg.GetItems_Res{Code: proto.Int32(0), Items: clienttest.Gold(3)})
			p.Send(&msg.Error_Res{Code: proto.Int32(5), Api: proto.String("msg.Other.Req")})
			p.SendRaw(rawFrame("msg.Newer.Res", []byte{1, 2})) // unknown api
			p.Send(giftRes(def.ResCode_RC_OK))
		case 2:
			p.Send(giftRes(def.ResCode_RC_ITEM_NOT_ENOUGH))
		case 3:
			p.Send(&msg.Error_Res{Code: proto.Int32(int32(def.ResCode_RC_RATE_LIMITED))})
		case 4:
			p.Send(&msg.Kick_Res{Code: proto.Int32(int32(def.ResCode_RC_LOGIN_KICKED))})
		case 5:
			p.SendRaw(rawFrame("msg.GiftItems.Res", []byte{0x08}))
		default:
			p.Send(giftRes(def.ResCode_RC_OK))
		}
	})
	q, err := newBenchReq(&msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(100), ItemNum: proto.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &benchPlayer{token: "good", addr: g.Addr()}
	defer p.close()
	ctx := tooltest.Ctx(t)
	do := func() error { return p.bc.do(ctx, p, q, time.Now(), 10*time.Second) }
	codeOf := func(err error) def.ResCode {
		var e *client.Error
		if !errors.As(err, &e) {
			t.Fatalf("err %v, want a *client.Error", err)
		}
		return e.Code
	}

	if err := do(); err != nil {
		t.Fatalf("answer after pushes: %v", err)
	}
	if c := codeOf(do()); c != def.ResCode_RC_ITEM_NOT_ENOUGH {
		t.Fatalf("refusal: code %v", c)
	}
	if c := codeOf(do()); c != def.ResCode_RC_RATE_LIMITED {
		t.Fatalf("Error.Res: code %v", c)
	}
	if n := logins.Load(); n != 1 {
		t.Fatalf("%d logins after refusals, want 1", n)
	}
	if c := codeOf(do()); c != def.ResCode_RC_LOGIN_KICKED {
		t.Fatalf("kick: code %v", c)
	}
	var pe *client.ProtocolError
	if err := do(); !errors.As(err, &pe) {
		t.Fatalf("bad payload: %v", err)
	}
	if err := do(); err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
	if n := logins.Load(); n != 3 {
		t.Fatalf("%d logins, want 3 (after the kick and the bad payload)", n)
	}
}

// A request not answered in time fails with a timeout; its late answer is
// dropped, not taken for the next request's, and the connection stays.
func TestBenchConnTimeout(t *testing.T) {
	release := make(chan struct{})
	g, logins := benchGate(t, func(p *clienttest.Peer, n int64) {
		if n == 1 {
			go func() {
				<-release
				p.Send(giftRes(def.ResCode_RC_ITEM_NOT_ENOUGH)) // late
			}()
			return
		}
		p.Send(giftRes(def.ResCode_RC_OK))
	})
	q, err := newBenchReq(&msg.GiftItems_Req{DstId: proto.Int64(2), ItemIdx: proto.Int32(100), ItemNum: proto.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &benchPlayer{token: "good", addr: g.Addr()}
	defer p.close()
	ctx := tooltest.Ctx(t)
	if err := p.bc.connect(ctx, p, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.bc.do(ctx, p, q, time.Now(), 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("unanswered: %v, want a timeout", err)
	}
	close(release)
	if err := p.bc.do(ctx, p, q, time.Now(), 10*time.Second); err != nil {
		t.Fatalf("next request: %v (the late refusal taken for its answer?)", err)
	}
	if n := logins.Load(); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
}

// The end of the run interrupts requests waiting for an answer at once,
// not after their timeout, and they count neither as requests nor errors.
func TestBenchEndInterrupts(t *testing.T) {
	g := clienttest.StartGate(t, func(p *clienttest.Peer, api string, m proto.Message) {
		if api == "msg.Echo.Req" {
			return // never answered
		}
		clienttest.DefaultHandler(p, api, m)
	})
	uc := clienttest.StartUC(t, g.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{UC: uc.URL, Conns: 3, Duration: 300 * time.Millisecond, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Bench waited for the request timeout")
	}
	if res.Requests != 0 || res.Errors != 0 {
		t.Fatalf("result %+v, want no requests", res)
	}
}
