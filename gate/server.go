package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/registry"
)

// userChanSize is the buffer of the one channel every user.<uid>
// subscription of the gate delivers into. Pushes are rare next to requests;
// a burst beyond this is a NATS slow-consumer drop, logged by the connection.
const userChanSize = 16384

// Deps are what a gate needs from its process.
type Deps struct {
	// NC is the gate's NATS connection (headers enabled, as bus.Connect makes it).
	NC *nats.Conn
	// Registry is where the gate announces itself and reads token keys.
	Registry registry.Registry
	// Logger is the process logger (slog.Default() if nil).
	Logger *slog.Logger
	// Metrics receives the gate's collectors (a private registry if nil).
	Metrics prometheus.Registerer
}

// Server is one gate: it accepts client connections, verifies logins,
// forwards requests to the game over NATS and writes answers and pushes back.
type Server struct {
	cfg  Config
	nc   *nats.Conn
	reg  registry.Registry
	log  *slog.Logger
	m    *metrics
	keys *keyring
	ips  *ipLimits

	versionsMu sync.Mutex
	versions   jetstream.KeyValue // bus.TokenVersionsBucket, bound on first login

	epoch        time.Time     // base of the sessions' monotonic clocks
	slack        time.Duration // see maxDeadlineSlack
	kickLoginPay []byte        // msg.Kick.Res{RC_LOGIN_KICKED}
	kickDrainPay []byte        // msg.Kick.Res{RC_GATE_DRAINING}

	ln      net.Listener
	addr    string
	gateSub *nats.Subscription
	userCh  chan *nats.Msg
	lease   registry.Lease

	sessions sync.Map // session id -> *session
	userSubs sync.Map // *nats.Subscription -> *session
	nconns   atomic.Int64
	nextID   atomic.Uint64
	draining atomic.Bool

	started    atomic.Bool
	stopped    atomic.Bool
	stop       chan struct{} // closed by Shutdown: stops the user dispatcher
	stopReport chan struct{}
	acceptDone chan struct{}
	wg         sync.WaitGroup // dispatcher and reporter
	sessWG     sync.WaitGroup // one per session reader
}

// New checks cfg and builds a gate; Start makes it serve.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	if deps.NC == nil {
		return nil, errors.New("gate: Deps.NC is nil")
	}
	if deps.Registry == nil {
		return nil, errors.New("gate: Deps.Registry is nil")
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "gate", "gate", cfg.ID)
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("gate: metrics: %w", err)
	}
	keys, err := newKeyring(cfg.TokenIssuer, cfg.TokenPublicKeys, deps.Registry, log)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		cfg: cfg, nc: deps.NC, reg: deps.Registry, log: log, m: m, keys: keys,
		epoch:        time.Now(),
		slack:        min(maxDeadlineSlack, cfg.IdleTimeout/4),
		kickLoginPay: envelope.KickPayload(def.ResCode_RC_LOGIN_KICKED, "logged in elsewhere"),
		kickDrainPay: envelope.KickPayload(def.ResCode_RC_GATE_DRAINING, "gate is shutting down"),
		stop:         make(chan struct{}),
		stopReport:   make(chan struct{}),
		acceptDone:   make(chan struct{}),
	}
	srv.ips = newIPLimits(cfg, srv.mono)
	// Session ids start from the clock, not 1: with a fixed --gate-id a
	// restarted gate must not reuse an old session's id, since the game
	// dedups commands by gate/session/request.
	srv.nextID.Store(uint64(time.Now().UnixNano()))
	return srv, nil
}

// ID is the gate's id.
func (s *Server) ID() string { return s.cfg.ID }

// Addr is the actual listen address (useful with ":0"); empty before Start.
func (s *Server) Addr() string { return s.addr }

// Ready reports whether the gate serves: started, not draining, and
// connected to NATS (for /readyz).
func (s *Server) Ready() error {
	switch {
	case !s.started.Load():
		return errors.New("gate: not started")
	case s.draining.Load():
		return errors.New("gate: draining")
	case !s.nc.IsConnected():
		return errors.New("gate: NATS disconnected")
	}
	return nil
}

// Conns is the number of open client connections.
func (s *Server) Conns() int { return int(s.nconns.Load()) }

// Start listens, subscribes to the gate's session subjects, registers the
// gate in the registry and returns once it serves.
func (s *Server) Start() error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("gate: already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gate: listen: %w", err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	s.gateSub, err = s.nc.Subscribe(bus.GateWildcard(s.cfg.ID), s.onGateMsg)
	if err == nil {
		// Answers must not be dropped while the callback is busy: allow a
		// deep backlog (bounded in bytes).
		err = s.gateSub.SetPendingLimits(-1, 256<<20)
	}
	if err == nil {
		err = s.nc.Flush() // the subscription is live before the first request
	}
	if err != nil {
		ln.Close()
		return fmt.Errorf("gate: subscribe %s: %w", bus.GateWildcard(s.cfg.ID), err)
	}
	s.userCh = make(chan *nats.Msg, userChanSize)
	s.wg.Add(1)
	go s.dispatchUser()
	go s.acceptLoop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.lease, err = s.reg.Register(ctx, s.gateEntry())
	if err != nil {
		s.shutdownNow()
		return fmt.Errorf("gate: register: %w", err)
	}
	s.wg.Add(1)
	go s.report()
	s.log.Info("gate serving", "listen", s.addr, "advertise", s.cfg.advertiseAddr(ln.Addr()))
	return nil
}

// gateEntry is the registry entry for the current load.
func (s *Server) gateEntry() registry.Gate {
	return registry.Gate{
		ID: s.cfg.ID, Addr: s.cfg.advertiseAddr(s.ln.Addr()), Conns: s.Conns(),
		Capacity: s.cfg.MaxConns, Version: s.cfg.Version, Started: s.epoch.UTC().Truncate(time.Second),
	}
}

// report republishes the connection count when it changed.
func (s *Server) report() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ReportInterval)
	defer t.Stop()
	last := -1
	for {
		select {
		case <-s.stopReport:
			return
		case <-t.C:
		}
		s.ips.sweep()
		if n := s.Conns(); n != last {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ReportInterval)
			if err := s.lease.Update(ctx, s.gateEntry()); err != nil {
				s.log.Warn("registry update failed", "err", err)
			} else {
				last = n
			}
			cancel()
		}
	}
}

// acceptLoop accepts connections until the listener closes.
func (s *Server) acceptLoop() {
	defer close(s.acceptDone)
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of fds or similar: wait a moment instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if s.draining.Load() || s.nconns.Load() >= int64(s.cfg.MaxConns) {
			s.refuse(c)
			continue
		}
		ipKey, perIP := s.ips.key(c.RemoteAddr())
		if perIP && !s.ips.open(ipKey) {
			s.m.ipConnsRefused.Inc()
			s.kickAndClose(c, def.ResCode_RC_RATE_LIMITED, "too many connections from your address")
			continue
		}
		s.nconns.Add(1)
		s.m.conns.Inc()
		s.m.accepted.Inc()
		sess := newSession(s, c)
		sess.ipKey, sess.perIP = ipKey, perIP
		s.sessions.Store(sess.id, sess)
		s.sessWG.Add(1)
		go sess.run()
	}
}

// refuse tells a connection the gate cannot take it and closes it. The
// write goes to a fresh socket's empty buffer, so it does not block.
func (s *Server) refuse(c net.Conn) {
	s.m.refused.Inc()
	code, reason := def.ResCode_RC_COMMON_SERVER_NOT_READY, "gate is full"
	if s.draining.Load() {
		code, reason = def.ResCode_RC_GATE_DRAINING, "gate is shutting down"
	}
	s.kickAndClose(c, code, reason)
}

// kickAndClose writes msg.Kick.Res{code, reason} to a connection that was
// never served and closes it.
func (s *Server) kickAndClose(c net.Conn, code def.ResCode, reason string) {
	f := envelope.KickFrame(code, reason)
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(f)
	c.Close()
}

// onGateMsg routes a message on gate.<id>.<session>: an answer to the
// session's in-flight request, a push, or a no-responders status.
func (s *Server) onGateMsg(m *nats.Msg) {
	_, sid, err := bus.ParseSessionSubject(m.Subject)
	if err != nil {
		s.m.unroutable.Inc()
		return
	}
	v, ok := s.sessions.Load(sid)
	if !ok {
		s.m.unroutable.Inc() // the session ended; a late answer
		return
	}
	sess := v.(*session)
	if envelope.NoResponders(m) {
		sess.noResponders()
		return
	}
	in := envelope.Read(m)
	if !isResponseName(in.API) {
		s.m.unroutable.Inc()
		s.log.Debug("dropping message without a known Hive-Api", "subject", m.Subject, "api", in.API)
		return
	}
	sess.onAnswer(in.API, in.Req, in.Data)
}

// backlogged reports whether messages from NATS wait for the gate's
// callbacks: answers behind the one being handled (nats.go counts the one
// in its callback as pending too), or user messages.
func (s *Server) backlogged() bool {
	if len(s.userCh) > 0 {
		return true
	}
	n, _, err := s.gateSub.Pending()
	return err == nil && n > 1
}

// dispatchUser handles the messages of every user.<uid> subscription: kicks
// and pushes.
func (s *Server) dispatchUser() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case m := <-s.userCh:
			s.onUserMsg(m)
		}
	}
}

func (s *Server) onUserMsg(m *nats.Msg) {
	v, ok := s.userSubs.Load(m.Sub)
	if !ok {
		return // the session logged out or closed since
	}
	sess := v.(*session)
	in := envelope.Read(m)
	api := in.API
	if api == envelope.KickRes {
		if in.Keep != "" {
			sess.onLoginKick(in.Keep, in.Time, in.Data)
		} else {
			sess.kick(in.Data, closeKicked, kickPushed, false)
		}
		return
	}
	if !isResponseName(api) {
		s.m.unroutable.Inc()
		return
	}
	if !sess.loggedIn() {
		// user.<uid> is subscribed while the login is checked and at the
		// game (for kicks); pushes wait for the Login.Res.
		s.m.unroutable.Inc()
		return
	}
	sess.push(api, m.Data)
}

// tokenVersion is the account's current token version: the value of its
// key in bus.TokenVersionsBucket, 0 when absent. The gate reads only that
// bucket (a KV get: a direct get when the stream allows it).
func (s *Server) tokenVersion(ctx context.Context, uid int64) (int64, error) {
	kv, err := s.versionsBucket(ctx)
	if err != nil {
		return 0, err
	}
	e, err := kv.Get(ctx, strconv.FormatInt(uid, 10))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("gate: read %s: %w", bus.TokenVersionsBucket, err)
	}
	v, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("gate: %s: bad version %q for %d", bus.TokenVersionsBucket, e.Value(), uid)
	}
	return v, nil
}

// versionsBucket binds bus.TokenVersionsBucket on first use (and again
// after a failure), so a gate may start before the bucket exists.
func (s *Server) versionsBucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.versionsMu.Lock()
	defer s.versionsMu.Unlock()
	if s.versions != nil {
		return s.versions, nil
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, fmt.Errorf("gate: jetstream: %w", err)
	}
	kv, err := js.KeyValue(ctx, bus.TokenVersionsBucket)
	if err != nil {
		return nil, fmt.Errorf("gate: kv bucket %s: %w", bus.TokenVersionsBucket, err)
	}
	s.versions = kv
	return kv, nil
}

// publishLoginKick tells every other session of uid, on any gate, that sess
// logged in at loginAt (see doc.go: kicks).
func (s *Server) publishLoginKick(sess *session, uid, loginAt int64) error {
	k := envelope.Kick{User: uid, Keep: sess.subj, LoginTime: loginAt}
	return s.nc.PublishMsg(k.MsgWith(s.kickLoginPay))
}

// publishLogout tells the game that a logged-in session ended without a
// Logout (disconnect, idle, drain): msg.Logout.Req with the usual headers
// and no reply subject.
func (s *Server) publishLogout(sess *session, uid int64, user string, reqID uint64) {
	data, _ := proto.Marshal(&msg.Logout_Req{Account: proto.Int64(uid)})
	if err := sess.publishRequest(envelope.LogoutReq, "", reqID, user, data); err != nil {
		s.log.Warn("publish disconnect logout failed", "user", uid, "err", err)
	}
}

// Shutdown drains the gate (DESIGN §6): it leaves the registry, stops
// accepting, answers what is in flight, pushes msg.Kick.Res{RC_GATE_DRAINING}
// to every session and closes them. Sessions still open after
// --gate-drain-timeout (or when ctx ends) are closed anyway. The NATS
// connection is left open (it belongs to the caller).
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() || !s.stopped.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	close(s.stopReport)
	var errs []error
	if s.lease != nil {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		if err := s.lease.Revoke(rctx); err != nil {
			errs = append(errs, fmt.Errorf("gate: leave registry: %w", err))
		}
		rcancel()
	}
	s.draining.Store(true)
	s.ln.Close()
	<-s.acceptDone
	n := s.Conns()
	s.sessions.Range(func(_, v any) bool {
		v.(*session).drain()
		return true
	})
	done := make(chan struct{})
	go func() { s.sessWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("drain timeout: closing remaining sessions", "open", s.Conns())
		s.sessions.Range(func(_, v any) bool {
			v.(*session).close(closeDrain)
			return true
		})
		<-done
		errs = append(errs, fmt.Errorf("gate: drain: %w", ctx.Err()))
	}
	s.shutdownNATS()
	s.log.Info("gate stopped", "drained_sessions", n)
	return errors.Join(errs...)
}

// shutdownNow undoes a half-done Start.
func (s *Server) shutdownNow() {
	s.stopped.Store(true)
	s.draining.Store(true)
	s.ln.Close()
	<-s.acceptDone
	s.sessions.Range(func(_, v any) bool {
		v.(*session).close(closeDrain)
		return true
	})
	s.sessWG.Wait()
	s.shutdownNATS()
}

// shutdownNATS drops the gate's subscriptions and flushes what it published
// (disconnect logouts).
func (s *Server) shutdownNATS() {
	if s.gateSub != nil {
		_ = s.gateSub.Unsubscribe()
	}
	close(s.stop)
	s.wg.Wait()
	if err := s.nc.FlushTimeout(2 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log.Warn("nats flush at shutdown failed", "err", err)
	}
}

// mono is a monotonic clock in nanoseconds since the gate was built.
func (s *Server) mono() int64 { return int64(time.Since(s.epoch)) }
