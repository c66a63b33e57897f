// Package client is the Go SDK of Hive: what a Go game client, `hive client`,
// `hive bench` and the system tests use to talk to a Hive deployment.
//
// It has two halves, following the client flow of PROTOCOL.md §1:
//
//   - [UC] calls the REST API of the account server (register, authenticate,
//     guest login, bind, verification codes, passwords). Its answer carries a
//     JWT and the address of a live gate.
//   - [Dial] opens a TCP session to that gate; [Session.Login] presents the
//     token, and typed calls ([Call], [Session.Do] and the convenience methods
//     such as [Session.GetItems]) send a msg.X.Req and wait for its msg.X.Res.
//     Messages the server pushes unasked go to the handler set with
//     [Session.OnPush].
//
// # Errors
//
// A result with a non-zero code becomes a [*Error] carrying the code
// (errors.As, or [CodeOf]); transport failures are returned wrapped. Whenever an
// answer was received it is returned too, even alongside an *Error, so a
// caller that wants the details of a refusal still has them.
//
// # One request at a time
//
// The gate handles one request per session at a time and answers in order,
// and pushes share the answers' types (msg.GetItems.Res is both the answer to
// GetItems.Req and the push after an item change). A Session therefore keeps
// at most one request in flight: a call waits its turn, and while X.Req is
// outstanding the first X.Res (or msg.Error.Res) that arrives is taken as its
// answer. A push of the same type that the server sends in that window is
// taken as the answer instead; the real answer then arrives next and, finding
// no request waiting, goes to the push handler. The two carry the same kind of
// data (the player's current items), so the effect is harmless for GetItems,
// the only type both pushed and requested. Use several sessions (players) for
// concurrency.
package client
