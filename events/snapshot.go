package events

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Snapshot is an aggregate's state at a version, with what the store needs
// to keep it honest: the recent command ids (duplicate detection) and event
// counts (when to write the next durable snapshot).
type Snapshot[S any] struct {
	ID      int64
	State   S
	Version uint64   // stream sequence of the last event folded in; 0 = no events
	Recent  []string // most recent distinct command ids, oldest first
	Count   uint64   // events folded in since the aggregate began
	Durable uint64   // Count at the last durable (KV) snapshot
}

// Exists reports whether the aggregate has any event.
func (s *Snapshot[S]) Exists() bool { return s.Version > 0 }

// HasCmd reports whether the command id is among the recent ones.
func (s *Snapshot[S]) HasCmd(id string) bool { return id != "" && slices.Contains(s.Recent, id) }

// remember appends a command id to Recent, keeping at most max.
func (s *Snapshot[S]) remember(id string, max int) {
	if id == "" || (len(s.Recent) > 0 && s.Recent[len(s.Recent)-1] == id) {
		return
	}
	if i := slices.Index(s.Recent, id); i >= 0 {
		s.Recent = slices.Delete(s.Recent, i, i+1)
	}
	s.Recent = append(s.Recent, id)
	if over := len(s.Recent) - max; over > 0 {
		s.Recent = slices.Delete(s.Recent, 0, over)
	}
}

// Snapshot wire format (protobuf wire encoding, no schema file needed):
// 1 state bytes, 2 version, 3 recent (repeated string), 4 count, 5 durable, 6 id.
const (
	snapState = 1 + iota
	snapVersion
	snapRecent
	snapCount
	snapDurable
	snapID
)

var errBadSnapshot = errors.New("events: malformed snapshot")

func encodeSnapshot(id int64, state []byte, version uint64, recent []string, count, durable uint64) []byte {
	b := make([]byte, 0, len(state)+32+len(recent)*24)
	b = protowire.AppendTag(b, snapState, protowire.BytesType)
	b = protowire.AppendBytes(b, state)
	b = protowire.AppendTag(b, snapVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, version)
	for _, r := range recent {
		b = protowire.AppendTag(b, snapRecent, protowire.BytesType)
		b = protowire.AppendString(b, r)
	}
	b = protowire.AppendTag(b, snapCount, protowire.VarintType)
	b = protowire.AppendVarint(b, count)
	b = protowire.AppendTag(b, snapDurable, protowire.VarintType)
	b = protowire.AppendVarint(b, durable)
	b = protowire.AppendTag(b, snapID, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(id))
	return b
}

type rawSnapshot struct {
	id                      int64
	state                   []byte
	version, count, durable uint64
	recent                  []string
}

// decodeSnapshot reads a snapshot. Its recent command ids are substrings of
// one copy of b: two allocations, not one per id (an active player's
// snapshot holds 64 of them, and every load decodes one).
func decodeSnapshot(b []byte) (rawSnapshot, error) {
	var r rawSnapshot
	all := b
	var buf [64][2]int
	spans := buf[:0] // offset and length in all of each recent id
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, errBadSnapshot
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && (num == snapState || num == snapRecent):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, errBadSnapshot
			}
			if num == snapState {
				r.state = v
			} else {
				off := len(all) - len(b) + n - len(v)
				spans = append(spans, [2]int{off, len(v)})
			}
			b = b[n:]
		case typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, errBadSnapshot
			}
			switch num {
			case snapVersion:
				r.version = v
			case snapCount:
				r.count = v
			case snapDurable:
				r.durable = v
			case snapID:
				r.id = int64(v)
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, fmt.Errorf("%w: field %d", errBadSnapshot, num)
			}
			b = b[n:]
		}
	}
	if len(spans) > 0 {
		str := string(all)
		r.recent = make([]string, len(spans))
		for i, sp := range spans {
			r.recent[i] = str[sp[0] : sp[0]+sp[1]]
		}
	}
	return r, nil
}
