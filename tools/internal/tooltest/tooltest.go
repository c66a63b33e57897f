// Package tooltest holds what the tools' tests share: a bounded context and
// events stored as the game stores them.
package tooltest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/internal/testenv"
	"github.com/qeetap/hive/proto/evt"
)

// Ctx bounds a test generously: a hang fails, a slow machine does not.
func Ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Publish stores one event with the headers of DESIGN §4, in the
// partition of its subject; typ "" leaves Hive-Event out.
func Publish(t *testing.T, n *testenv.NATS, subject, typ string, payload []byte) {
	t.Helper()
	parts, err := bus.StorePartitions(Ctx(t), n.JS)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(bus.IngestSubject(subject, parts))
	m.Data = payload
	if typ != "" {
		m.Header.Set(bus.HdrEvent, typ)
	}
	m.Header.Set(bus.HdrCmd, "cmd-"+subject)
	m.Header.Set(bus.HdrCorr, "corr-1")
	if _, err := n.JS.PublishMsg(Ctx(t), m); err != nil {
		t.Fatal(err)
	}
}

// PublishEvent stores a proto event under its own type name.
func PublishEvent(t *testing.T, n *testenv.NATS, subject string, ev proto.Message) {
	t.Helper()
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	Publish(t, n, subject, string(ev.ProtoReflect().Descriptor().FullName()), b)
}

// CreatePlayer stores a PlayerCreated event for a new player, as the game
// appends it on a first login, and returns the player's id.
func CreatePlayer(t *testing.T, n *testenv.NATS) int64 {
	t.Helper()
	const uid = 20001
	PublishEvent(t, n, bus.PlayerSubject(uid), &evt.PlayerCreated{
		Account: proto.Int64(uid),
		Items:   []*evt.ItemDelta{{Idx: proto.Int32(100), Num: proto.Int64(1000)}},
		Totals:  []*evt.ItemDelta{{Idx: proto.Int32(100), Num: proto.Int64(1000)}},
		At:      proto.Int64(1700000000),
	})
	return uid
}

// Buffer is a bytes.Buffer safe for a writer and a reader goroutine.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Bytes returns a copy of what was written so far.
func (s *Buffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// String returns what was written so far.
func (s *Buffer) String() string { return string(s.Bytes()) }

// ParseLines decodes JSON lines, failing on anything else.
func ParseLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// ToolsJS is JetStream on a connection with the read-only tools' identity,
// so a test of a tool also proves its NATS permissions suffice.
func ToolsJS(t *testing.T, n *testenv.NATS) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(n.ConnectAs(t, bus.RoleTools))
	if err != nil {
		t.Fatal(err)
	}
	return js
}
