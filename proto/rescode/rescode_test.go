package rescode

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// TestScan: Scan reads the code as decoding the answer would (last value
// wins, int32 truncation, a wrong wire type is an unknown field), reports it
// found exactly when decoding sets it, and rejects what decoding rejects.
func TestScan(t *testing.T) {
	enc := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var (
		tag1   = protowire.AppendTag(nil, 1, protowire.VarintType)
		items  = enc(&msg.GetItems_Res{Code: proto.Int32(0), Items: []*def.Item{{Id: proto.Int64(1), Num: proto.Int64(5)}}})
		twice  = protowire.AppendVarint(append(enc(&msg.GiftItems_Res{Code: proto.Int32(3002)}), tag1...), 3)
		minus  = enc(&msg.GiftItems_Res{Code: proto.Int32(-1)})
		asLen  = protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{7}) // code with the wrong wire type: unknown
		group  = protowire.AppendTag(protowire.AppendTag(enc(&msg.GiftItems_Res{Code: proto.Int32(6)}), 9, protowire.StartGroupType), 9, protowire.EndGroupType)
		bigger = protowire.AppendVarint(append([]byte(nil), tag1...), 1<<40|3010) // int32 truncation
	)
	for _, c := range []struct {
		name    string
		payload []byte
		bad     bool
	}{
		{"empty", nil, false},
		{"items", items, false},
		{"last wins", twice, false},
		{"negative", minus, false},
		{"wrong wire type", asLen, false},
		{"group", group, false},
		{"truncated to int32", bigger, false},
		{"cut varint", []byte{0x08, 0x80}, true},
		{"cut length", items[:len(items)-1], true},
		{"field 0", []byte{0x00, 0x01}, true},
		{"open group", protowire.AppendTag(nil, 9, protowire.StartGroupType), true},
	} {
		var want msg.GiftItems_Res
		werr := proto.UnmarshalOptions{AllowPartial: true}.Unmarshal(c.payload, &want)
		got, found, err := Scan(c.payload, 1)
		if (err != nil) != c.bad || (werr != nil) != c.bad {
			t.Errorf("%s: scan err %v, decode err %v, want bad=%v", c.name, err, werr, c.bad)
			continue
		}
		if !c.bad && found != (want.Code != nil) {
			t.Errorf("%s: found %v, decoding sets code: %v", c.name, found, want.Code != nil)
		}
		if !c.bad && got != def.ResCode(want.GetCode()) {
			t.Errorf("%s: code %d, decoding says %d", c.name, got, want.GetCode())
		}
	}
}

// TestCodeField: the code is found by name, never assumed to be field 1:
// SetEvent.Res has it at field 2 (PROTOCOL §4), Echo.Res has none.
func TestCodeField(t *testing.T) {
	for _, c := range []struct {
		m    proto.Message
		want protowire.Number
	}{
		{&msg.Login_Res{}, 1},
		{&msg.SetEvent_Res{}, 2},
		{&msg.Echo_Res{}, 0},
		{&msg.Error_Res{}, 1},
	} {
		name := string(c.m.ProtoReflect().Descriptor().FullName())
		if got := Number(c.m.ProtoReflect().Descriptor()); got != c.want {
			t.Errorf("Number(%s) = %d, want %d", name, got, c.want)
		}
		if got := NumberOf(name); got != c.want {
			t.Errorf("NumberOf(%s) = %d, want %d", name, got, c.want)
		}
	}
	if got := NumberOf("msg.Nothing.Res"); got != 0 {
		t.Errorf("NumberOf(unknown) = %d", got)
	}
}

// TestSetGet: Set writes the code where Get, Lookup and Scan read it, on
// SetEvent.Res's field 2 too; a Res without a code field is left alone.
func TestSetGet(t *testing.T) {
	for _, m := range []proto.Message{&msg.GiftItems_Res{}, &msg.SetEvent_Res{}} {
		if _, set := Lookup(m); set {
			t.Fatalf("%T: Lookup finds a code before Set", m)
		}
		if !Set(m, def.ResCode_RC_NAME_TAKEN) {
			t.Fatalf("%T: Set reports no code field", m)
		}
		if c, ok := Get(m); !ok || c != def.ResCode_RC_NAME_TAKEN {
			t.Errorf("%T: Get = %v, %v", m, c, ok)
		}
		if c, set := Lookup(m); !set || c != def.ResCode_RC_NAME_TAKEN {
			t.Errorf("%T: Lookup = %v, %v", m, c, set)
		}
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		name := string(m.ProtoReflect().Descriptor().FullName())
		if c, found, err := Scan(b, NumberOf(name)); err != nil || !found || c != def.ResCode_RC_NAME_TAKEN {
			t.Errorf("%T: Scan = %v, %v, %v", m, c, found, err)
		}
		if IsOK(name, b) {
			t.Errorf("%T: IsOK of RC_NAME_TAKEN", m)
		}
	}
	echo := &msg.Echo_Res{}
	if Set(echo, def.ResCode_RC_TIMEOUT) || proto.Size(echo) != 0 {
		t.Errorf("Set on Echo.Res: %v", echo)
	}
	if _, ok := Get(echo); ok {
		t.Error("Get finds a code in Echo.Res")
	}
	ok, _ := proto.Marshal(&msg.Logout_Res{Code: proto.Int32(0)})
	if !IsOK("msg.Logout.Res", ok) || IsOK("msg.Logout.Res", nil) || IsOK("msg.Logout.Res", []byte{0x08}) {
		t.Error("IsOK: explicit 0 is OK; absent or cut is not")
	}
}

// TestScanAllocs: the gate and the bench scan answers on their hot paths.
func TestScanAllocs(t *testing.T) {
	b, _ := proto.MarshalOptions{AllowPartial: true}.Marshal(&msg.Login_Res{Code: proto.Int32(0), User: &def.User{}})
	NumberOf("msg.Login.Res")
	if n := testing.AllocsPerRun(100, func() { IsOK("msg.Login.Res", b) }); n != 0 {
		t.Errorf("IsOK allocates %v times", n)
	}
}
