package game

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/qeetap/hive/proto/def"
)

// TestCloneItems: cloneItems copies every field def.Item has (set through
// reflection, so a field added later is covered) and unknown fields, and
// the copies share no memory with the originals.
func TestCloneItems(t *testing.T) {
	if cloneItems(nil) != nil {
		t.Fatal("cloneItems(nil) != nil")
	}
	full := &def.Item{}
	fields := full.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch f.Kind() {
		case protoreflect.Int32Kind:
			full.ProtoReflect().Set(f, protoreflect.ValueOfInt32(int32(100+i)))
		case protoreflect.Int64Kind:
			full.ProtoReflect().Set(f, protoreflect.ValueOfInt64(int64(1000+i)))
		default:
			t.Fatalf("def.Item.%s is a %v: teach cloneItems and this test about it", f.Name(), f.Kind())
		}
	}
	full.ProtoReflect().SetUnknown(protoreflect.RawFields{0x98, 0x06, 0x01}) // field 99 = 1
	partial := &def.Item{Idx: proto.Int32(2), Num: proto.Int64(5)}
	in := []*def.Item{full, partial}
	want := []*def.Item{proto.Clone(full).(*def.Item), proto.Clone(partial).(*def.Item)}
	out := cloneItems(in)
	if len(out) != len(in) {
		t.Fatalf("%d copies of %d items", len(out), len(in))
	}
	for i := range in {
		if !proto.Equal(out[i], want[i]) {
			t.Fatalf("copy %d = %v, want %v", i, out[i], want[i])
		}
		*out[i].Num += 7
		if u := out[i].ProtoReflect().GetUnknown(); len(u) > 0 {
			u[2] = 2
		}
		if !proto.Equal(in[i], want[i]) {
			t.Fatalf("changing copy %d changed the original: %v", i, in[i])
		}
	}
	if out[1].Id != nil || out[1].CreateTime != nil {
		t.Fatalf("unset fields set in the copy: %v", out[1])
	}
}
