package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedConfig configures the in-process NATS server of `hive dev` and the tests.
type EmbeddedConfig struct {
	// StoreDir is the JetStream store directory; required.
	StoreDir string
	// Listen is an optional host:port for other processes (tap, replay,
	// bench); empty = in-process connections only. Port 0 picks a free port.
	Listen string
	// SyncAlways makes JetStream fsync every write (slow, safest); the default
	// is the server's sync_interval (2 min).
	SyncAlways bool
	// Logger receives the server's own log lines at Info and above; nil = quiet.
	Logger *slog.Logger
	// Users are the identities the server accepts (Secrets.Users), each
	// with its permissions; anonymous clients are refused. Empty = no
	// authentication (an open server, for benchmarks of NATS itself).
	Users []*server.NkeyUser
}

// Embedded is a running in-process nats-server with JetStream.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a nats-server with JetStream in this process and waits
// until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.StoreDir == "" {
		return nil, fmt.Errorf("bus: embedded nats needs a store dir")
	}
	opts := &server.Options{
		ServerName: "hive-embedded",
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		SyncAlways: cfg.SyncAlways,
		MaxPayload: 8 << 20,
		Nkeys:      cfg.Users,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("bus: nats listen address %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("bus: nats listen address %q: bad port", cfg.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		if host == "" {
			host = "0.0.0.0"
		}
		opts.Host, opts.Port = host, p
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded nats: %w", err)
	}
	// The server reports a failed listen (port taken) only through its
	// logger's Fatalf, so always install one and stop waiting when it fires.
	sl := &serverLog{l: cfg.Logger, fatal: make(chan string, 1)}
	srv.SetLoggerV2(sl, false, false, false)
	go srv.Start()
	for deadline := time.Now().Add(30 * time.Second); !srv.ReadyForConnections(50 * time.Millisecond); {
		select {
		case msg := <-sl.fatal:
			srv.Shutdown()
			return nil, fmt.Errorf("bus: embedded nats: %s", msg)
		default:
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			return nil, fmt.Errorf("bus: embedded nats did not start in 30s (listen %q, store %s)", cfg.Listen, cfg.StoreDir)
		}
	}
	return &Embedded{srv: srv}, nil
}

// Connect opens an in-process client connection (no TCP) with the options of bus.Connect.
func (e *Embedded) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	return Connect(e.srv.ClientURL(), name, append([]nats.Option{nats.InProcessServer(e.srv)}, opts...)...)
}

// ClientURL is the nats:// URL other processes use; empty when not listening.
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// Shutdown stops the server and waits until it has flushed and closed its store.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// serverLog adapts slog (nil = quiet) to nats-server's logger interface and
// passes the first fatal error to StartEmbedded.
type serverLog struct {
	l     *slog.Logger
	fatal chan string
}

func (s *serverLog) log(level slog.Level, f string, a []any) {
	if s.l != nil {
		s.l.Log(context.Background(), level, "nats: "+fmt.Sprintf(f, a...))
	}
}

func (s *serverLog) Noticef(f string, a ...any) { s.log(slog.LevelInfo, f, a) }
func (s *serverLog) Warnf(f string, a ...any)   { s.log(slog.LevelWarn, f, a) }
func (s *serverLog) Errorf(f string, a ...any)  { s.log(slog.LevelError, f, a) }
func (s *serverLog) Debugf(string, ...any)      {}
func (s *serverLog) Tracef(string, ...any)      {}
func (s *serverLog) Fatalf(f string, a ...any) {
	s.log(slog.LevelError, "fatal: "+f, a)
	select {
	case s.fatal <- fmt.Sprintf(f, a...):
	default:
	}
}
