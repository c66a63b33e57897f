package frame

import (
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/msg"
)

// giftFrame is the gift_req vector: msg.GiftItems.Req{dst_id: 10002,
// item_idx: 100, item_num: 10}.
func giftFrame(b *testing.B) []byte {
	f, err := AppendMessage(nil, &msg.GiftItems_Req{DstId: proto.Int64(10002), ItemIdx: proto.Int32(100), ItemNum: proto.Int32(10)})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// frameReader repeats one frame forever and never returns bytes of two frames
// in one Read, as a client that waits for each answer would send them.
type frameReader struct {
	b   []byte
	off int
}

func (r *frameReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

// BenchmarkDecode reads and decodes GiftItems.Req frames from a stream that
// fills every Read.
func BenchmarkDecode(b *testing.B) {
	f := giftFrame(b)
	r := NewReader(&repeatReader{b: f}, MaxSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		api, payload, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(api, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderNext splits GiftItems.Req frames from a stream that fills
// every Read (many frames per Read), without decoding them.
func BenchmarkReaderNext(b *testing.B) {
	f := giftFrame(b)
	r := NewReader(&repeatReader{b: f}, MaxSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderNextIdle reads frames that arrive one at a time, so the
// Reader gives its buffer back and takes it again for every frame (two Reads
// per frame: the 2-byte header, then the rest).
func BenchmarkReaderNextIdle(b *testing.B) {
	f := giftFrame(b)
	r := NewReader(&frameReader{b: f}, MaxSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode appends a GetItems.Res with 3 items to a reused buffer.
func BenchmarkEncode(b *testing.B) {
	m := itemsRes(3)
	buf, err := AppendMessage(nil, m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if buf, err = AppendMessage(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterBatch writes 8 GiftItems.Req frames and flushes them with
// one Write to io.Discard.
func BenchmarkWriterBatch(b *testing.B) {
	const batch = 8
	f := giftFrame(b)
	api, payload := "msg.GiftItems.Req", f[HeaderSize+len("msg.GiftItems.Req"):]
	w := NewWriter(io.Discard)
	b.ReportAllocs()
	b.SetBytes(int64(batch * len(f)))
	for b.Loop() {
		for range batch {
			if err := w.WriteFrame(api, payload); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPayload is one api and payload of the Validate/Decode benchmarks.
type benchPayload struct {
	api     string
	payload []byte
}

// benchPayloads are a GiftItems.Req (three required fields) and a
// GetItems.Req (one optional field), as the gate forwards them.
func benchPayloads(tb testing.TB) []benchPayload {
	var out []benchPayload
	for _, m := range []proto.Message{
		&msg.GiftItems_Req{DstId: proto.Int64(10002), ItemIdx: proto.Int32(100), ItemNum: proto.Int32(10)},
		&msg.GetItems_Req{Idx: proto.Int32(100)},
	} {
		api, payload, err := Encode(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, benchPayload{api, payload})
	}
	return out
}

// BenchmarkValidate checks request payloads the way the gate does before
// forwarding them; compare with BenchmarkDecodePayload.
func BenchmarkValidate(b *testing.B) {
	for _, c := range benchPayloads(b) {
		b.Run(c.api, func(b *testing.B) {
			api := []byte(c.api)
			b.ReportAllocs()
			for b.Loop() {
				if err := Validate(api, c.payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodePayload decodes the payloads of BenchmarkValidate into
// new messages (what the gate did to validate before Validate existed).
func BenchmarkDecodePayload(b *testing.B) {
	for _, c := range benchPayloads(b) {
		b.Run(c.api, func(b *testing.B) {
			api := []byte(c.api)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(api, c.payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
