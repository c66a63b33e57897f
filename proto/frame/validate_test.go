package frame

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// apiNames is every known api, sorted: the fuzz input picks one by index.
func apiNames() []string {
	names := make([]string, 0, len(apis))
	for name := range apis {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// decodeVerdict classifies Decode's result as a scan verdict.
func decodeVerdict(t testing.TB, err error) verdict {
	switch {
	case err == nil:
		return verdictOK
	case errors.Is(err, ErrMissingRequired):
		return verdictMissing
	case errors.Is(err, ErrBadPayload):
		return verdictBad
	}
	t.Fatalf("Decode: unexpected error %v", err)
	return 0
}

var verdictNames = [...]string{verdictOK: "ok", verdictMissing: "missing", verdictBad: "bad", verdictFallback: "fallback"}

func (v verdict) String() string { return verdictNames[v] }

// checkValidate compares Validate and the raw scan with Decode for one
// input and returns Decode's verdict.
func checkValidate(t testing.TB, api string, payload []byte) verdict {
	t.Helper()
	_, derr := Decode([]byte(api), payload)
	want := decodeVerdict(t, derr)
	if v := apis[api].v; v != nil {
		if got := v.scan(payload); got != want && got != verdictFallback {
			t.Fatalf("%s %x: scan says %v, Decode %v (%v)", api, payload, got, want, derr)
		}
	}
	verr := Validate([]byte(api), payload)
	if (verr == nil) != (derr == nil) || (verr != nil && verr.Error() != derr.Error()) {
		t.Fatalf("%s %x: Validate = %v, Decode = %v", api, payload, verr, derr)
	}
	return want
}

// TestValidatorsCompiled: every request a client may send gets the
// allocation-free scan, not the Decode fallback (a new proto feature in
// proto/msg, such as an enum field, would need support in validate.go).
func TestValidatorsCompiled(t *testing.T) {
	for _, name := range apiNames() {
		if apis[name].v == nil {
			t.Errorf("%s: no validator", name)
		}
	}
}

// nest wraps inner in depth unknown groups of field 15.
func nest(depth int, inner []byte) []byte {
	b := bytes.Repeat([]byte{0x7b}, depth) // field 15, start group
	b = append(b, inner...)
	return append(b, bytes.Repeat([]byte{0x7c}, depth)...) // end group
}

func TestValidate(t *testing.T) {
	gift := func(m *msg.GiftItems_Req) []byte {
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	full := gift(&msg.GiftItems_Req{DstId: proto.Int64(10002), ItemIdx: proto.Int32(100), ItemNum: proto.Int32(10)})
	event := func(e *def.Event) []byte {
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(&msg.SetEvent_Req{Event: e})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withOper := event(&def.Event{Oper: proto.Int32(1001), ArgStr: proto.String("bob")})
	noOper := event(&def.Event{ArgStr: proto.String("bob")})
	cases := []struct {
		name, api string
		payload   []byte
		want      verdict
	}{
		{"gift", "msg.GiftItems.Req", full, verdictOK},
		{"gift missing item_num", "msg.GiftItems.Req", gift(&msg.GiftItems_Req{DstId: proto.Int64(1), ItemIdx: proto.Int32(100)}), verdictMissing},
		{"gift empty", "msg.GiftItems.Req", nil, verdictMissing},
		{"required field with another wire type is unknown", "msg.GiftItems.Req",
			append(full[:len(full)-2:len(full)-2], 0x1d, 1, 2, 3, 4), verdictMissing}, // field 3 as fixed32
		{"truncated varint", "msg.GiftItems.Req", append(slices.Clip(full), 0x08, 0x80), verdictBad},
		{"varint overflow", "msg.GiftItems.Req", append(slices.Clip(full), 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), verdictBad},
		{"field number 0", "msg.GiftItems.Req", append([]byte{0x00, 0x01}, full...), verdictBad},
		{"field number above max", "msg.GiftItems.Req", append(protowire.AppendTag(nil, protowire.MaxValidNumber+1, protowire.VarintType), 0), verdictBad},
		{"end group at top", "msg.GiftItems.Req", append(slices.Clip(full), 0x7c), verdictBad},
		{"wire type 6", "msg.GiftItems.Req", append(slices.Clip(full), 0x0e), verdictBad},
		{"unknown fields", "msg.GiftItems.Req", append(slices.Clip(full), 0x50, 1, 0x5a, 1, 'x', 0x65, 1, 2, 3, 4), verdictOK},
		{"groups nested to the limit", "msg.GetItems.Req", nest(10001, nil), verdictOK},
		{"groups nested past the limit", "msg.GetItems.Req", nest(10002, nil), verdictBad},
		{"mismatched end group", "msg.GetItems.Req", []byte{0x7b, 0x74}, verdictBad},
		{"unterminated group", "msg.GetItems.Req", []byte{0x7b, 0x08, 0x01}, verdictBad},
		{"get items", "msg.GetItems.Req", []byte{0x08, 0x64}, verdictOK},
		{"get items empty", "msg.GetItems.Req", nil, verdictOK},
		{"invalid utf-8 is fine in proto2", "msg.Login.Req", []byte{0x0a, 2, 0xff, 0xfe}, verdictOK},
		{"length past end", "msg.Login.Req", []byte{0x0a, 5, 'a'}, verdictBad},
		{"set event", "msg.SetEvent.Req", withOper, verdictOK},
		{"set event without oper", "msg.SetEvent.Req", noOper, verdictMissing},
		{"set event, empty event", "msg.SetEvent.Req", []byte{0x0a, 0}, verdictMissing},
		{"set event as varint is unknown", "msg.SetEvent.Req", []byte{0x08, 0x01}, verdictMissing},
		{"set event, bad sub-message", "msg.SetEvent.Req", []byte{0x0a, 2, 0x08, 0x80}, verdictBad},
		{"set event, end group in sub-message", "msg.SetEvent.Req", []byte{0x0a, 3, 0x08, 0x01, 0x0c}, verdictBad},
		// Occurrences of a message field merge: oper from the first, the
		// second without it, and the other order.
		{"set event merged", "msg.SetEvent.Req", append(slices.Clip(withOper), noOper...), verdictOK},
		{"set event merged, other order", "msg.SetEvent.Req", append(slices.Clip(noOper), withOper...), verdictOK},
		{"set event twice, both without oper", "msg.SetEvent.Req", append(slices.Clip(noOper), noOper...), verdictMissing},
		{"res with repeated items, one lacking num", "msg.GetItems.Res", []byte{0x08, 0, 0x12, 0x0a, 0x08, 1, 0x10, 100, 0x18, 5, 0x20, 1, 0x28, 1,
			0x12, 0x08, 0x08, 2, 0x10, 100, 0x20, 1, 0x28, 1}, verdictMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := checkValidate(t, c.api, c.payload); got != c.want {
				t.Fatalf("Decode verdict %v, want %v (the case tests the wrong thing)", got, c.want)
			}
		})
	}

	err := Validate([]byte("msg.Nope.Req"), nil)
	if !errors.Is(err, ErrUnknownAPI) || !strings.Contains(err.Error(), "msg.Nope.Req") {
		t.Fatalf("unknown api: %v", err)
	}
}

// TestValidateAllocs: a valid request is checked without allocating.
func TestValidateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	for _, c := range benchPayloads(t) {
		api := []byte(c.api)
		if n := testing.AllocsPerRun(100, func() {
			if err := Validate(api, c.payload); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per Validate", c.api, n)
		}
	}
}

// populate sets every field of m (one element for repeated ones), so the
// fuzz seeds reach every field rule.
func populate(m protoreflect.Message) {
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		var v protoreflect.Value
		switch fd.Kind() {
		case protoreflect.MessageKind:
			if fd.IsList() {
				populate(m.Mutable(fd).List().AppendMutable().Message())
			} else {
				populate(m.Mutable(fd).Message())
			}
			continue
		case protoreflect.StringKind:
			v = protoreflect.ValueOfString("s" + string(fd.Name()))
		case protoreflect.BytesKind:
			v = protoreflect.ValueOfBytes([]byte{1, 2})
		case protoreflect.BoolKind:
			v = protoreflect.ValueOfBool(true)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			v = protoreflect.ValueOfInt32(-int32(fd.Number()))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			v = protoreflect.ValueOfInt64(1 << 40)
		default:
			continue // not used in proto/msg
		}
		if fd.IsList() {
			m.Mutable(fd).List().Append(v)
		} else {
			m.Set(fd, v)
		}
	}
}

// FuzzValidate checks, for arbitrary payloads of every known api, that the
// scan gives Decode's verdict (or defers to Decode) and that Validate
// returns Decode's error.
//
//	go test ./proto/frame -run '^$' -fuzz FuzzValidate -fuzztime 2m
func FuzzValidate(f *testing.F) {
	names := apiNames()
	index := map[string]uint8{}
	for i, n := range names {
		index[n] = uint8(i)
	}
	for _, v := range loadVectors(f) {
		fr := v.frameBytes(f)
		api, payload, err := NewReader(bytes.NewReader(fr), 0).Next()
		if i, ok := index[string(api)]; ok && err == nil {
			f.Add(i, payload)
		}
	}
	for i, n := range names {
		mt, _ := Lookup([]byte(n))
		m := mt.New()
		populate(m)
		b, err := proto.Marshal(m.Interface())
		if err != nil {
			f.Fatal(n, err)
		}
		f.Add(uint8(i), b)
		f.Add(uint8(i), append(slices.Clip(b), b...))
		f.Add(uint8(i), b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, sel uint8, payload []byte) {
		checkValidate(t, names[int(sel)%len(names)], payload)
	})
}
