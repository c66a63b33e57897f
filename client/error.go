package client

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/qeetap/hive/proto/def"
)

// Error is a refusal by the server: an answer whose code is not RC_OK, a
// msg.Error.Res for the request, or a msg.Kick.Res that ended the session.
// Use errors.As to get it, or [CodeOf].
type Error struct {
	// Code is the result code of the answer.
	Code def.ResCode
	// Op names what was refused: a REST operation ("register", "auth", ...),
	// a request api ("msg.GiftItems.Req") or "kick".
	Op string
	// Detail is extra text from the server (msg.Error.Res detail, the
	// reason of a kick), possibly empty.
	Detail string
	// HTTPStatus is the HTTP status of a REST answer (0 for TCP).
	HTTPStatus int
	// RetryAfter is the server's Retry-After hint for RC_RATE_LIMITED over
	// REST, 0 when absent.
	RetryAfter time.Duration
}

// Error names the operation and the code, e.g.
// "hive: msg.GiftItems.Req: RC_ITEM_NOT_ENOUGH (3002)".
func (e *Error) Error() string {
	s := "hive: " + e.Op + ": " + codeName(e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is an *Error with the same code, so
// errors.Is(err, &client.Error{Code: def.ResCode_RC_NAME_TAKEN}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// CodeOf returns the result code carried by err: RC_OK for nil, the code of
// an *Error anywhere in its chain, and ok=false for other errors (transport
// failures have no code).
func CodeOf(err error) (code def.ResCode, ok bool) {
	if err == nil {
		return def.ResCode_RC_OK, true
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}

// codeName is "RC_NAME (N)", or "code N" for a number unknown to this build.
func codeName(c def.ResCode) string {
	n := strconv.Itoa(int(c))
	if name, ok := def.ResCode_name[int32(c)]; ok {
		return name + " (" + n + ")"
	}
	return "code " + n
}

// ErrClosed is returned by calls on a session that has ended; the error that
// ended it (a kick, a read error) is wrapped alongside when known.
var ErrClosed = errors.New("hive: session closed")

// ProtocolError means the server sent something the protocol does not
// allow: a frame that cannot be parsed, or an answer of the wrong type.
type ProtocolError struct {
	// Msg says what was wrong.
	Msg string
	// Err is the underlying decode error, if any.
	Err error
}

// Error describes the violation.
func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("hive: protocol: %s: %v", e.Msg, e.Err)
	}
	return "hive: protocol: " + e.Msg
}

// Unwrap returns the underlying decode error.
func (e *ProtocolError) Unwrap() error { return e.Err }
