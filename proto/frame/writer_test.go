package frame

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// countWriter counts Write calls and keeps what was written.
type countWriter struct {
	writes int
	buf    bytes.Buffer
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.writes++
	return c.buf.Write(p)
}

func TestWriterBatch(t *testing.T) {
	cw := &countWriter{}
	w := NewWriter(cw)
	if err := w.Flush(); err != nil || cw.writes != 0 {
		t.Fatalf("empty Flush: %v, %d writes", err, cw.writes)
	}
	var want []byte
	for i, p := range [][]byte{nil, {1}, bytes.Repeat([]byte{2}, 5000), {3, 3}} {
		api := "msg.Echo.Req"
		if err := w.WriteFrame(api, p); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want, _ = AppendFrame(want, api, p)
	}
	m := &msg.Echo_Res{Val: proto.Int64(7)}
	if err := w.WriteMessage(m); err != nil {
		t.Fatal(err)
	}
	want, _ = AppendMessage(want, m)
	if w.Buffered() != len(want) {
		t.Fatalf("Buffered %d, want %d", w.Buffered(), len(want))
	}
	if cw.writes != 0 {
		t.Fatalf("%d writes before Flush", cw.writes)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if cw.writes != 1 {
		t.Fatalf("Flush made %d Write calls, want 1", cw.writes)
	}
	if !bytes.Equal(cw.buf.Bytes(), want) {
		t.Fatal("flushed bytes differ from the appended frames")
	}
	if w.Buffered() != 0 || w.bufp != nil {
		t.Fatalf("after Flush: Buffered %d, buffer held %v", w.Buffered(), w.bufp != nil)
	}

	// The stream reads back frame by frame.
	r := NewReader(&cw.buf, 0)
	for i := range 5 {
		if _, _, err := r.Next(); err != nil {
			t.Fatalf("reading back frame %d: %v", i, err)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("reading back: %v, want io.EOF", err)
	}
}

func TestWriterRejects(t *testing.T) {
	cw := &countWriter{}
	w := NewWriter(cw)
	if err := w.WriteFrame("a", []byte{1}); err != nil {
		t.Fatal(err)
	}
	n := w.Buffered()
	if err := w.WriteFrame("", nil); !errors.Is(err, ErrEmptyAPI) {
		t.Fatalf("empty api: %v", err)
	}
	if err := w.WriteFrame("a", make([]byte, MaxSize)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if err := w.WriteMessage(&msg.GiftItems_Req{}); err == nil {
		t.Fatal("message missing required fields was accepted")
	}
	if w.Buffered() != n {
		t.Fatalf("rejected frames changed the batch: %d bytes, want %d", w.Buffered(), n)
	}
	if err := w.Flush(); err != nil || cw.buf.Len() != n {
		t.Fatalf("Flush: %v, %d bytes", err, cw.buf.Len())
	}
}

// shortWriter accepts at most n bytes per call, then fails with err.
type shortWriter struct {
	n   int
	err error
	got []byte
}

func (s *shortWriter) Write(p []byte) (int, error) {
	n := min(s.n, len(p))
	s.got = append(s.got, p[:n]...)
	if n < len(p) {
		return n, s.err
	}
	return n, nil
}

func TestWriterError(t *testing.T) {
	boom := errors.New("broken pipe")
	for _, werr := range []error{boom, nil} {
		sw := &shortWriter{n: 3, err: werr}
		w := NewWriter(sw)
		if err := w.WriteFrame("msg.A.Res", []byte("xyz")); err != nil {
			t.Fatal(err)
		}
		total := w.Buffered()
		want := werr
		if want == nil {
			want = io.ErrShortWrite
		}
		if err := w.Flush(); err != want {
			t.Fatalf("Flush: %v, want %v", err, want)
		}
		if w.Buffered() != total-3 {
			t.Fatalf("Buffered %d after a 3-byte write, want %d", w.Buffered(), total-3)
		}
		if err := w.WriteFrame("msg.B.Res", nil); err != want {
			t.Fatalf("WriteFrame after failure: %v", err)
		}
		if err := w.WriteMessage(&msg.Echo_Res{}); err != want {
			t.Fatalf("WriteMessage after failure: %v", err)
		}
		if err := w.Flush(); err != want || len(sw.got) != 3 {
			t.Fatalf("second Flush: %v, wrote %d bytes", err, len(sw.got))
		}
	}
}

func TestAppendFrame(t *testing.T) {
	got, err := AppendFrame([]byte{9}, "msg.Echo.Req", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "090e000c006d73672e4563686f2e526571"); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	// The largest frame: size 0xffff.
	got, err = AppendFrame(nil, "ab", make([]byte, MaxSize-4))
	if err != nil || len(got) != 2+MaxSize || got[0] != 0xff || got[1] != 0xff || got[2] != 2 || got[3] != 0 {
		t.Fatalf("largest frame: %v, header %x", err, got[:4])
	}
	dst := []byte("keep")
	for _, tc := range []struct {
		api     string
		payload []byte
		err     error
	}{
		{"", nil, ErrEmptyAPI},
		{"ab", make([]byte, MaxSize-3), ErrFrameTooLarge},
		{strings.Repeat("a", MaxSize), nil, ErrFrameTooLarge},
	} {
		got, err := AppendFrame(dst, tc.api, tc.payload)
		if !errors.Is(err, tc.err) || string(got) != "keep" {
			t.Fatalf("api %d bytes, payload %d: %q, %v; want dst unchanged and %v", len(tc.api), len(tc.payload), got, err, tc.err)
		}
	}
}

// itemsRes returns a GetItems.Res holding n items.
func itemsRes(n int) *msg.GetItems_Res {
	m := &msg.GetItems_Res{Code: proto.Int32(0)}
	for i := range n {
		m.Items = append(m.Items, &def.Item{
			Id: proto.Int64(int64(i + 1)), Idx: proto.Int32(100 + int32(i)), Num: proto.Int64(1000),
			CreateTime: proto.Int64(1700000000), UpdateTime: proto.Int64(1700000000),
		})
	}
	return m
}

func TestAppendMessage(t *testing.T) {
	m := itemsRes(3)
	got, err := AppendMessage([]byte("pre"), m)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[:3]) != "pre" {
		t.Fatal("prefix overwritten")
	}
	r := NewReader(bytes.NewReader(got[3:]), 0)
	api, payload, err := r.Next()
	if err != nil || string(api) != "msg.GetItems.Res" {
		t.Fatalf("read back: %q, %v", api, err)
	}
	back, err := Decode(api, payload)
	if err != nil || !proto.Equal(back, m) {
		t.Fatalf("decoded %v, %v", back, err)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("trailing bytes: %v", err)
	}

	// Errors leave dst as it was.
	dst := []byte("keep")
	if got, err := AppendMessage(dst, &msg.GetItems_Res{}); err == nil || string(got) != "keep" {
		t.Fatalf("missing code: %q, %v", got, err)
	}
	if got, err := AppendMessage(dst, itemsRes(3000)); !errors.Is(err, ErrFrameTooLarge) || string(got) != "keep" {
		t.Fatalf("oversized: %q, %v", got, err)
	}
	if got, err := AppendMessage(dst, nil); err == nil || string(got) != "keep" {
		t.Fatalf("nil: %q, %v", got, err)
	}
}

func TestAppendMessageAllocs(t *testing.T) {
	m := itemsRes(3)
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(1000, func() {
		var err error
		if buf, err = AppendMessage(buf[:0], m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("AppendMessage made %v allocations, want 0", allocs)
	}
}

func TestWriterAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	w := NewWriter(io.Discard)
	m := itemsRes(3)
	allocs := testing.AllocsPerRun(1000, func() {
		_ = w.WriteFrame("msg.Echo.Res", []byte{8, 1})
		_ = w.WriteMessage(m)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a batch made %v allocations, want 0", allocs)
	}
}

func TestEncode(t *testing.T) {
	m := &msg.GiftItems_Req{DstId: proto.Int64(10002), ItemIdx: proto.Int32(100), ItemNum: proto.Int32(10)}
	api, payload, err := Encode(m)
	if err != nil || api != "msg.GiftItems.Req" {
		t.Fatalf("Encode: %q, %v", api, err)
	}
	back, err := Decode([]byte(api), payload)
	if err != nil || !proto.Equal(back, m) {
		t.Fatalf("Decode: %v, %v", back, err)
	}
	if _, _, err := Encode(&msg.GiftItems_Req{DstId: proto.Int64(1)}); err == nil {
		t.Fatal("Encode accepted a message missing required fields")
	}
	if _, _, err := Encode(itemsRes(3000)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, _, err := Encode(nil); err == nil {
		t.Fatal("Encode(nil) succeeded")
	}
}
