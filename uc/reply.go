package uc

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/rescode"
)

// appendJSON encodes a Res as a JSON object keyed by proto field names, in
// field-number order, with only the fields that are set (code always is).
// Integers are JSON numbers (protojson would quote int64s; a number is what
// the seed's clients read, and protojson parsers accept both). Messages
// with nested fields fall back to protojson.
func appendJSON(b []byte, m proto.Message) []byte {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	b = append(b, '{')
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !r.Has(fd) {
			continue
		}
		if fd.IsList() || fd.IsMap() || fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
			out, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
			if err != nil {
				return append(b[:0], `{"code":1}`...)
			}
			return out
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
		v := r.Get(fd)
		switch fd.Kind() {
		case protoreflect.StringKind:
			b = appendString(b, v.String())
		case protoreflect.BoolKind:
			b = strconv.AppendBool(b, v.Bool())
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			b = strconv.AppendUint(b, v.Uint(), 10)
		case protoreflect.EnumKind:
			b = strconv.AppendInt(b, int64(v.Enum()), 10)
		case protoreflect.FloatKind, protoreflect.DoubleKind:
			b = strconv.AppendFloat(b, v.Float(), 'g', -1, 64)
		default:
			b = strconv.AppendInt(b, v.Int(), 10)
		}
	}
	return append(b, '}')
}

// appendString writes s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// reply sends m with HTTP status. An answer whose code is not RC_OK also
// carries "message": why, in words (message, or the code's usual reason
// when message is empty). It is an extra key next to the Res's own, so
// clients that read only code are unaffected.
func reply(c *fiber.Ctx, status int, m proto.Message, message string) error {
	c.Status(status)
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	buf := appendJSON(make([]byte, 0, 512), m)
	code, _ := rescode.Get(m) // RC_OK for a message without a code
	if code != def.ResCode_RC_OK && len(buf) > 1 && buf[len(buf)-1] == '}' {
		if message == "" {
			message = codeMessage(code)
		}
		buf = buf[:len(buf)-1]
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, `"message":`...)
		buf = appendString(buf, message)
		buf = append(buf, '}')
	}
	return c.Send(buf)
}

// codeMessage is the usual reason for a code, as the "message" of an answer
// (PROTOCOL §3 lists them).
func codeMessage(code def.ResCode) string {
	switch code {
	case def.ResCode_RC_SERVER_INTERNAL_ERROR:
		return "internal error; try again later"
	case def.ResCode_RC_BAD_REQUEST:
		return "bad request"
	case def.ResCode_RC_RATE_LIMITED:
		return "too many requests; wait the seconds in Retry-After"
	case def.ResCode_RC_FORBIDDEN:
		return "the Authorization bearer token is missing, invalid, or not this account's"
	case def.ResCode_RC_COMMON_SERVER_NOT_READY:
		return "server not ready (no live gate, or busy); try again shortly"
	case def.ResCode_RC_AUTH_INVALID_USER:
		return "wrong username or password"
	case def.ResCode_RC_ACCOUNT_CREATE_FAILED:
		return "the account could not be created; try again"
	case def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE:
		return "username taken"
	case def.ResCode_RC_ACCOUNT_NO_FOUND:
		return "no such account"
	case def.ResCode_RC_ACCOUNT_PHONE_INVALID:
		return "phone must be E.164: '+' then 8 to 15 digits, the first not 0"
	case def.ResCode_RC_ACCOUNT_VERIFICATION_EXPIRED:
		return "no live verification code (never sent, expired, used or out of tries); ask for a new one"
	case def.ResCode_RC_ACCOUNT_VERIFICATION_INVALID:
		return "wrong verification code (six digits)"
	case def.ResCode_RC_ACCOUNT_USERNAME_INVALID:
		return fmt.Sprintf("username must be %d to %d characters of A-Z a-z 0-9 _ . -", minUsername, maxUsername)
	case def.ResCode_RC_ACCOUNT_PASSWORD_WEAK:
		return fmt.Sprintf("password must be %d to %d bytes and not the username", minPassword, maxPassword)
	case def.ResCode_RC_ACCOUNT_ALREADY_BOUND:
		return "the account already has a username"
	case def.ResCode_RC_ACCOUNT_PHONE_DUPLICATE:
		return "phone already bound to another account"
	case def.ResCode_RC_ACCOUNT_LOCKED:
		return "too many wrong passwords for this account from your address; wait the seconds in Retry-After"
	case def.ResCode_RC_ACCOUNT_VERIFICATION_TOO_FREQUENT:
		return "a code was sent to this phone too recently or too often today; wait before asking again"
	case def.ResCode_RC_LOGIN_USER_CREATE_FAILED:
		return "the guest account could not be created; try again"
	}
	return code.String()
}

// result is a handler's outcome: the Res and its HTTP status.
type result struct {
	status int
	res    proto.Message
	retry  time.Duration // > 0: sent as Retry-After (whole seconds, rounded up)
	msg    string        // the answer's message; empty: codeMessage
}

func (r result) withRetry(d time.Duration) result {
	r.retry = d
	return r
}

func (r result) withMessage(m string) result {
	r.msg = m
	return r
}

// resOf makes a route's Res carrying only code (and whatever the handler
// adds): the route's declaration picks its type once (route, answerOf).
type resOf func(code def.ResCode) proto.Message

// answerOf is the answer of routes whose Res is P. Every Res of uc has its
// code at field 1, an int32 (checkAnswer proves it when the route is
// declared).
func answerOf[Res any, P interface {
	*Res
	proto.Message
}](code def.ResCode) proto.Message {
	m := P(new(Res))
	rescode.Set(m, code)
	return m
}

// checkAnswer panics unless P's field 1 is the int32 code every uc answer
// carries: a route declared with another type fails at start, not at its
// first answer.
func checkAnswer[Res any, P interface {
	*Res
	proto.Message
}]() {
	d := P(new(Res)).ProtoReflect().Descriptor()
	if rescode.Number(d) != 1 {
		panic(fmt.Sprintf("uc: %s cannot answer a route: field 1 must be int32 code", d.FullName()))
	}
}
