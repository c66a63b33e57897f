package gate

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/token"
)

// Config holds every knob of a gate. DefaultConfig gives the production
// defaults; Flags registers them as --gate-* flags.
type Config struct {
	// Listen is the TCP address clients connect to (":9000"; ":0" picks a port).
	Listen string
	// Advertise is the ip:port uc hands to clients for this gate. Empty: the
	// listen address, with 127.0.0.1 for an unspecified host.
	Advertise string
	// WSListen is the address where the gate also serves WebSocket clients
	// (same sessions, one frame per binary message; docs/PROTOCOL.md).
	// Empty: no WebSocket.
	WSListen string
	// WSAdvertise is the URL uc hands to WebSocket clients for this gate
	// (wss://play.example.com/ws behind a TLS proxy). Empty:
	// ws://<advertise host>:<WebSocket port>/ws when WSListen is set.
	WSAdvertise string
	// WSOrigins are the Origin header values a browser may open a WebSocket
	// from ("*": any). Empty: only pages of the gate's own host. A request
	// without an Origin (not a browser) is always allowed.
	WSOrigins []string
	// ID names the gate on the bus (gate.<ID>.<session>) and in the registry.
	// Letters, digits, '-' and '_' only: it is a NATS subject token.
	ID string

	// LoginTimeout is how long a new connection has to log in.
	LoginTimeout time.Duration
	// IdleTimeout closes a logged-in session that sends nothing for this long
	// (msg.Echo.Req is the heartbeat).
	IdleTimeout time.Duration
	// WriteTimeout closes a session whose socket accepts no bytes for this long.
	WriteTimeout time.Duration
	// MaxConns is the number of sessions this gate serves at most; more are
	// refused with msg.Kick.Res{RC_COMMON_SERVER_NOT_READY}. It is also the
	// capacity published in the registry.
	MaxConns int
	// MaxConnsPerIP is the most connections one client address (an IPv4
	// address, or an IPv6 prefix of IPv6PrefixLen bits) may hold open; more
	// get msg.Kick.Res{RC_RATE_LIMITED} and are closed. 0 = no cap.
	MaxConnsPerIP int
	// LoginRatePerIP is the sustained number of login attempts per second
	// one client address may make (token bucket refill), over all its
	// connections; more get msg.Login.Res{RC_RATE_LIMITED}. 0 = no limit.
	LoginRatePerIP float64
	// LoginBurstPerIP is the size of that bucket.
	LoginBurstPerIP int
	// IPv6PrefixLen is how many leading bits of an IPv6 address count as one
	// client address for the per-IP limits (a /64 is one subscriber).
	IPv6PrefixLen int
	// MaxFrame is the largest frame size field accepted from a client.
	MaxFrame int

	// RequestTimeout is how long after a request's arrival the gate waits
	// for the game's answer before answering RC_TIMEOUT itself; a request
	// that waited behind the in-flight one for more than half of it is
	// answered RC_COMMON_SERVER_NOT_READY without being sent.
	RequestTimeout time.Duration
	// RetryAfter is how long the gate waits for an answer before sending
	// the request again (to whichever worker NATS picks; same Hive-Req, so
	// the game applies a command once); each further re-send waits twice as
	// long. 0 disables re-sends.
	RetryAfter time.Duration
	// Retries bounds the re-sends of one request, both those after
	// RetryAfter and those at once on NATS's no-responders status; 0
	// disables them. All happen within RequestTimeout.
	Retries int
	// MaxPending is how many requests may wait behind the one in flight;
	// more are answered RC_RATE_LIMITED.
	MaxPending int
	// Rate is the sustained number of requests per second a session may send
	// (token bucket refill); 0 disables the limit.
	Rate float64
	// Burst is the token bucket's size.
	Burst int
	// QueueBytes bounds the bytes waiting to be written to one client; a
	// client that lets more pile up is disconnected as a slow reader.
	QueueBytes int

	// DrainTimeout bounds Shutdown: sessions still open after it are closed.
	DrainTimeout time.Duration
	// ReportInterval is how often the connection count is republished in
	// the registry (only when it changed).
	ReportInterval time.Duration

	// TokenIssuer is the iss claim tokens must carry.
	TokenIssuer string
	// TokenPublicKeys are PEM files of trusted token public keys (an Expires
	// header, as uc publishes, is honoured). Keys of other kids come from the
	// registry's watched copy of the published keys (Registry.Key).
	TokenPublicKeys []string

	// Version is published in the registry entry.
	Version string
}

// DefaultConfig returns the defaults of DESIGN §8, with a
// fresh ID (see DefaultID).
func DefaultConfig() Config {
	return Config{
		Listen:          ":9000",
		ID:              DefaultID(),
		LoginTimeout:    10 * time.Second,
		IdleTimeout:     60 * time.Second,
		WriteTimeout:    10 * time.Second,
		MaxConns:        20000,
		MaxFrame:        frame.MaxSize,
		MaxConnsPerIP:   100,
		LoginRatePerIP:  10,
		LoginBurstPerIP: 50,
		IPv6PrefixLen:   64,
		RequestTimeout:  5 * time.Second,
		MaxPending:      8,
		RetryAfter:      400 * time.Millisecond,
		Retries:         3,
		Rate:            100,
		Burst:           200,
		QueueBytes:      256 << 10,
		DrainTimeout:    15 * time.Second,
		ReportInterval:  3 * time.Second,
		TokenIssuer:     token.DefaultIssuer,
		Version:         "dev",
	}
}

// idPattern is what a gate id may contain: one NATS subject token, no dots.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// DefaultID returns "<hostname>-<4 random hex digits>", with characters not
// allowed in an id replaced by '-'. The random part keeps two gates on one
// host (plain processes on loopback) apart, and a restarted gate from
// receiving its predecessor's late replies.
func DefaultID() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return IDFrom(host, hex.EncodeToString(b[:]))
}

// IDFrom is "<host>-<suffix>" made a valid gate id: characters of host
// outside [A-Za-z0-9_-] become '-', the host is cut to 40 characters, and
// an empty host is "gate".
func IDFrom(host, suffix string) string {
	host = strings.Map(func(r rune) rune {
		if r < 128 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		host = "gate"
	}
	return host + "-" + suffix
}

// Flags registers the gate's flags on fs with c's values as defaults; parsing
// fs writes into c.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "gate-listen", c.Listen, "gate TCP address for clients")
	fs.StringVar(&c.Advertise, "gate-advertise", c.Advertise, "ip:port uc hands to clients for this gate (default: --gate-listen, 127.0.0.1 for an unspecified host)")
	fs.StringVar(&c.WSListen, "gate-ws-listen", c.WSListen, "address where the gate also serves WebSocket clients at / and /ws; empty = no WebSocket")
	fs.StringVar(&c.WSAdvertise, "gate-advertise-ws", c.WSAdvertise, "WebSocket URL uc hands to clients for this gate, e.g. wss://play.example.com/ws behind a TLS proxy (default: ws://<advertise host>:<ws port>/ws when --gate-ws-listen is set)")
	fs.Func("gate-ws-origins", "Origin values browsers may open a WebSocket from, comma-separated (scheme://host[:port]; * = any); empty = the gate's own host only; clients sending no Origin are always allowed", func(s string) error {
		c.WSOrigins = nil
		for _, o := range strings.Split(s, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.WSOrigins = append(c.WSOrigins, o)
			}
		}
		return nil
	})
	fs.StringVar(&c.ID, "gate-id", c.ID, "gate id on the bus and in the registry: letters, digits, '-', '_' (default: hostname plus a random suffix)")
	fs.DurationVar(&c.LoginTimeout, "gate-login-timeout", c.LoginTimeout, "time a new connection has to log in")
	fs.DurationVar(&c.IdleTimeout, "gate-idle-timeout", c.IdleTimeout, "close a logged-in session silent for this long (msg.Echo.Req is the heartbeat)")
	fs.DurationVar(&c.WriteTimeout, "gate-write-timeout", c.WriteTimeout, "close a session whose socket accepts nothing for this long")
	fs.IntVar(&c.MaxConns, "gate-max-conns", c.MaxConns, "most sessions this gate serves (also its capacity in the registry)")
	fs.IntVar(&c.MaxConnsPerIP, "gate-max-conns-per-ip", c.MaxConnsPerIP, "most open connections from one client address (IPv4 address or IPv6 prefix); more are kicked with RC_RATE_LIMITED (0 = no cap)")
	fs.Float64Var(&c.LoginRatePerIP, "gate-ip-login-rate", c.LoginRatePerIP, "login attempts per second per client address over all its connections (token bucket refill; more get RC_RATE_LIMITED; 0 = no limit)")
	fs.IntVar(&c.LoginBurstPerIP, "gate-ip-login-burst", c.LoginBurstPerIP, "token bucket size of --gate-ip-login-rate")
	fs.IntVar(&c.IPv6PrefixLen, "gate-ipv6-prefix", c.IPv6PrefixLen, "leading bits of an IPv6 address that count as one client address for the per-address limits (1..128)")
	fs.IntVar(&c.MaxFrame, "gate-max-frame", c.MaxFrame, "largest frame size field accepted from a client (at most 65535)")
	fs.DurationVar(&c.RequestTimeout, "gate-request-timeout", c.RequestTimeout, "answer RC_TIMEOUT when the game has not answered a request within this of its arrival; one that waited behind the in-flight request past half of it is answered RC_COMMON_SERVER_NOT_READY unsent")
	fs.DurationVar(&c.RetryAfter, "gate-retry-after", c.RetryAfter, "send a request again (same request id: applied once) when the game has not answered within this; each further re-send waits twice as long (0 = never)")
	fs.IntVar(&c.Retries, "gate-retries", c.Retries, "most re-sends of one request (after --gate-retry-after, or at once when no worker was subscribed), within --gate-request-timeout (0 = none)")
	fs.IntVar(&c.MaxPending, "gate-max-pending", c.MaxPending, "requests a session may queue behind the one in flight; more get RC_RATE_LIMITED")
	fs.Float64Var(&c.Rate, "gate-rate", c.Rate, "requests per second per session (token bucket refill; 0 = unlimited)")
	fs.IntVar(&c.Burst, "gate-burst", c.Burst, "token bucket size of --gate-rate")
	fs.IntVar(&c.QueueBytes, "gate-queue", c.QueueBytes, "bytes that may wait to be written to one client; past it the client is disconnected as a slow reader")
	fs.DurationVar(&c.DrainTimeout, "gate-drain-timeout", c.DrainTimeout, "on SIGTERM, close sessions still open after this")
	fs.DurationVar(&c.ReportInterval, "gate-report-interval", c.ReportInterval, "how often the connection count is republished in the registry")
	fs.StringVar(&c.TokenIssuer, "gate-token-issuer", c.TokenIssuer, "iss claim login tokens must carry")
	fs.Func("gate-token-public-key", "PEM file of a trusted token public key (repeatable or comma-separated; other kids come from the keys published in the registry)", func(s string) error {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.TokenPublicKeys = append(c.TokenPublicKeys, p)
			}
		}
		return nil
	})
}

// validate checks c and fills derived defaults.
func (c *Config) validate() error {
	var errs []error
	if !idPattern.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("gate id %q: want 1-64 of [A-Za-z0-9_-]", c.ID))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--gate-listen %q: %v", c.Listen, err))
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("--gate-advertise %q: %v", c.Advertise, err))
		}
	}
	if c.WSListen != "" {
		if _, _, err := net.SplitHostPort(c.WSListen); err != nil {
			errs = append(errs, fmt.Errorf("--gate-ws-listen %q: %v", c.WSListen, err))
		}
	}
	if c.WSAdvertise != "" {
		if u, err := url.Parse(c.WSAdvertise); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--gate-advertise-ws %q: want a ws:// or wss:// URL with a host", c.WSAdvertise))
		}
	}
	for _, o := range c.WSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "" || u.Path != "") {
			errs = append(errs, fmt.Errorf("--gate-ws-origins %q: want scheme://host[:port] or *", o))
		}
	}
	for name, d := range map[string]time.Duration{
		"--gate-login-timeout": c.LoginTimeout, "--gate-idle-timeout": c.IdleTimeout,
		"--gate-write-timeout": c.WriteTimeout, "--gate-request-timeout": c.RequestTimeout,
		"--gate-drain-timeout": c.DrainTimeout, "--gate-report-interval": c.ReportInterval,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %v", name, d))
		}
	}
	if c.MaxConns <= 0 {
		errs = append(errs, fmt.Errorf("--gate-max-conns must be positive, got %d", c.MaxConns))
	}
	if c.MaxConnsPerIP < 0 {
		errs = append(errs, fmt.Errorf("--gate-max-conns-per-ip must not be negative, got %d", c.MaxConnsPerIP))
	}
	if c.LoginRatePerIP < 0 {
		errs = append(errs, fmt.Errorf("--gate-ip-login-rate must not be negative, got %v", c.LoginRatePerIP))
	}
	if c.LoginRatePerIP > 0 && c.LoginBurstPerIP < 1 {
		errs = append(errs, fmt.Errorf("--gate-ip-login-burst must be at least 1 with a rate, got %d", c.LoginBurstPerIP))
	}
	if c.IPv6PrefixLen < 1 || c.IPv6PrefixLen > 128 {
		errs = append(errs, fmt.Errorf("--gate-ipv6-prefix must be 1..128, got %d", c.IPv6PrefixLen))
	}
	if c.MaxFrame < 16 || c.MaxFrame > frame.MaxSize {
		errs = append(errs, fmt.Errorf("--gate-max-frame must be 16..%d, got %d", frame.MaxSize, c.MaxFrame))
	}
	if c.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("--gate-retry-after must not be negative, got %v", c.RetryAfter))
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("--gate-retries must not be negative, got %d", c.Retries))
	}
	if c.MaxPending < 0 {
		errs = append(errs, fmt.Errorf("--gate-max-pending must not be negative, got %d", c.MaxPending))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("--gate-rate must not be negative, got %v", c.Rate))
	}
	if c.Rate > 0 && c.Burst < 1 {
		errs = append(errs, fmt.Errorf("--gate-burst must be at least 1 with a rate, got %d", c.Burst))
	}
	if c.QueueBytes < 2+frame.MaxSize {
		errs = append(errs, fmt.Errorf("--gate-queue must hold one largest frame (%d bytes), got %d", 2+frame.MaxSize, c.QueueBytes))
	}
	return errors.Join(errs...)
}

// advertiseAddr is the address published for clients, given the actual
// listen address.
func (c *Config) advertiseAddr(actual net.Addr) string {
	if c.Advertise != "" {
		return c.Advertise
	}
	host, port, err := net.SplitHostPort(actual.String())
	if err != nil {
		return actual.String()
	}
	if ip := net.ParseIP(host); host == "" || ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// wsURL is the WebSocket URL published for clients, given the actual
// WebSocket and TCP listen addresses; empty without WebSocket.
func (c *Config) wsURL(ws, tcp net.Addr) string {
	if c.WSAdvertise != "" || ws == nil {
		return c.WSAdvertise
	}
	host, _, _ := net.SplitHostPort(c.advertiseAddr(tcp))
	_, port, _ := net.SplitHostPort(ws.String())
	return "ws://" + net.JoinHostPort(host, port) + "/ws"
}
