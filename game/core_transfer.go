package game

import (
	"hash/fnv"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

// transfersKept is how many settled transfers a player remembers
// (Player.Transfers). A credit or refund is recognised as a repeat while
// its transfer is among them; one older than all of them is settled again
// only while the stream would drop a repeat (settledHere), else left
// unresolved (transferUnresolved) rather than risk a second credit. It is
// part of the fold: changing it changes replays.
const transfersKept = 512

// transfer is a gift between two players: debited from From (GiftSent, the
// commit point), then credited to To exactly once (GiftReceived) or, when
// To cannot take it, refused there (GiftRefused) and returned to From
// (GiftReturned). ID, the debit's command id, links the events.
type transfer struct {
	ID       string
	Corr     string // the request the debit came from (Hive-Corr), for tracing
	From, To int64
	Idx      int32
	Num      int64
	SentMs   int64 // when the debit was decided, unix ms
}

// transferOf reads the transfer of a debit stored on player from's
// subject; ok is false for a debit with no transfer id (gifts stored
// before transfers, debit and credit in one atomic batch).
func transferOf(from int64, corr string, e *evt.GiftSent) (transfer, bool) {
	t := transfer{ID: e.GetTransfer(), Corr: corr, From: from, To: e.GetTo(), Idx: e.GetIdx(), Num: e.GetNum(), SentMs: e.GetSentMs()}
	return t, t.ID != ""
}

// refusedTransfer reads the transfer of a refusal stored on player to's subject.
func refusedTransfer(to int64, corr string, e *evt.GiftRefused) transfer {
	return transfer{ID: e.GetTransfer(), Corr: corr, From: e.GetFrom(), To: to, Idx: e.GetIdx(), Num: e.GetNum(), SentMs: e.GetSentMs()}
}

// settleResult is what settling a transfer on one player did.
type settleResult int

const (
	// transferDone: nothing to do, the transfer was settled here before
	// (the zero value: a repeated command, Outcome.Duplicate, means the same).
	transferDone settleResult = iota
	transferCredited
	transferRefused
	transferReturned
	// transferUnresolved: not among the transfers the player remembers but
	// older than the ones it forgot, so it cannot tell; left alone.
	transferUnresolved
)

// transferHash is how Player.Transfers holds a transfer id.
func transferHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// settledHere reports whether transfer t was settled on player s, and
// whether that cannot be told: t is older than what s forgot, and was sent
// before repeatFrom (unix ms). A forgotten transfer sent since repeatFrom
// is settled again: its settling's events carry the same Msg-Ids, which the
// stream still remembers, so a second one is dropped there (Outcome.Duplicate).
func settledHere(s *Player, t transfer, repeatFrom int64) (settled, unknown bool) {
	if slices.Contains(s.GetTransfers(), transferHash(t.ID)) {
		return true, false
	}
	forgot := s.GetTransferFloor() > 0 && t.SentMs <= s.GetTransferFloor()
	return false, forgot && t.SentMs < repeatFrom
}

// decideCredit settles transfer t on its receiver: GiftReceived, or
// GiftRefused with the reason when the receiver is unknown or cannot hold
// the items (stack limit, RC_ITEM_OVERFLOW); nothing when t was settled here.
// repeatFrom is settledHere's.
func decideCredit(d *Data, to *Player, t transfer, now, repeatFrom int64) ([]events.Emit, settleResult) {
	switch done, unknown := settledHere(to, t, repeatFrom); {
	case done:
		return nil, transferDone
	case unknown:
		return nil, transferUnresolved
	}
	at := proto.Int64(now)
	refuse := func(rc def.ResCode) ([]events.Emit, settleResult) {
		return []events.Emit{{ID: t.To, Event: &evt.GiftRefused{From: proto.Int64(t.From), Idx: proto.Int32(t.Idx), Num: proto.Int64(t.Num),
			Transfer: proto.String(t.ID), SentMs: proto.Int64(t.SentMs), Code: proto.Int32(int32(rc)), At: at}}}, transferRefused
	}
	if !to.GetCreated() {
		return refuse(def.ResCode_RC_USER_NOT_FOUND)
	}
	after, ok := d.add(t.Idx, held(to, t.Idx), t.Num)
	if !ok {
		return refuse(def.ResCode_RC_ITEM_OVERFLOW)
	}
	return []events.Emit{{ID: t.To, Event: &evt.GiftReceived{From: proto.Int64(t.From), Idx: proto.Int32(t.Idx), Num: proto.Int64(t.Num),
		Transfer: proto.String(t.ID), SentMs: proto.Int64(t.SentMs),
		Totals: []*evt.ItemDelta{{Idx: proto.Int32(t.Idx), Num: proto.Int64(after)}}, At: at}}}, transferCredited
}

// decideReturn refunds a refused transfer to its sender (GiftReturned),
// once. The refund may pass the stack limit: the sender held these items
// before the gift, and a refund that could be refused would lose them.
func decideReturn(from *Player, t transfer, rc def.ResCode, now, repeatFrom int64) ([]events.Emit, settleResult) {
	switch done, unknown := settledHere(from, t, repeatFrom); {
	case done:
		return nil, transferDone
	case unknown:
		return nil, transferUnresolved
	}
	after := held(from, t.Idx) + t.Num
	if after < t.Num {
		return nil, transferUnresolved // past int64: nothing can hold it
	}
	return []events.Emit{{ID: t.From, Event: &evt.GiftReturned{To: proto.Int64(t.To), Idx: proto.Int32(t.Idx), Num: proto.Int64(t.Num),
		Transfer: proto.String(t.ID), SentMs: proto.Int64(t.SentMs), Code: proto.Int32(int32(rc)),
		Totals: []*evt.ItemDelta{{Idx: proto.Int32(t.Idx), Num: proto.Int64(after)}}, At: proto.Int64(now)}}}, transferReturned
}

// settle records transfer id as settled on s, forgetting the oldest past
// transfersKept (transfer_floor then remembers how far back it forgot).
func settle(s *Player, id string, sentMs int64) {
	if id == "" {
		return // a gift of an atomic batch, settled with its debit
	}
	drop := max(0, len(s.Transfers)+1-transfersKept)
	for _, ms := range s.TransferSentMs[:drop] {
		if ms > s.GetTransferFloor() {
			s.TransferFloor = proto.Int64(ms)
		}
	}
	// New lists, never writes into the old: copies of the player share
	// them (clonePlayer).
	s.Transfers = slices.Concat(s.Transfers[drop:], []uint64{transferHash(id)})
	s.TransferSentMs = slices.Concat(s.TransferSentMs[drop:], []int64{sentMs})
}
