package uc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/proto/rescode"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
	"google.golang.org/protobuf/proto"
)

// Deps are the connections uc works with; cmd/hive makes them.
type Deps struct {
	// NC is the NATS connection; used to make JS when JS is nil.
	NC *nats.Conn
	// JS holds the accounts, counters and token-versions KV buckets and the
	// EVENTS stream, which must exist (bus.EnsureStore) before Start.
	JS jetstream.JetStream
	// Registry lists live gates and receives uc's public key.
	Registry registry.Registry
	// Cache holds verification codes and rate-limit counters (redis in a
	// cluster so every uc replica shares them; memory in dev).
	Cache cache.Cache
	// Signer signs tokens with a fixed key (never rotated; its published
	// expiry moves forward while uc runs); nil: the key in Config.KeyFile,
	// rotated every Config.KeyRotate. If given, make it with
	// Config.TokenIssuer and Config.TokenTTL (as Config.NewSigner does): uc
	// verifies bind/account bearer tokens against Config.TokenIssuer.
	Signer *token.Signer
	// SMS delivers verification codes; nil: a WebhookSender when
	// Config.SMSWebhook is set, else a LogSender if Config.SMSLogCodes
	// allows it, else New fails.
	SMS SMSSender
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// Metrics receives uc's collectors; nil: not exported.
	Metrics prometheus.Registerer
	// Play holds a web page served at PlayPath (hive dev's demo game page);
	// nil: none.
	Play fs.FS

	// afterWrite is outbox.afterWrite: a fault point for crash tests.
	afterWrite func(id int64) bool
}

// Server is the account server.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	m        *metrics
	proxies  []netip.Prefix
	signer   *signingKeys
	verifier *token.Verifier
	hash     *hasher
	limits   *limiter
	codes    *codes
	sms      SMSSender
	smsSlots chan struct{} // bounds SMS sends in flight
	store    *store
	versions jetstream.KeyValue // bus.TokenVersionsBucket
	outbox   *outbox
	app      *fiber.App
	picker   registry.Picker // the gate each login is handed

	bg     context.Context // lives until Shutdown's end: background sends
	stopBg context.CancelFunc
	// stopSweep ends the outbox sweeper, which closes swept when it is done.
	stopSweep context.CancelFunc
	swept     chan struct{}
	wg        sync.WaitGroup
	ln        *connTracker
	served    chan error

	stopKeys context.CancelFunc // stops the signing key rotation
	keysDone chan struct{}
}

// New checks cfg and deps and builds the server; Start makes it serve.
func New(cfg Config, deps Deps) (*Server, error) {
	proxies, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if deps.SMS == nil && cfg.SMSWebhook == "" && !cfg.SMSLogCodes {
		// Logging codes in production would put every code (and who asked
		// for it) in the logs: only when explicitly allowed.
		return nil, errors.New("uc: no --sms-webhook to send verification codes to; set one, or --sms-log-codes to log codes instead (staging)")
	}
	if deps.JS == nil {
		if deps.NC == nil {
			return nil, errors.New("uc: Deps needs JS or NC")
		}
		if deps.JS, err = jetstream.New(deps.NC); err != nil {
			return nil, fmt.Errorf("uc: jetstream: %w", err)
		}
	}
	if deps.Registry == nil || deps.Cache == nil {
		return nil, errors.New("uc: Deps needs Registry and Cache")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	keys, err := newSigningKeys(cfg, deps.Signer, deps.Registry, deps.Logger)
	if err != nil {
		return nil, err
	}
	if deps.SMS == nil {
		switch {
		case cfg.SMSWebhook != "":
			deps.SMS = &WebhookSender{URL: cfg.SMSWebhook, Timeout: cfg.SMSTimeout, Retries: cfg.SMSRetries, Logger: deps.Logger}
		default: // SMSLogCodes, checked above
			deps.SMS = LogSender{Logger: deps.Logger}
		}
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, fmt.Errorf("uc: metrics: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		deps:     deps,
		log:      deps.Logger,
		m:        m,
		proxies:  proxies,
		signer:   keys,
		verifier: keys.verifier,
		hash:     newHasher(cfg),
		sms:      deps.SMS,
		smsSlots: make(chan struct{}, 256),
		served:   make(chan error, 1),
	}
	s.bg, s.stopBg = context.WithCancel(context.Background())
	s.limits = &limiter{c: deps.Cache, cfg: cfg, log: s.log, now: time.Now}
	s.codes = &codes{c: deps.Cache, ttl: cfg.CodeTTL, tries: cfg.CodeTries, minInterval: cfg.SMSMinInterval, daily: cfg.SMSDailyLimit}
	s.app = s.newApp()
	return s, nil
}

// Start opens the buckets, publishes the token public key, listens on
// Config.Listen and returns once the listener is open.
func (s *Server) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	kv, err := s.deps.JS.KeyValue(ctx, bus.AccountsBucket)
	if err != nil {
		return fmt.Errorf("uc: kv bucket %s (run bus.EnsureStore first): %w", bus.AccountsBucket, err)
	}
	counters, err := s.deps.JS.KeyValue(ctx, bus.CountersBucket)
	if err != nil {
		return fmt.Errorf("uc: kv bucket %s (run bus.EnsureStore first): %w", bus.CountersBucket, err)
	}
	if s.versions, err = s.deps.JS.KeyValue(ctx, bus.TokenVersionsBucket); err != nil {
		return fmt.Errorf("uc: kv bucket %s (run bus.EnsureStore first): %w", bus.TokenVersionsBucket, err)
	}
	s.store = &store{kv: kv, counters: counters, grace: s.cfg.IndexGrace, log: s.log, repaired: s.m.repairs.Inc, now: time.Now}
	// Account events go through the event store like every other event;
	// uc keeps no snapshots or cache of them (accounts are no aggregate).
	es, err := events.NewStore(ctx, s.deps.JS, nil, events.Options{Logger: s.log})
	if err != nil {
		return fmt.Errorf("uc: event store: %w", err)
	}
	s.outbox = &outbox{store: s.store, events: es, log: s.log, failed: s.m.eventFails.Inc, afterWrite: s.deps.afterWrite}
	sweepCtx, stopSweep := context.WithCancel(s.bg)
	s.swept = make(chan struct{})
	s.stopSweep = stopSweep
	go func() {
		defer close(s.swept)
		s.outbox.sweep(sweepCtx, s.cfg.OutboxSweep)
	}()
	if err := s.signer.start(ctx); err != nil {
		return err
	}
	kctx, stopKeys := context.WithCancel(context.Background())
	s.stopKeys, s.keysDone = stopKeys, make(chan struct{})
	go func() { defer close(s.keysDone); s.signer.run(kctx) }()
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("uc: listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = newConnTracker(ln)
	go func() { s.served <- s.app.Listener(s.ln) }()
	s.log.Info("uc: serving", "addr", ln.Addr().String(), "kid", s.signer.KeyID(),
		"argon2", fmt.Sprintf("m=%dKiB,t=%d,p=%d", s.cfg.Argon2MemoryKiB, s.cfg.Argon2Time, s.cfg.Argon2Threads))
	return nil
}

// Addr is the address uc listens on (useful with port 0); empty before Start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting, lets requests in flight finish and waits for
// verification codes still being sent, all within ctx. Connections without
// a request in flight are closed at once; whatever is still open when ctx
// ends is closed then.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stopKeys != nil {
		s.stopKeys()
		<-s.keysDone
	}
	var err error
	if s.ln != nil {
		// fasthttp closes idle connections itself, but not ones still
		// waiting for their first request (HTTP clients open spares): it
		// would wait ReadTimeout for those, so close them here.
		done := make(chan error, 1)
		go func() { done <- s.app.ShutdownWithContext(ctx) }()
		tick := time.NewTicker(50 * time.Millisecond)
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case <-tick.C:
				s.ln.closeUnused(100 * time.Millisecond)
			}
		}
		tick.Stop()
		s.ln.closeAll()
	}
	if s.stopSweep != nil {
		s.stopSweep()
		<-s.swept
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.stopBg() // abandon sends still retrying
		<-done
		if err == nil {
			err = ctx.Err()
		}
	}
	s.stopBg()
	return err
}

// newApp builds the fiber app: routes, limits, the error answers.
func (s *Server) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		BodyLimit:             s.cfg.BodyLimit,
		ReadTimeout:           s.cfg.ReadTimeout,
		WriteTimeout:          s.cfg.WriteTimeout,
		IdleTimeout:           s.cfg.IdleTimeout,
		ReadBufferSize:        8 << 10, // request line + headers
		// Any error reaching here (unknown route, body too large, bad
		// request line) is answered with a code, as PROTOCOL §3 asks.
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			status := http.StatusInternalServerError
			code := def.ResCode_RC_SERVER_INTERNAL_ERROR
			message := ""
			var fe *fiber.Error
			if errors.As(err, &fe) {
				switch {
				case fe.Code == http.StatusNotFound:
					status, code = fe.Code, def.ResCode_RC_BAD_REQUEST
					message = "no such endpoint: " + c.Method() + " " + c.Path() + " (PROTOCOL §3 lists them)"
				case fe.Code == http.StatusMethodNotAllowed:
					status, code = fe.Code, def.ResCode_RC_BAD_REQUEST
					message = "method " + c.Method() + " not allowed: every endpoint takes POST"
				case fe.Code == http.StatusRequestEntityTooLarge:
					status, code = http.StatusBadRequest, def.ResCode_RC_BAD_REQUEST
					message = fmt.Sprintf("body larger than %d bytes", s.cfg.BodyLimit)
				case fe.Code >= 400 && fe.Code < 500: // 431 headers, bad request line, ...
					status, code = http.StatusBadRequest, def.ResCode_RC_BAD_REQUEST
					message = "bad request: " + fe.Message
				}
			}
			if status == http.StatusInternalServerError {
				s.log.Error("uc: request failed", "path", c.Path(), "err", err)
			}
			return reply(c, status, answerOf[msg.Auth_Res](code), message)
		},
	})
	s.withCORS(app)
	s.withPlay(app)
	route[msg.Auth_Res](s, app, client.PathAuth, "auth", s.auth)
	route[msg.Auth_Res](s, app, client.PathRegister, "register", s.register)
	route[msg.BindAccount_Res](s, app, client.PathBindAccount, "bind_account", s.bindAccount)
	route[msg.VerificationCode_Res](s, app, client.PathVerification, "verification", s.verification)
	route[msg.BindPhone_Res](s, app, client.PathBindPhone, "bind_phone", s.bindPhone)
	route[msg.ChangePassword_Res](s, app, client.PathChangePassword, "password_change", s.changePassword)
	route[msg.ResetPassword_Res](s, app, client.PathResetPassword, "password_reset", s.resetPassword)
	return app
}

// route declares one endpoint answered with Res: the handler's answers
// (ok, bad, ...) take that type from req.answer.
func route[Res any, P interface {
	*Res
	proto.Message
}](s *Server, app *fiber.App, path, name string, h func(context.Context, *req) result) {
	checkAnswer[Res, P]()
	s.serve(app, path, name, answerOf[Res, P], h)
}

// serve wires one endpoint: per-IP rate limit, parsing, a bounded context,
// panic safety, the answer and its metrics.
func (s *Server) serve(app *fiber.App, path, name string, kind resOf, h func(context.Context, *req) result) {
	latency := s.m.latency.WithLabelValues(name)
	app.Post(path, func(c *fiber.Ctx) (err error) {
		start := time.Now()
		var res result
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("uc: panic in handler", "route", name, "panic", p)
				res = result{status: http.StatusInternalServerError, res: kind(def.ResCode_RC_SERVER_INTERNAL_ERROR)}
			}
			if res.retry > 0 {
				c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((res.retry+time.Second-1)/time.Second)))
			}
			err = reply(c, res.status, res.res, res.msg)
			code, _ := rescode.Get(res.res)
			s.m.requests.WithLabelValues(name, strconv.Itoa(int(code))).Inc()
			latency.Observe(time.Since(start).Seconds())
		}()
		ctx, cancel := context.WithTimeout(s.bg, s.cfg.RequestTimeout)
		defer cancel()
		r := &req{ip: s.clientIP(c), answer: kind}
		if allowed, retry := s.limits.allowRequest(ctx, r.ip); !allowed {
			s.m.rateLimited.Inc()
			s.m.refused.WithLabelValues(limitRequest).Inc()
			res = limited(kind, retry).withMessage("too many requests from your address; wait the seconds in Retry-After")
			return nil
		}
		p, perr := parseParams(c, s.cfg.MaxField)
		if perr != nil {
			res = bad(kind, perr.Error())
			return nil
		}
		r.p = p
		r.bearer = bearer(c)
		res = h(ctx, r)
		return nil
	})
}

// clientIP of the request as rate limits see it: its source (sourceOf).
// Every X-Forwarded-For line is read, joined in order: a proxy that
// appends its own line (HAProxy does) leaves the client's line first, and
// reading only that one would let the client pick its address.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	var xff []byte
	c.Request().Header.VisitAll(func(k, v []byte) {
		if !bytes.EqualFold(k, []byte(fiber.HeaderXForwardedFor)) {
			return
		}
		if len(xff) > 0 {
			xff = append(xff, ',')
		}
		xff = append(xff, v...)
	})
	return sourceOf(clientIP(peer, xff, s.proxies), s.cfg.IPv6Prefix)
}
