// Package rescode reads and sets the result code of an answer (a msg.X.Res),
// on a message or on its encoded bytes (PROTOCOL §4).
//
// An answer's result code is its int32 field named "code": field 1 in every
// answer but msg.SetEvent.Res, whose code is field 2 (as the original
// protocol has it). The field is found by name in the message's descriptor,
// never assumed to be field 1. An answer without such a field (none in
// package msg today) has no result code.
//
// Scan reads the code from encoded bytes without decoding them and without
// allocating: the gate reads a Login.Res's and Logout.Res's code that way,
// and the bench checks every answer it counts.
package rescode

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/qeetap/hive/proto/def"
)

// Field returns the field of md that holds its result code, nil if it has
// none (no singular int32 field named "code").
func Field(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	fd := md.Fields().ByName("code")
	if fd == nil || fd.Kind() != protoreflect.Int32Kind || fd.Cardinality() == protoreflect.Repeated {
		return nil
	}
	return fd
}

// Number returns the field number of md's result code, 0 if it has none.
func Number(md protoreflect.MessageDescriptor) protowire.Number {
	if fd := Field(md); fd != nil {
		return fd.Number()
	}
	return 0
}

// numbers caches NumberOf by message name: the registry is complete once
// the program's init functions ran, and only read afterwards.
var numbers sync.Map // string -> protowire.Number

// NumberOf returns the field number of the result code of the message
// named api (a full name such as "msg.Login.Res"), 0 if that message is
// unknown or has no result code. After its first call for api it does not
// allocate.
func NumberOf(api string) protowire.Number {
	if v, ok := numbers.Load(api); ok {
		return v.(protowire.Number)
	}
	var n protowire.Number
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(api)); err == nil {
		n = Number(mt.Descriptor())
	}
	numbers.Store(api, n)
	return n
}

// Get returns m's result code and whether m has a result code field. An
// unset code reads as RC_OK (0), as the field's default.
func Get(m proto.Message) (def.ResCode, bool) {
	r := m.ProtoReflect()
	fd := Field(r.Descriptor())
	if fd == nil {
		return 0, false
	}
	return def.ResCode(r.Get(fd).Int()), true
}

// Lookup returns m's result code and whether m carries one: m has a result
// code field and it is set. An answer decoded from JSON without its code
// does not carry one.
func Lookup(m proto.Message) (def.ResCode, bool) {
	r := m.ProtoReflect()
	fd := Field(r.Descriptor())
	if fd == nil || !r.Has(fd) {
		return 0, false
	}
	return def.ResCode(r.Get(fd).Int()), true
}

// Set sets m's result code and reports whether m has a result code field
// (if not, m is unchanged).
func Set(m proto.Message, code def.ResCode) bool {
	r := m.ProtoReflect()
	fd := Field(r.Descriptor())
	if fd == nil {
		return false
	}
	r.Set(fd, protoreflect.ValueOfInt32(int32(code)))
	return true
}

// Scan walks the wire format of b (an encoded answer) and returns the value
// of its varint field num, the result code: the last occurrence wins, and
// the value is truncated to int32, as decoding does. found is false when b
// has no such field or num is 0. err is a protowire parse error when b is
// not wire format. Scan does not allocate.
func Scan(b []byte, num protowire.Number) (code def.ResCode, found bool, err error) {
	var c int32
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return 0, false, protowire.ParseError(l)
		}
		b = b[l:]
		if n == num && typ == protowire.VarintType {
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return 0, false, protowire.ParseError(l)
			}
			c, found = int32(v), true
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return 0, false, protowire.ParseError(l)
		}
		b = b[l:]
	}
	return def.ResCode(c), found, nil
}

// IsOK reports whether b, an encoded answer named api, carries RC_OK
// explicitly: its code field is present, reads 0, and b parses. A payload
// without its code (or that does not parse) is not OK.
func IsOK(api string, b []byte) bool {
	code, found, err := Scan(b, NumberOf(api))
	return err == nil && found && code == def.ResCode_RC_OK
}
