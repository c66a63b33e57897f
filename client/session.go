package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// PushHandler receives the messages the server sends unasked: pushes such as
// msg.GetItems.Res after an item change or msg.GetMails.Res for a new mail,
// and msg.Kick.Res just before the session ends. It runs on the session's
// reading goroutine, so it must return quickly and must not wait for an
// answer on the same session (that answer could never be read); hand the
// message to another goroutine if it needs to.
type PushHandler func(api string, m proto.Message)

// Option configures Dial.
type Option func(*options)

type options struct {
	dialer       *net.Dialer
	maxFrame     int
	heartbeat    time.Duration
	writeTimeout time.Duration
	push         PushHandler
}

// WithDialer sets the dialer (for its timeout, keep-alive, local address).
func WithDialer(d *net.Dialer) Option { return func(o *options) { o.dialer = d } }

// WithMaxFrame bounds the size field of frames the session accepts (default
// and maximum frame.MaxSize); a larger frame ends the session.
func WithMaxFrame(n int) Option { return func(o *options) { o.maxFrame = n } }

// WithHeartbeat makes the session send msg.Echo.Req whenever it has sent
// nothing for d, so that the gate's idle timeout does not close a session
// that is only waiting for pushes. 0 (the default) sends none.
func WithHeartbeat(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// WithWriteTimeout bounds the sending of one request (default 10 s). A send
// that takes longer means the gate stopped reading; the session then ends.
// Waiting for the answer is bounded by each call's context instead.
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// WithPushHandler sets the push handler from the start, so that no push can
// arrive before it is set. See [Session.OnPush].
func WithPushHandler(h PushHandler) Option { return func(o *options) { o.push = h } }

// Session is a TCP connection to a gate. Its methods are safe for concurrent
// use; requests are sent one at a time (see the package documentation).
type Session struct {
	conn net.Conn
	r    *frame.Reader

	wmu sync.Mutex // guards w and the write deadline
	w   *frame.Writer

	// turn holds a token while a request is in flight. The goroutine that
	// settles the request (the reader, or whoever ends the session) takes
	// the token back, also when the caller gave up waiting: the answer to an
	// abandoned request must still be consumed before the next request, or
	// it would be taken as the next one's answer.
	turn chan struct{}

	mu      sync.Mutex
	pending *pending // the request in flight; nil when none
	push    PushHandler
	user    *def.User
	err     error // why the session ended; nil while open

	writeTimeout time.Duration

	closed     chan struct{} // closed when the session ends
	readerDone chan struct{} // closed when the reading goroutine returns
	lastSend   atomic.Int64  // unix nanoseconds of the last request written
}

// pending is a request waiting for its answer.
type pending struct {
	reqAPI, resAPI string
	ch             chan answer // buffered: the settler never blocks
}

// answer settles a pending request.
type answer struct {
	m   proto.Message
	err error
}

// Dial connects to a gate at addr: host:port (uc's Auth.Res addr) over
// TCP, or a ws:// or wss:// URL (its ws_url) over WebSocket (see DialWS).
// The context bounds the connect only. Log in next with [Session.Login].
func Dial(ctx context.Context, addr string, opts ...Option) (*Session, error) {
	o := options{dialer: &net.Dialer{}, maxFrame: frame.MaxSize, writeTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if isWSURL(addr) {
		conn, err := DialWS(ctx, addr)
		if err != nil {
			return nil, err
		}
		return newSession(conn, o), nil
	}
	conn, err := o.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hive: dial %s: %w", addr, err)
	}
	s := newSession(conn, o)
	return s, nil
}

// newSession starts the reading (and heartbeat) goroutines on conn.
func newSession(conn net.Conn, o options) *Session {
	s := &Session{
		conn:         conn,
		r:            frame.NewReader(conn, o.maxFrame),
		w:            frame.NewWriter(conn),
		turn:         make(chan struct{}, 1),
		push:         o.push,
		writeTimeout: o.writeTimeout,
		closed:       make(chan struct{}),
		readerDone:   make(chan struct{}),
	}
	go s.read()
	if o.heartbeat > 0 {
		go s.heartbeat(o.heartbeat)
	}
	return s
}

// OnPush sets the handler of pushes (nil drops them). Pushes arriving while
// no handler is set are dropped.
func (s *Session) OnPush(h PushHandler) {
	s.mu.Lock()
	s.push = h
	s.mu.Unlock()
}

// User returns the player as the last successful Login answered it, or nil.
func (s *Session) User() *def.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// Done is closed when the session has ended (Close, a kick, a broken
// connection or a protocol violation); Err then says why.
func (s *Session) Done() <-chan struct{} { return s.closed }

// Err returns nil while the session is open, and afterwards an error
// wrapping ErrClosed and the cause: after a kick, errors.As finds the
// *Error with the kick's code (RC_LOGIN_KICKED, RC_GATE_DRAINING).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the session and waits for its goroutines. It returns nil, also
// when the session had already ended.
func (s *Session) Close() error {
	s.end(errors.New("closed by client"))
	<-s.readerDone
	return nil
}

// Do sends req (a msg.X.Req) and waits for its answer: msg.X.Res, or
// msg.Error.Res when the server could not answer with X.Res. It waits first
// for any request in flight on the session. The context bounds the whole
// call; when it ends first Do returns its error, and the late answer is
// discarded when it arrives.
//
// The answer is returned whenever one arrived. If its code is not RC_OK the
// error is an *Error with that code, and for msg.Error.Res too (the message
// returned is then the *msg.Error_Res). A session that ends while waiting
// gives an error wrapping ErrClosed.
func (s *Session) Do(ctx context.Context, req proto.Message) (proto.Message, error) {
	if req == nil {
		return nil, errors.New("hive: Do: nil request")
	}
	api, payload, err := frame.Encode(req)
	if err != nil {
		return nil, fmt.Errorf("hive: %w", err)
	}
	if !frame.IsRequest([]byte(api)) {
		return nil, fmt.Errorf("hive: %s is not a request (msg.X.Req)", api)
	}
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, s.closedErr()
	}
	if err := ctx.Err(); err != nil { // select picks at random among ready cases
		<-s.turn
		return nil, err
	}
	p := &pending{reqAPI: api, resAPI: frame.ResponseAPI(api), ch: make(chan answer, 1)}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		<-s.turn
		return nil, s.closedErr()
	}
	s.pending = p
	s.mu.Unlock()

	if err := s.write(api, payload); err != nil {
		s.end(fmt.Errorf("write: %w", err)) // settles p
	}
	select {
	case a := <-p.ch:
		return a.m, a.err
	case <-ctx.Done():
		s.mu.Lock()
		stillWaiting := s.pending == p
		s.mu.Unlock()
		if stillWaiting {
			return nil, ctx.Err() // the reader consumes the late answer and frees the turn
		}
		a := <-p.ch // settled meanwhile: settling happens under mu
		return a.m, a.err
	}
}

// write sends one frame. It is bounded by the session's write timeout, not
// by the caller's context: a write cut short leaves a partial frame and the
// session would have to end, which a tight per-call deadline must not cause.
func (s *Session) write(api string, payload []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return err
	}
	if err := s.w.WriteFrame(api, payload); err != nil {
		return err
	}
	s.lastSend.Store(time.Now().UnixNano())
	return s.w.Flush()
}

// Call is Do with the answer's type: it returns the answer as Res. Res must
// be the answer type of req (Call[*msg.GetItems_Res] for a GetItems_Req).
// As with Do, the answer is returned along with an *Error when its code is
// not RC_OK; for msg.Error.Res only the error is returned.
func Call[Res proto.Message](ctx context.Context, s *Session, req proto.Message) (Res, error) {
	var zero Res
	m, err := s.Do(ctx, req)
	if m == nil {
		return zero, err
	}
	r, ok := m.(Res)
	if !ok {
		if err != nil {
			return zero, err
		}
		return zero, &ProtocolError{Msg: fmt.Sprintf("answer is %s, not %T", m.ProtoReflect().Descriptor().FullName(), zero)}
	}
	return r, err
}

// end ends the session with cause (first cause wins), fails the request in
// flight and closes the connection.
func (s *Session) end(cause error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = fmt.Errorf("%w: %w", ErrClosed, cause)
	if p := s.pending; p != nil {
		s.settle(p, answer{err: s.err})
	}
	close(s.closed)
	s.mu.Unlock()
	s.conn.Close()
}

// closedErr is the error of calls on an ended session.
func (s *Session) closedErr() error {
	if err := s.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// heartbeat sends Echo.Req when nothing was sent for d, until the session ends.
func (s *Session) heartbeat(d time.Duration) {
	t := time.NewTicker(d / 2)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, s.lastSend.Load())) < d {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		_, _ = s.Do(ctx, &msg.Echo_Req{})
		cancel()
	}
}
