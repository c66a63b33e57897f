package uc

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
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

// reply sends m with HTTP status.
func reply(c *fiber.Ctx, status int, m proto.Message) error {
	c.Status(status)
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	buf := make([]byte, 0, 512)
	return c.Send(appendJSON(buf, m))
}

// result is a handler's outcome: the Res and its HTTP status.
type result struct {
	status int
	res    proto.Message
	retry  time.Duration // > 0: sent as Retry-After (whole seconds, rounded up)
}

func (r result) withRetry(d time.Duration) result {
	r.retry = d
	return r
}

// resFor returns a Res of the endpoint's type carrying only code. Every Res
// of uc has code at field 1.
func resFor(kind resKind, code def.ResCode) proto.Message {
	c := proto.Int32(int32(code))
	switch kind {
	case resBindAccount:
		return &msg.BindAccount_Res{Code: c}
	case resBindPhone:
		return &msg.BindPhone_Res{Code: c}
	case resVerification:
		return &msg.VerificationCode_Res{Code: c}
	case resChangePassword:
		return &msg.ChangePassword_Res{Code: c}
	case resResetPassword:
		return &msg.ResetPassword_Res{Code: c}
	default:
		return &msg.Auth_Res{Code: c}
	}
}

// resKind names the Res type of an endpoint.
type resKind int

const (
	resAuth resKind = iota
	resBindAccount
	resBindPhone
	resVerification
	resChangePassword
	resResetPassword
)
