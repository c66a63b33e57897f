package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/proto/rescode"
)

// errServerClosed is the failure of a request whose connection the server
// closed before answering.
var errServerClosed = errors.New("bench: connection closed by server")

// errLate is the failure of a request answered after the bench's timeout.
var errLate = errors.New("bench: answered after the request timeout")

// benchReq is one request of a scenario, encoded once: the driver writes
// the same bytes for every request (an Echo's client time excepted) and
// checks each answer's api and result code without decoding it into a
// message.
type benchReq struct {
	frame  []byte // the whole request frame, ready to write
	reqAPI string
	resAPI string
	// code is the field number of the answer's int32 "code", 0 if it has none.
	code protowire.Number
	// echo: frame ends with Echo.Req's ct (client time, ms), rewritten
	// whenever the millisecond changes; body is the frame up to ct's value.
	echo   bool
	body   []byte
	lastMS int64
	// seen, if set, is given the payload of every OK answer.
	seen func(payload []byte)
}

// newBenchReq encodes m (a msg.X.Req) for the bench.
func newBenchReq(m proto.Message) (*benchReq, error) {
	b, err := frame.AppendMessage(nil, m)
	if err != nil {
		return nil, err
	}
	api := frame.API(m)
	q := &benchReq{frame: b, reqAPI: api, resAPI: frame.ResponseAPI(api)}
	mt, ok := frame.Lookup([]byte(q.resAPI))
	if !ok {
		return nil, fmt.Errorf("bench: no answer type %s", q.resAPI)
	}
	q.code = rescode.Number(mt.Descriptor())
	return q, nil
}

// newEchoReq is Echo.Req{val, ct}, ct the client time in milliseconds at
// each request, as client.Session.Echo sends it.
func newEchoReq(val int64) (*benchReq, error) {
	q, err := newBenchReq(&msg.Echo_Req{Val: proto.Int64(val), Ct: proto.Int64(0)})
	if err != nil {
		return nil, err
	}
	// Fields are written in number order, so ct (field 2, value 0: one
	// byte) ends the frame.
	q.echo = true
	q.body = q.frame[: len(q.frame)-1 : len(q.frame)-1]
	q.frame = make([]byte, 0, len(q.body)+protowire.SizeVarint(1<<63))
	return q, nil
}

// bytes returns the frame to send for a request starting at t0.
func (q *benchReq) bytes(t0 time.Time) []byte {
	if !q.echo {
		return q.frame
	}
	if ms := t0.UnixMilli(); ms != q.lastMS || len(q.frame) == 0 {
		q.lastMS = ms
		b := append(q.frame[:0], q.body...)
		b = protowire.AppendVarint(b, uint64(ms))
		size := len(b) - 2 // fits: an Echo.Req is tiny
		b[0], b[1] = byte(size), byte(size>>8)
		q.frame = b
	}
	return q.frame
}

// check reports the failure an answer payload carries: a non-OK result code
// (as *client.Error), or a payload that is not protobuf wire format (as
// *client.ProtocolError, which ends the connection). The payload is scanned,
// not decoded: every top-level field is stepped over and the code read.
func (q *benchReq) check(payload []byte) error {
	code, _, err := rescode.Scan(payload, q.code)
	if err != nil {
		return &client.ProtocolError{Msg: "bad payload " + q.resAPI, Err: err}
	}
	if code != def.ResCode_RC_OK {
		return &client.Error{Code: code, Op: q.reqAPI}
	}
	if q.seen != nil {
		q.seen(payload)
	}
	return nil
}

// benchConn is a player's connection while the bench drives it: requests
// are written and their answers read on the calling goroutine (no reading
// goroutine, no channel per request), one request in flight. Pushes are
// read and skipped. It is used by one goroutine at a time.
type benchConn struct {
	conn net.Conn // nil when not connected
	r    *frame.Reader

	// deadline is the conn's read and write deadline. It is moved only
	// when a request could run into it before its own timeout, so most
	// requests set none; a request answered after its timeout is failed by
	// the caller (errLate).
	deadline time.Time
	// ctx is the context whose end interrupts a blocked read or write (the
	// end of the run); stop unregisters that.
	ctx  context.Context
	stop func() bool
	// owed counts answers to requests given up at the deadline: each is
	// read and dropped before the next request is sent, as client.Session
	// does, so that it is not taken for the next one's answer.
	owed int
}

// past is a deadline that fails blocked reads and writes at once.
var past = time.Unix(1, 0)

// watch makes the end of ctx interrupt the connection's I/O.
func (c *benchConn) watch(ctx context.Context) {
	if c.ctx == ctx {
		return
	}
	if c.stop != nil {
		c.stop()
	}
	conn := c.conn
	c.ctx = ctx
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(past) })
	c.deadline = time.Time{} // the next arm sets one and checks ctx
}

// arm puts the deadline between timeout and timeout*9/8 after t0, the
// start of a request. It is moved only when it falls outside, so for
// back-to-back requests with the same timeout about every timeout/8.
func (c *benchConn) arm(ctx context.Context, t0 time.Time, timeout time.Duration) error {
	if d := c.deadline.Sub(t0); d >= timeout && d <= timeout+timeout/8 {
		return nil
	}
	c.deadline = t0.Add(timeout + timeout/8)
	if err := c.conn.SetDeadline(c.deadline); err != nil {
		return err
	}
	// The end of the run may have set a past deadline just before this
	// one replaced it: ctx has ended by then, so look.
	return ctx.Err()
}

// connect dials p and logs in, bounded by timeout; the end of ctx
// interrupts it.
func (c *benchConn) connect(ctx context.Context, p *benchPlayer, timeout time.Duration) error {
	c.close()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn net.Conn
	var err error
	if p.opt.Transport == TransportWS {
		conn, err = client.DialWS(dctx, p.addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", p.addr)
	}
	if err != nil {
		return fmt.Errorf("bench: dial %s: %w", p.addr, err)
	}
	c.conn, c.r, c.owed = conn, frame.NewReader(conn, frame.MaxSize), 0
	c.watch(ctx)
	if err := c.login(ctx, p.token, timeout); err != nil {
		c.close()
		return fmt.Errorf("bench: log in at %s: %w", p.addr, err)
	}
	return nil
}

// login sends Login.Req and waits for its answer.
func (c *benchConn) login(ctx context.Context, token string, timeout time.Duration) error {
	if err := c.arm(ctx, time.Now(), timeout); err != nil {
		return err
	}
	b, err := frame.AppendMessage(nil, &msg.Login_Req{Token: proto.String(token)})
	if err != nil {
		return err
	}
	if _, err := c.conn.Write(b); err != nil {
		return err
	}
	for {
		api, payload, err := c.r.Next()
		if err != nil {
			return err
		}
		switch string(api) {
		case envelope.LoginRes:
			var res msg.Login_Res
			if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(payload, &res); err != nil {
				return &client.ProtocolError{Msg: "bad payload " + envelope.LoginRes, Err: err}
			}
			if code := def.ResCode(res.GetCode()); code != def.ResCode_RC_OK {
				return &client.Error{Code: code, Op: envelope.LoginReq}
			}
			return nil
		case envelope.ErrorRes, envelope.KickRes:
			if err, _ := c.failure(api, payload, envelope.LoginReq, envelope.LoginRes); err != nil {
				return err
			}
		}
	}
}

// failure decodes an Error.Res or Kick.Res received while waiting for the
// answer to reqAPI. It returns the error it means for that request (nil for
// an Error.Res about some other api) and whether the connection must end.
func (c *benchConn) failure(api, payload []byte, reqAPI, resAPI string) (err error, fatal bool) {
	if string(api) == envelope.KickRes {
		var k msg.Kick_Res
		if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(payload, &k); err != nil {
			return &client.ProtocolError{Msg: "bad payload " + envelope.KickRes, Err: err}, true
		}
		return &client.Error{Code: def.ResCode(k.GetCode()), Op: "kick", Detail: k.GetReason()}, true
	}
	var e msg.Error_Res
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(payload, &e); err != nil {
		return &client.ProtocolError{Msg: "bad payload " + envelope.ErrorRes, Err: err}, true
	}
	// As client.Session: an Error.Res answers the request if it names
	// the request's api, its answer's, or none.
	if a := e.GetApi(); a != "" && a != reqAPI && a != resAPI {
		return nil, false
	}
	return &client.Error{Code: def.ResCode(e.GetCode()), Op: reqAPI, Detail: e.GetDetail()}, false
}

// await reads frames until the answer to q: nil or the failure it carries.
// Pushes and frames of unknown apis are skipped. fatal means the
// connection is unusable (a read error, a bad frame or payload, a kick).
func (c *benchConn) await(q *benchReq) (err error, fatal bool) {
	for {
		api, payload, err := c.r.Next()
		if err != nil {
			return err, true
		}
		switch string(api) {
		case q.resAPI:
			err := q.check(payload)
			_, bad := err.(*client.ProtocolError)
			return err, bad
		case envelope.ErrorRes, envelope.KickRes:
			if err, fatal := c.failure(api, payload, q.reqAPI, q.resAPI); err != nil {
				return err, fatal
			}
		}
	}
}

// do sends q for a request starting at t0 and waits for its answer,
// reconnecting p first if the connection ended. A request given up at the
// deadline leaves the connection open; its answer is dropped when it comes.
func (c *benchConn) do(ctx context.Context, p *benchPlayer, q *benchReq, t0 time.Time, timeout time.Duration) error {
	if c.conn == nil {
		if err := c.connect(ctx, p, timeout); err != nil {
			return err
		}
	}
	c.watch(ctx)
	if err := c.arm(ctx, t0, timeout); err != nil {
		c.close()
		return err
	}
	for c.owed > 0 {
		if err, fatal := c.await(q); fatal {
			return c.fail(ctx, err)
		}
		c.owed-- // its own result is not this request's
	}
	if _, err := c.conn.Write(q.bytes(t0)); err != nil {
		c.close() // a frame may be half written
		return err
	}
	err, fatal := c.await(q)
	if fatal {
		if isTimeout(err) && ctx.Err() == nil {
			c.owed++ // given up; its answer may still come
		}
		return c.fail(ctx, err)
	}
	return err
}

// fail handles an error that makes the answer unreadable: a deadline that
// passed (while ctx lasts) leaves the connection for the next request, whose
// own deadline then bounds the wait; anything else closes it, to be
// connected again.
func (c *benchConn) fail(ctx context.Context, err error) error {
	if isTimeout(err) && ctx.Err() == nil {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = errServerClosed
	}
	c.close()
	return err
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// close ends the connection; it may be connected again.
func (c *benchConn) close() {
	if c.stop != nil {
		c.stop()
		c.stop, c.ctx = nil, nil
	}
	if c.conn != nil {
		c.conn.Close()
		c.r.Release()
		c.conn, c.r = nil, nil
	}
	c.deadline, c.owed = time.Time{}, 0
}
