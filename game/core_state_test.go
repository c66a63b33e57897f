package game

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
)

// fullPlayer is a player with every field set.
func fullPlayer() *Player {
	s := &Player{
		Created: proto.Bool(true),
		User: &def.User{Id: proto.Int64(5), Name: proto.String("Ann"),
			Items: []*def.Item{{Idx: proto.Int32(gold), Num: proto.Int64(700)}}},
		Mails:      []*def.Mail{{Id: proto.Int64(1), Status: proto.Int32(int32(def.MailStatus_MAIL_NEW))}},
		LastMailId: proto.Int64(1), Scene: proto.Int32(2), Online: proto.Bool(true),
		Gate: proto.String("g1"), Session: proto.String("s1"),
		Transfers: []uint64{11, 12}, TransferSentMs: []int64{1000, 1001}, TransferFloor: proto.Int64(999),
	}
	s.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
	return s
}

func TestClonePlayerCopiesEveryField(t *testing.T) {
	s := fullPlayer()
	fields := s.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); !s.ProtoReflect().Has(fd) {
			t.Fatalf("fullPlayer leaves %s unset: set it here and copy it in clonePlayer", fd.Name())
		}
	}
	c := clonePlayer(s)
	if !proto.Equal(c, s) {
		t.Fatalf("clone differs:\n%v\n%v", c, s)
	}
	if string(c.ProtoReflect().GetUnknown()) != string(s.ProtoReflect().GetUnknown()) {
		t.Fatal("unknown fields not copied")
	}

	// What apply changes in place is the clone's own.
	c.User.Items[0].Num = proto.Int64(1)
	c.Mails[0].Status = proto.Int32(int32(def.MailStatus_MAIL_READED))
	c.Online = proto.Bool(false)
	settle(c, "t/next", 1002)
	if !proto.Equal(s, fullPlayer()) {
		t.Fatalf("changing the clone changed the original: %v", s)
	}
	if len(c.Transfers) != 3 || c.Transfers[2] != transferHash("t/next") {
		t.Fatalf("clone's transfers %v", c.Transfers)
	}
}

// settle keeps the last transfersKept and raises the floor to what it forgets.
func TestSettleForgetsTheOldest(t *testing.T) {
	s := &Player{}
	for i := range transfersKept + 3 {
		settle(s, string(rune('a'+i%26))+string(rune(i)), int64(1000+i))
	}
	if len(s.Transfers) != transfersKept || len(s.TransferSentMs) != transfersKept {
		t.Fatalf("kept %d/%d, want %d", len(s.Transfers), len(s.TransferSentMs), transfersKept)
	}
	if s.GetTransferFloor() != 1002 || s.TransferSentMs[0] != 1003 || s.TransferSentMs[transfersKept-1] != int64(1000+transfersKept+2) {
		t.Fatalf("floor %d, kept sent_ms %d..%d", s.GetTransferFloor(), s.TransferSentMs[0], s.TransferSentMs[transfersKept-1])
	}
}
