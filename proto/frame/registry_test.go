package frame

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/qeetap/hive/proto/msg"
)

func TestLookupCoversMsg(t *testing.T) {
	top := msg.File_msg_msg_proto.Messages()
	n := 0
	for i := range top.Len() {
		for _, kind := range []string{"Req", "Res"} {
			d := top.Get(i).Messages().ByName(protoreflect.Name(kind))
			if d == nil {
				continue
			}
			n++
			name := string(d.FullName())
			mt, ok := Lookup([]byte(name))
			if !ok || mt.Descriptor() != d {
				t.Errorf("Lookup(%q) = %v, %v", name, mt, ok)
			}
			if IsRequest([]byte(name)) != (kind == "Req") {
				t.Errorf("IsRequest(%q) = %v", name, !(kind == "Req"))
			}
		}
	}
	if n != len(apis) || n < 40 {
		t.Fatalf("msg declares %d Req/Res messages, registry holds %d", n, len(apis))
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"", "msg", "msg.Auth", "def.User", "def.Rank.Item", "evt.AccountCreated", "msg.NoSuch.Req", "msg.Echo.Req.", "Echo.Req", "msg.echo.req"} {
		if _, ok := Lookup([]byte(name)); ok {
			t.Errorf("Lookup(%q) found a type", name)
		}
		if IsRequest([]byte(name)) {
			t.Errorf("IsRequest(%q) = true", name)
		}
		if _, err := Decode([]byte(name), nil); !errors.Is(err, ErrUnknownAPI) {
			t.Errorf("Decode(%q): %v, want ErrUnknownAPI", name, err)
		}
	}
}

func TestResponseAPI(t *testing.T) {
	for in, want := range map[string]string{
		"msg.GetItems.Req": "msg.GetItems.Res",
		"msg.SetEvent.Req": "msg.SetEvent.Res",
		"msg.NoSuch.Req":   "msg.NoSuch.Res",
		"msg.GetItems.Res": "",
		"msg.Req.x":        "",
		"":                 "",
	} {
		if got := ResponseAPI(in); got != want {
			t.Errorf("ResponseAPI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegistryAllocs(t *testing.T) {
	req, res := []byte("msg.GiftItems.Req"), []byte("msg.GiftItems.Res")
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := Lookup(req); !ok {
			t.Fatal("Lookup failed")
		}
		if !IsRequest(req) || IsRequest(res) {
			t.Fatal("IsRequest wrong")
		}
		if ResponseAPI("msg.GiftItems.Req") != string(res) {
			t.Fatal("ResponseAPI wrong")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations, want 0", allocs)
	}
}

func TestDecodeErrors(t *testing.T) {
	api := []byte("msg.GiftItems.Req")
	m, err := Decode(api, []byte{0x08, 0x92, 0x4e}) // dst_id only
	if !errors.Is(err, ErrMissingRequired) {
		t.Fatalf("missing required: %v", err)
	}
	if g, ok := m.(*msg.GiftItems_Req); !ok || g.GetDstId() != 10002 {
		t.Fatalf("partial message %v", m)
	}
	for _, p := range [][]byte{{0xff}, {0x08}, {0x0a, 0x05, 1}, {0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}} {
		if m, err := Decode(api, p); !errors.Is(err, ErrBadPayload) || m != nil {
			t.Errorf("payload %x: %v, %v; want ErrBadPayload", p, m, err)
		}
	}
	full, _ := proto.Marshal(&msg.GiftItems_Req{DstId: proto.Int64(1), ItemIdx: proto.Int32(2), ItemNum: proto.Int32(3)})
	if _, err := Decode(api, full); err != nil {
		t.Fatalf("complete message: %v", err)
	}
}
