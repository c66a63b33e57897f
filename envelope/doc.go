// Package envelope is the contract between a gate and everything behind it
// on NATS (DESIGN §3): the envelope of a client's request as
// the game receives it, of the answer, of a push to a player and of a kick.
// It is the only code that encodes or decodes these headers; the gate, the
// game, uc, the admin tool and the tests all go through it, and its tests
// check the bytes it produces against the wire format below.
//
// Api names are the full proto names of the message types (API); result
// codes are read and set with package proto/rescode.
//
// # Requests and answers
//
// The gate publishes each request on its api subject (msg.X.Req, queue
// group "game" on the game side) with
//
//	Reply:        gate.<gateID>.<sessionID>   (bus.SessionSubject)
//	Hive-Gate:    <gateID>
//	Hive-Session: <sessionID>
//	Hive-User:    <uid>                       (absent before login)
//	Hive-Req:     <request id, unique per session>
//	data:         the request protobuf, as the client sent it
//
// A worker answers by publishing to the message's reply subject a message
// whose data is the X.Res protobuf and whose header Hive-Api is the Res's
// full name (msg.X.Res). It should copy Hive-Req into the answer: then a late
// answer (after the gate already answered RC_TIMEOUT) is recognised and
// dropped. One subscription per gate on gate.<gateID>.> routes answers by
// session id.
//
// One request per session is in flight; up to --gate-max-pending wait behind
// it, so a player's requests reach the game in order. Every request gets
// exactly one Res: the game's, or the gate's own
// RC_COMMON_SERVER_NOT_READY when no worker subscribes to the api (NATS
// answers the reply subject with a "Status: 503" no-responders message) or
// NATS refuses the publish, or RC_TIMEOUT after --gate-request-timeout.
//
// A message on gate.<gateID>.<sessionID> that does not answer the in-flight
// request and carries no Hive-Req is a push to that session.
//
// # Pushes
//
// Anyone may push a Res to a logged-in user by publishing on user.<uid>
// (bus.UserSubject) with data = the Res protobuf and Hive-Api = its full
// name, e.g. msg.GetItems.Res after the player's items changed. Every
// session of that user on every gate writes it as one frame. Messages
// without a known msg.X.Res in Hive-Api are dropped.
//
// # Kicks
//
// A kick is a message on user.<uid> with Hive-Api: msg.Kick.Res and data =
// a msg.Kick.Res protobuf. The session writes that frame as its last, shuts
// its write side and closes.
//
//   - Without a Hive-Kick-Keep header (an operator's `hive admin kick`, or the
//     game) it kicks every session of the user.
//   - With Hive-Kick-Keep: gate.<gateID>.<sessionID> (the subject of the
//     session to keep) and Hive-Kick-Time: <login time, unix ns>, it is a
//     login announcement, published by a gate when a session logs in: every
//     other session of the user that logged in earlier (ties broken by
//     subject) is kicked with msg.Kick.Res{code: RC_LOGIN_KICKED}. A session
//     that finds itself the newer one announces itself again, so when two
//     logins race exactly one session survives.
//
// # Disconnect logout
//
// When a logged-in session ends without a Logout (client gone, idle,
// drain, operator kick), the gate publishes msg.Logout.Req{account: uid} on
// msg.Logout.Req with the usual headers and no reply subject, so the game
// can mark the player offline. It is not sent for a session kicked by a
// newer login of the same account. Compare Hive-Gate/Hive-Session with the
// player's current session before acting on it.
//
// In code: the gate sends a Request (Publish, its header set pooled: no
// allocation per request), the game reads it with ReadRequest and answers
// with an Answer carrying the request's Hive-Req; a Push goes to user.<uid>;
// a Kick with Keep set is a login announcement. A gate reads what it
// receives with Read.
package envelope
