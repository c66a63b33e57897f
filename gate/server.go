package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
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

	ln       net.Listener
	addr     string
	wsLn     net.Listener        // --gate-ws-listen; nil without
	wsSrv    *http.Server        // serves the upgrades on wsLn
	upgrader *websocket.Upgrader // of wsSrv
	admitMu  sync.RWMutex        // see admit
	gateSub  *nats.Subscription
	userCh   chan *nats.Msg
	lease    registry.Lease

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
	if err := s.startWS(); err != nil {
		ln.Close()
		_ = s.gateSub.Unsubscribe()
		return err
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
	s.log.Info("gate serving", "listen", s.addr, "advertise", s.cfg.advertiseAddr(ln.Addr()), "ws_url", s.WSURL())
	return nil
}

// gateEntry is the registry entry for the current load.
func (s *Server) gateEntry() registry.Gate {
	return registry.Gate{
		ID: s.cfg.ID, Addr: s.cfg.advertiseAddr(s.ln.Addr()), WSURL: s.WSURL(), Conns: s.Conns(),
		Capacity: s.cfg.MaxConns, Version: s.cfg.Version, Started: s.epoch.UTC().Truncate(time.Second),
	}
}

// WSURL is the WebSocket URL published for clients; empty without
// --gate-ws-listen.
func (s *Server) WSURL() string {
	if s.wsLn == nil {
		return ""
	}
	return s.cfg.wsURL(s.wsLn.Addr(), s.ln.Addr())
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

// mono is a monotonic clock in nanoseconds since the gate was built.
func (s *Server) mono() int64 { return int64(time.Since(s.epoch)) }
