package uc

import (
	"flag"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/qeetap/hive/token"
)

// Config is every knob of the account server. DefaultConfig gives the
// defaults; Flags registers them (names unique across uc, gate and game).
type Config struct {
	// Listen is the HTTP address (--uc-listen).
	Listen string
	// TokenTTL is how long an issued JWT is valid (--token-ttl).
	TokenTTL time.Duration
	// TokenIssuer is the iss claim of issued JWTs (--uc-token-issuer); gates
	// must expect the same.
	TokenIssuer string
	// KeyFile is the Ed25519 signing key (PKCS#8 PEM), created on first start
	// when absent (--uc-key-file). Used by NewSigner when Deps.Signer is nil;
	// cmd/hive defaults it to <data-dir>/uc.key.
	KeyFile string
	// KeyRotate is the age at which the signing key is replaced by a new one
	// (--uc-key-rotate). Retired keys stay published for one TokenTTL more.
	KeyRotate time.Duration

	// Argon2Time, Argon2MemoryKiB and Argon2Threads are the argon2id
	// parameters for new password hashes (--uc-argon2-time, -memory, -threads).
	// Stored hashes keep their own parameters and are upgraded at the next
	// successful login when these change.
	Argon2Time      int
	Argon2MemoryKiB int
	Argon2Threads   int
	// HashWorkers bounds concurrent argon2 computations, and so their memory
	// (HashWorkers * Argon2MemoryKiB) (--uc-hash-workers).
	HashWorkers int
	// HashWait is how long a request waits for a hash worker before it is
	// answered RC_COMMON_SERVER_NOT_READY (--uc-hash-wait).
	HashWait time.Duration

	// BodyLimit caps a request body in bytes (--uc-body-limit).
	BodyLimit int
	// CORSOrigins are the browser origins (scheme://host[:port], comma
	// separated, or "*") whose pages may call uc (--uc-cors-origins); empty
	// answers no cross-origin request. Tokens travel in the body and the
	// Authorization header, never in cookies, so credentials are not allowed.
	CORSOrigins string
	// MaxField caps any one parameter in bytes; longer is RC_BAD_REQUEST (--uc-max-field).
	MaxField int
	// ReadTimeout, WriteTimeout and IdleTimeout bound HTTP connections
	// (--uc-read-timeout, --uc-write-timeout, --uc-idle-timeout).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// RequestTimeout bounds the storage work of one request (--uc-request-timeout).
	RequestTimeout time.Duration
	// TrustedProxies lists the IPs or CIDRs (comma-separated) of reverse
	// proxies whose X-Forwarded-For is believed (--uc-trusted-proxies).
	// Empty: the client IP is the TCP peer, so it cannot be spoofed.
	TrustedProxies string

	// IPRate is the most requests one client IP may make per IPRateWindow;
	// more get HTTP 429 RC_RATE_LIMITED; 0 disables (--uc-ip-rate, --uc-ip-rate-window).
	IPRate       int
	IPRateWindow time.Duration
	// AccountFailLimit failed password checks on one account within
	// FailWindow lock it for LockoutBase, doubling with every further failure
	// up to LockoutMax: RC_ACCOUNT_LOCKED (--uc-account-fail-limit).
	AccountFailLimit int
	// IPFailLimit failed password checks from one IP within FailWindow lock
	// that IP out of password checks the same way: HTTP 429 RC_RATE_LIMITED
	// (--uc-ip-fail-limit).
	IPFailLimit int
	// FailWindow is how long failures are remembered (--uc-fail-window).
	FailWindow time.Duration
	// LockoutBase and LockoutMax shape the growing lockout (--uc-lockout-base, --uc-lockout-max).
	LockoutBase time.Duration
	LockoutMax  time.Duration

	// CodeTTL is the life of a verification code (--uc-code-ttl).
	CodeTTL time.Duration
	// CodeTries is how many checks one code allows (--uc-code-tries).
	CodeTries int
	// SMSWebhook is the URL each code is POSTed to as JSON
	// {"phone","code","text"} (--sms-webhook). Empty is a start-up error
	// unless SMSLogCodes (or Deps.SMS is given).
	SMSWebhook string
	// SMSMinInterval is the least time between two codes to one phone (--sms-min-interval).
	SMSMinInterval time.Duration
	// SMSDailyLimit is the most codes one phone gets per 24 h (--sms-daily-limit).
	SMSDailyLimit int
	// SMSTimeout bounds one webhook call; SMSRetries is how many more times a
	// failed call is tried, with doubling backoff from 500 ms (--uc-sms-timeout, --uc-sms-retries).
	SMSTimeout time.Duration
	SMSRetries int

	// IndexGrace is how old an index key must be before uc treats one whose
	// record does not point back as the leftover of a crash and removes it
	// (--uc-index-grace).
	IndexGrace time.Duration
	// OutboxSweep is how long an account event may wait in its record's
	// outbox (its append failed, or uc died before it) before the sweeper
	// stores it (--uc-outbox-sweep). Records found with staged events at
	// start are swept at once.
	OutboxSweep time.Duration

	// IPv6Prefix is the prefix length an IPv6 client is limited by: one
	// subscriber usually holds a whole /64, so limiting per address would
	// give it 2^64 fresh budgets (--uc-ipv6-prefix).
	IPv6Prefix int
	// CreateLimit is the most accounts (named or guest) one source may
	// create per CreateWindow; more get HTTP 429 RC_RATE_LIMITED; 0
	// disables (--uc-create-limit, --uc-create-window).
	CreateLimit  int
	CreateWindow time.Duration
	// SMSSourceLimit is the most verification codes one source may have sent
	// (to any phones) per SMSSourceWindow; more get HTTP 429 RC_RATE_LIMITED;
	// 0 disables (--sms-source-limit, --sms-source-window).
	SMSSourceLimit  int
	SMSSourceWindow time.Duration
	// SMSGlobalPerMinute caps the codes all clients together may have sent
	// per minute, across every uc sharing the cache; more get HTTP 429
	// RC_RATE_LIMITED; 0 disables (--sms-global-per-minute).
	SMSGlobalPerMinute int
	// SMSLogCodes lets uc run without SMSWebhook by logging each code with
	// the phone masked: for staging. Without it (and outside `hive dev`), a
	// missing webhook is a start-up error (--sms-log-codes).
	SMSLogCodes bool
	// DeviceLoginAfterBind keeps a guest's device id working after the guest
	// bound a username; by default binding ends device login
	// (--uc-device-login-after-bind).
	DeviceLoginAfterBind bool
}

// DefaultConfig returns the defaults used by `hive uc` and `hive dev`.
func DefaultConfig() Config {
	return Config{
		Listen:           ":8082",
		TokenTTL:         time.Hour,
		KeyRotate:        24 * time.Hour,
		TokenIssuer:      token.DefaultIssuer,
		Argon2Time:       2,
		Argon2MemoryKiB:  19 * 1024,
		Argon2Threads:    1,
		HashWorkers:      runtime.NumCPU(),
		HashWait:         5 * time.Second,
		BodyLimit:        8 << 10,
		MaxField:         256,
		ReadTimeout:      10 * time.Second,
		WriteTimeout:     10 * time.Second,
		IdleTimeout:      60 * time.Second,
		RequestTimeout:   10 * time.Second,
		IPRate:           100,
		IPRateWindow:     time.Second,
		AccountFailLimit: 5,
		IPFailLimit:      50,
		FailWindow:       time.Hour,
		LockoutBase:      time.Minute,
		LockoutMax:       time.Hour,
		CodeTTL:          5 * time.Minute,
		CodeTries:        5,
		SMSMinInterval:   60 * time.Second,
		SMSDailyLimit:    10,
		SMSTimeout:       5 * time.Second,
		SMSRetries:       3,
		IndexGrace:       10 * time.Second,
		OutboxSweep:      30 * time.Second,

		IPv6Prefix:         64,
		CreateLimit:        20,
		CreateWindow:       time.Hour,
		SMSSourceLimit:     10,
		SMSSourceWindow:    time.Hour,
		SMSGlobalPerMinute: 100,
	}
}

// Flags registers every field on fs with the current values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "uc-listen", c.Listen, "uc HTTP address")
	fs.DurationVar(&c.TokenTTL, "token-ttl", c.TokenTTL, "lifetime of the JWTs uc issues")
	fs.StringVar(&c.TokenIssuer, "uc-token-issuer", c.TokenIssuer, "iss claim of the JWTs uc issues (gates must expect the same)")
	fs.StringVar(&c.KeyFile, "uc-key-file", c.KeyFile, "Ed25519 signing key (PKCS#8 PEM); created when absent (default <data-dir>/uc.key)")
	fs.DurationVar(&c.KeyRotate, "uc-key-rotate", c.KeyRotate, "replace the signing key once it is this old; a retired key stays published until its tokens have expired (--token-ttl)")
	fs.IntVar(&c.Argon2Time, "uc-argon2-time", c.Argon2Time, "argon2id passes (t) for new password hashes")
	fs.IntVar(&c.Argon2MemoryKiB, "uc-argon2-memory", c.Argon2MemoryKiB, "argon2id memory in KiB (m) for new password hashes")
	fs.IntVar(&c.Argon2Threads, "uc-argon2-threads", c.Argon2Threads, "argon2id lanes (p) for new password hashes")
	fs.IntVar(&c.HashWorkers, "uc-hash-workers", c.HashWorkers, "most password hashes computed at once (bounds memory)")
	fs.DurationVar(&c.HashWait, "uc-hash-wait", c.HashWait, "longest wait for a hash worker before answering RC_COMMON_SERVER_NOT_READY")
	fs.IntVar(&c.BodyLimit, "uc-body-limit", c.BodyLimit, "largest request body in bytes")
	fs.StringVar(&c.CORSOrigins, "uc-cors-origins", c.CORSOrigins, "browser origins allowed to call uc, comma-separated scheme://host[:port], or * for any; empty = none (no CORS headers)")
	fs.IntVar(&c.MaxField, "uc-max-field", c.MaxField, "largest single parameter in bytes")
	fs.DurationVar(&c.ReadTimeout, "uc-read-timeout", c.ReadTimeout, "HTTP read timeout")
	fs.DurationVar(&c.WriteTimeout, "uc-write-timeout", c.WriteTimeout, "HTTP write timeout")
	fs.DurationVar(&c.IdleTimeout, "uc-idle-timeout", c.IdleTimeout, "HTTP keep-alive idle timeout")
	fs.DurationVar(&c.RequestTimeout, "uc-request-timeout", c.RequestTimeout, "longest storage work for one request")
	fs.StringVar(&c.TrustedProxies, "uc-trusted-proxies", c.TrustedProxies, "comma-separated IPs/CIDRs of proxies whose X-Forwarded-For is trusted (empty: none)")
	fs.IntVar(&c.IPRate, "uc-ip-rate", c.IPRate, "requests allowed per client IP per --uc-ip-rate-window (0 = no limit)")
	fs.DurationVar(&c.IPRateWindow, "uc-ip-rate-window", c.IPRateWindow, "window of --uc-ip-rate")
	fs.IntVar(&c.AccountFailLimit, "uc-account-fail-limit", c.AccountFailLimit, "failed password checks per account before it is locked")
	fs.IntVar(&c.IPFailLimit, "uc-ip-fail-limit", c.IPFailLimit, "failed password checks per client IP before it is locked out")
	fs.DurationVar(&c.FailWindow, "uc-fail-window", c.FailWindow, "how long failed password checks are remembered")
	fs.DurationVar(&c.LockoutBase, "uc-lockout-base", c.LockoutBase, "first lockout; doubles with each further failure")
	fs.DurationVar(&c.LockoutMax, "uc-lockout-max", c.LockoutMax, "longest lockout")
	fs.DurationVar(&c.CodeTTL, "uc-code-ttl", c.CodeTTL, "life of a verification code")
	fs.IntVar(&c.CodeTries, "uc-code-tries", c.CodeTries, "checks allowed per verification code")
	fs.StringVar(&c.SMSWebhook, "sms-webhook", c.SMSWebhook, `URL that verification codes are POSTed to as JSON {"phone","code","text"}; required unless --sms-log-codes`)
	fs.DurationVar(&c.SMSMinInterval, "sms-min-interval", c.SMSMinInterval, "least time between two codes sent to one phone")
	fs.IntVar(&c.SMSDailyLimit, "sms-daily-limit", c.SMSDailyLimit, "most codes sent to one phone per 24h")
	fs.DurationVar(&c.SMSTimeout, "uc-sms-timeout", c.SMSTimeout, "timeout of one SMS webhook call")
	fs.IntVar(&c.SMSRetries, "uc-sms-retries", c.SMSRetries, "retries of a failed SMS webhook call (backoff doubles from 500ms)")
	fs.DurationVar(&c.IndexGrace, "uc-index-grace", c.IndexGrace, "age after which an index key without its record is removed as a crash leftover")
	fs.DurationVar(&c.OutboxSweep, "uc-outbox-sweep", c.OutboxSweep, "how long an account event may wait in its record's outbox before the sweeper stores it")
	fs.IntVar(&c.IPv6Prefix, "uc-ipv6-prefix", c.IPv6Prefix, "prefix length IPv6 clients are rate-limited and locked out by (one subscriber holds a /64)")
	fs.IntVar(&c.CreateLimit, "uc-create-limit", c.CreateLimit, "accounts (named or guest) one client source may create per --uc-create-window (0 = no limit)")
	fs.DurationVar(&c.CreateWindow, "uc-create-window", c.CreateWindow, "window of --uc-create-limit")
	fs.IntVar(&c.SMSSourceLimit, "sms-source-limit", c.SMSSourceLimit, "verification codes one client source may have sent per --sms-source-window (0 = no limit)")
	fs.DurationVar(&c.SMSSourceWindow, "sms-source-window", c.SMSSourceWindow, "window of --sms-source-limit")
	fs.IntVar(&c.SMSGlobalPerMinute, "sms-global-per-minute", c.SMSGlobalPerMinute, "verification codes sent per minute by all clients together (0 = no limit)")
	fs.BoolVar(&c.SMSLogCodes, "sms-log-codes", c.SMSLogCodes, "without --sms-webhook, log verification codes (phone masked) instead of refusing to start: staging only")
	fs.BoolVar(&c.DeviceLoginAfterBind, "uc-device-login-after-bind", c.DeviceLoginAfterBind, "keep guest device login working after the guest binds a username")
}

// validate checks the config and parses what needs parsing.
func (c *Config) validate() (proxies []netip.Prefix, err error) {
	switch {
	case c.TokenTTL <= 0:
		return nil, fmt.Errorf("uc: --token-ttl must be positive")
	case c.KeyRotate < time.Minute:
		return nil, fmt.Errorf("uc: --uc-key-rotate must be at least 1m, got %v", c.KeyRotate)
	case c.Argon2Time < 1 || c.Argon2Time > 100:
		return nil, fmt.Errorf("uc: --uc-argon2-time %d out of [1,100]", c.Argon2Time)
	case c.Argon2MemoryKiB < 8*c.Argon2Threads || c.Argon2MemoryKiB > 4<<20:
		return nil, fmt.Errorf("uc: --uc-argon2-memory %d KiB out of range", c.Argon2MemoryKiB)
	case c.Argon2Threads < 1 || c.Argon2Threads > 255:
		return nil, fmt.Errorf("uc: --uc-argon2-threads %d out of [1,255]", c.Argon2Threads)
	case c.HashWorkers < 1:
		return nil, fmt.Errorf("uc: --uc-hash-workers must be at least 1")
	case c.BodyLimit < 256:
		return nil, fmt.Errorf("uc: --uc-body-limit %d is too small", c.BodyLimit)
	case checkOrigins(c.CORSOrigins) != nil:
		return nil, fmt.Errorf("uc: --uc-cors-origins: %w", checkOrigins(c.CORSOrigins))
	case c.MaxField < 130:
		return nil, fmt.Errorf("uc: --uc-max-field must be at least 130 (passwords reach 128 bytes)")
	case c.IPRate < 0 || (c.IPRate > 0 && c.IPRateWindow <= 0):
		return nil, fmt.Errorf("uc: bad --uc-ip-rate/--uc-ip-rate-window")
	case c.AccountFailLimit < 1 || c.IPFailLimit < 1 || c.FailWindow <= 0 || c.LockoutBase <= 0 || c.LockoutMax < c.LockoutBase:
		return nil, fmt.Errorf("uc: bad lockout settings")
	case c.CodeTTL <= 0 || c.CodeTries < 1:
		return nil, fmt.Errorf("uc: bad verification code settings")
	case c.SMSMinInterval < 0 || c.SMSDailyLimit < 1 || c.SMSRetries < 0 || c.SMSTimeout <= 0:
		return nil, fmt.Errorf("uc: bad SMS settings")
	case c.IndexGrace <= 0 || c.RequestTimeout <= 0 || c.OutboxSweep <= 0:
		return nil, fmt.Errorf("uc: --uc-index-grace, --uc-request-timeout and --uc-outbox-sweep must be positive")
	case c.IPv6Prefix < 32 || c.IPv6Prefix > 128:
		return nil, fmt.Errorf("uc: --uc-ipv6-prefix %d out of [32,128]", c.IPv6Prefix)
	case c.CreateLimit < 0 || (c.CreateLimit > 0 && c.CreateWindow <= 0):
		return nil, fmt.Errorf("uc: bad --uc-create-limit/--uc-create-window")
	case c.SMSSourceLimit < 0 || (c.SMSSourceLimit > 0 && c.SMSSourceWindow <= 0):
		return nil, fmt.Errorf("uc: bad --sms-source-limit/--sms-source-window")
	case c.SMSGlobalPerMinute < 0:
		return nil, fmt.Errorf("uc: --sms-global-per-minute must not be negative")
	}
	for _, s := range strings.Split(c.TrustedProxies, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			proxies = append(proxies, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("uc: --uc-trusted-proxies: %q is neither an IP nor a CIDR", s)
		}
		a = a.Unmap()
		proxies = append(proxies, netip.PrefixFrom(a, a.BitLen()))
	}
	return proxies, nil
}

// NewSigner loads (or creates) KeyFile and returns a signer with this
// config's issuer and TTL: what cmd/hive passes as Deps.Signer.
func (c *Config) NewSigner() (*token.Signer, error) {
	if c.KeyFile == "" {
		return nil, fmt.Errorf("uc: no signing key: set --uc-key-file or pass Deps.Signer")
	}
	key, err := token.LoadOrCreateKey(c.KeyFile)
	if err != nil {
		return nil, err
	}
	return token.NewSigner(key, c.TokenIssuer, c.TokenTTL), nil
}
