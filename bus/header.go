package bus

// Request headers set by the gate on every msg.*.Req (DESIGN §3). The user id
// comes from the verified token, never from the client.
const (
	HdrGate    = "Hive-Gate"    // gate id
	HdrSession = "Hive-Session" // session id within the gate
	HdrUser    = "Hive-User"    // verified user id; absent before login
	HdrReq     = "Hive-Req"     // request id, unique per session: idempotency and tracing
	HdrAPI     = "Hive-Api"     // on a Res sent to a session: the message it carries
)

// Event headers on every message in the EVENTS stream (DESIGN §4).
const (
	HdrEvent = "Hive-Event" // full proto name of the event, e.g. evt.ItemsGranted
	HdrCmd   = "Hive-Cmd"   // command id that produced the event
	HdrCorr  = "Hive-Corr"  // request id the command came from
)
