package frame

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Validate returns exactly what Decode(api, payload) would return as its
// error (nil, or ErrUnknownAPI, ErrBadPayload or ErrMissingRequired with the
// same text), without building the message. For a payload that decodes it
// does not allocate: the gate checks every forwarded request with it and
// passes the bytes on untouched.
//
// It scans the payload with protowire under the rules the protobuf runtime
// uses to unmarshal (a field of a known number whose wire type differs from
// the declared one is an unknown field; unknown fields are skipped with
// protowire.ConsumeFieldValue) and checks the presence of required fields,
// also in every sub-message. On any verdict other than "valid", and for the
// rare inputs the scan does not decide itself (a non-repeated message field
// that occurs twice: protobuf merges the occurrences), it calls Decode, so
// errors carry Decode's detail.
func Validate(api, payload []byte) error {
	e, ok := apis[string(api)]
	if ok && e.v != nil && e.v.scan(payload) == verdictOK {
		return nil
	}
	_, err := Decode(api, payload)
	return err
}

// verdict is the outcome of a scan.
type verdict uint8

const (
	verdictOK       verdict = iota // parses, every required field present
	verdictMissing                 // parses, a required field is absent
	verdictBad                     // does not parse
	verdictFallback                // undecided by the scan: ask Decode
)

// maxRuleNumber bounds the dense field table of a validator; a message with
// a larger field number is left to Decode.
const maxRuleNumber = 1024

// validator checks the wire form of one message type.
type validator struct {
	fields   []fieldRule // by field number; index 0 and gaps are unknown
	required uint64      // bits of the required fields
}

// fieldRule is what the scan knows about one declared field.
type fieldRule struct {
	known    bool
	wire     protowire.Type // the wire type the field's kind is read from
	bit      uint64         // presence bit: required fields and non-repeated message fields
	sub      *validator     // message fields: the sub-message's validator
	repeated bool
}

// newValidator compiles a validator for md, or returns nil when md uses a
// feature the scan does not model (not proto2, enums, repeated scalars,
// groups, maps, oneofs, extensions, recursive types, more than 64 presence
// bits, huge field numbers); Validate then uses Decode for it.
func newValidator(md protoreflect.MessageDescriptor) *validator {
	return compileValidator(md, map[protoreflect.FullName]bool{})
}

func compileValidator(md protoreflect.MessageDescriptor, path map[protoreflect.FullName]bool) *validator {
	if path[md.FullName()] || md.Syntax() != protoreflect.Proto2 ||
		md.ExtensionRanges().Len() > 0 || md.Oneofs().Len() > 0 || md.IsMapEntry() {
		return nil
	}
	path[md.FullName()] = true
	defer delete(path, md.FullName())

	fds := md.Fields()
	maxNum := 0
	for i := range fds.Len() {
		maxNum = max(maxNum, int(fds.Get(i).Number()))
	}
	if maxNum > maxRuleNumber {
		return nil
	}
	v := &validator{fields: make([]fieldRule, maxNum+1)}
	nbits := 0
	for i := range fds.Len() {
		fd := fds.Get(i)
		r := fieldRule{known: true, repeated: fd.Cardinality() == protoreflect.Repeated}
		switch fd.Kind() {
		case protoreflect.BoolKind, protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
			protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
			r.wire = protowire.VarintType
		case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
			r.wire = protowire.Fixed32Type
		case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
			r.wire = protowire.Fixed64Type
		case protoreflect.StringKind, protoreflect.BytesKind: // proto2: no UTF-8 check
			r.wire = protowire.BytesType
		case protoreflect.MessageKind:
			if fd.IsMap() || fd.IsWeak() {
				return nil
			}
			r.wire = protowire.BytesType
			if r.sub = compileValidator(fd.Message(), path); r.sub == nil {
				return nil
			}
		default: // enums (closed in proto2), groups
			return nil
		}
		if r.repeated && r.sub == nil {
			return nil // packed or not: left to Decode
		}
		if fd.Cardinality() == protoreflect.Required || (r.sub != nil && !r.repeated) {
			if nbits == 64 {
				return nil
			}
			r.bit = 1 << nbits
			nbits++
			if fd.Cardinality() == protoreflect.Required {
				v.required |= r.bit
			}
		}
		v.fields[fd.Number()] = r
	}
	return v
}

// scan checks b as one message of v's type (not a group: an end-group tag
// is an error, as it is for the runtime's top level and sub-messages).
func (v *validator) scan(b []byte) verdict {
	var seen uint64
	missing := false
	for len(b) > 0 {
		tag, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return verdictBad
		}
		b = b[n:]
		num := tag >> 3
		if num < uint64(protowire.MinValidNumber) || num > uint64(protowire.MaxValidNumber) {
			return verdictBad
		}
		wt := protowire.Type(tag & 7)
		if wt == protowire.EndGroupType {
			return verdictBad
		}
		var r *fieldRule
		if num < uint64(len(v.fields)) && v.fields[num].known && v.fields[num].wire == wt {
			r = &v.fields[num]
		}
		if r == nil {
			// Unknown, or a declared field with another wire type: the
			// runtime keeps it as an unknown field.
			if n = protowire.ConsumeFieldValue(protowire.Number(num), wt, b); n < 0 {
				return verdictBad
			}
			b = b[n:]
			continue
		}
		switch wt {
		case protowire.VarintType:
			_, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			_, n = protowire.ConsumeFixed32(b)
		case protowire.Fixed64Type:
			_, n = protowire.ConsumeFixed64(b)
		default: // BytesType
			var sub []byte
			sub, n = protowire.ConsumeBytes(b)
			if n >= 0 && r.sub != nil {
				if seen&r.bit != 0 {
					return verdictFallback // a second occurrence merges into the first
				}
				switch r.sub.scan(sub) {
				case verdictMissing:
					missing = true
				case verdictBad:
					return verdictBad
				case verdictFallback:
					return verdictFallback
				}
			}
		}
		if n < 0 {
			return verdictBad
		}
		seen |= r.bit
		b = b[n:]
	}
	if missing || seen&v.required != v.required {
		return verdictMissing
	}
	return verdictOK
}
