// Package gate is Hive's gateway (DESIGN §1, §3, §5, §6; PROTOCOL §2, §4).
//
// A gate accepts client connections speaking the frame protocol over TCP
// and, with --gate-ws-listen, over WebSocket (one frame per binary message;
// wsconn.go adapts such a connection to what a session reads and writes, so
// both transports share every rule, limit, kick and metric), verifies
// the login token, forwards each request to the game over NATS and writes
// the answers and pushes back. It keeps sessions in memory only and
// announces itself in the registry (an etcd lease in a cluster).
//
// # Process contract
//
//	cfg := gate.DefaultConfig()
//	cfg.Flags(fs)                   // --gate-* flags
//	g, err := gate.New(cfg, gate.Deps{NC: nc, Registry: reg, Logger: log, Metrics: promReg})
//	err = g.Start()                 // listening, subscribed, registered
//	g.Addr()                        // actual listen address
//	err = g.Shutdown(ctx)           // SIGTERM drain
//
// # Sessions
//
// A client address (an IPv4 address, an IPv6 /--gate-ipv6-prefix) may hold
// --gate-max-conns-per-ip connections; one more gets msg.Kick.Res{code:
// RC_RATE_LIMITED} and is closed. A new connection has --gate-login-timeout
// to log in; until then only
// msg.Login.Req and msg.Echo.Req are served (Echo answered by the gate
// itself). Any other known request gets its own X.Res{code:
// RC_LOGIN_REQUIRED} (msg.Error.Res for a Res without a code field). When the
// deadline passes the gate sends msg.Kick.Res{code: RC_LOGIN_REQUIRED,
// reason: "login timeout"} and closes. After login every request, Echo
// included, goes to the game; a session silent for --gate-idle-timeout gets
// msg.Kick.Res{code: RC_TIMEOUT, reason: "idle timeout"} and is closed.
//
// Input rules, each closing only the offending connection:
//   - a frame that cannot be parsed (size < 2, api_size 0 or past the end of
//     the frame, size over --gate-max-frame, truncated) or whose payload does
//     not decode as the named message: closed without an answer;
//   - an api that is not a client request (unknown, a Res name, msg.Kick.Req,
//     msg.Error.Req): msg.Error.Res{code: RC_API_UNKNOWN, api}, stays open;
//   - a payload lacking a required field: X.Res{code: RC_BAD_REQUEST}, stays open;
//   - more than --gate-rate requests per second (bucket --gate-burst), or more
//     than --gate-max-pending waiting behind the one in flight:
//     X.Res{code: RC_RATE_LIMITED};
//   - a second msg.Login.Req on a session: msg.Login.Res{code: RC_BAD_REQUEST};
//   - a client that lets more than --gate-queue bytes of answers pile up
//     unread (or whose socket accepts nothing for --gate-write-timeout) is
//     disconnected as a slow reader.
//
// # Login
//
// A login attempt first takes a token from its client address's bucket
// (--gate-ip-login-rate, --gate-ip-login-burst, shared by the address's
// connections); an empty bucket is answered msg.Login.Res{RC_RATE_LIMITED}.
// The token is verified with token.Verifier: keys from --gate-token-public-key
// and the keys published in the registry, looked up in the registry's watched
// copy (no registry read per login: an unknown kid is refused at once). A
// key past its Expires time is refused even if nobody removed it. Failures
// are answered by the gate: RC_LOGIN_TOKEN_EXPIRED (token or key expired) or
// RC_LOGIN_TOKEN_INVALID. The gate then subscribes user.<uid> and, once the
// subscription is live, reads the account's token version from the KV
// bucket token-versions (bus.TokenVersionsBucket; absent = 0): a token whose
// ver claim is lower gets RC_LOGIN_TOKEN_REVOKED, and a version raised after
// that read is followed by uc's kick on user.<uid>, which the session
// already receives. If the bucket cannot be read the login gets
// RC_COMMON_SERVER_NOT_READY (fail closed). A login that passes is
// forwarded to the game like any request, with Hive-User = the token's
// account id (user id == account id in Hive). When the game answers
// msg.Login.Res{code: 0} the gate announces the login (package envelope,
// Kicks) and relays the Login.Res; any other answer is relayed, user.<uid> is dropped
// and the session stays logged out. Pushes on user.<uid> before the
// Login.Res are dropped; kicks are not. A msg.Logout.Res{code: 0} returns
// the session to the logged-out state (user.<uid> dropped, a new login
// deadline).
//
// # Requests, answers, pushes and kicks
//
// The gate's contract with the game and with anyone who pushes or kicks
// (headers, subjects, payloads, who sends what) is package envelope's: its
// doc states it and its tests enforce it. The gate publishes each request
// with envelope.Request, reads answers, pushes and kicks with envelope.Read
// and announces logins with envelope.Kick.
//
// One request per session is in flight; up to --gate-max-pending wait behind
// it, so a player's requests reach the game in order. Every request gets
// exactly one Res: the game's, or the gate's own
// RC_COMMON_SERVER_NOT_READY when no worker subscribes to the api (NATS
// answers the reply subject with a "Status: 503" no-responders message) or
// NATS refuses the publish, or RC_TIMEOUT after --gate-request-timeout
// (counted from the request's arrival; one that waited behind the in-flight
// request for more than half of it is answered RC_COMMON_SERVER_NOT_READY
// without being sent).
// Before giving up the gate sends an unanswered request again, unchanged
// (same Hive-Req: the game applies a command once), after --gate-retry-after
// and then twice as long each time, at most --gate-retries times; after a
// no-responders status once at once, then on that schedule. The first
// answer wins; a later one is dropped as late.
//
// # Drain
//
// Shutdown deletes the gate's registry entry, stops accepting, answers new
// requests X.Res{code: RC_GATE_DRAINING}, lets in-flight requests finish,
// sends each session msg.Kick.Res{code: RC_GATE_DRAINING} and closes it;
// whatever is still open after --gate-drain-timeout is closed.
//
// # Memory
//
// An idle session holds no read or write buffer (proto/frame's Reader gives
// its buffer back between frames; pending writes use pooled buffers), one
// goroutine (its reader), and one NATS subscription delivering into a
// channel shared by the whole gate (no goroutine per subscription). See
// BENCHMARKS.md (gate section) for the measured cost.
package gate
