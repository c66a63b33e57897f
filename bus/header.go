package bus

// The envelope's headers (Hive-Gate, Hive-Session, Hive-User, Hive-Req,
// Hive-Api, Hive-Kick-*) are package envelope's.

// Event headers on every message in the EVENTS stream (DESIGN §4).
const (
	HdrEvent = "Hive-Event" // full proto name of the event, e.g. evt.ItemsGranted
	HdrCmd   = "Hive-Cmd"   // command id that produced the event
	HdrCorr  = "Hive-Corr"  // request id the command came from
)
