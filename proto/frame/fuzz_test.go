package frame

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"
)

// modelFrame is a frame found by modelParse: its offset in the input, its
// api and payload.
type modelFrame struct {
	off          int
	api, payload []byte
}

// modelParse is a plain reading of PROTOCOL §2 over a complete
// input: the frames it holds and the error that ends them (io.EOF at a frame
// boundary).
func modelParse(data []byte, max int) ([]modelFrame, error) {
	var fs []modelFrame
	for off := 0; ; {
		rest := data[off:]
		switch {
		case len(rest) == 0:
			return fs, io.EOF
		case len(rest) < 2:
			return fs, io.ErrUnexpectedEOF
		}
		size := int(rest[0]) | int(rest[1])<<8
		switch {
		case size < 2:
			return fs, ErrFrameTooShort
		case size > max:
			return fs, ErrFrameTooLarge
		case len(rest) < 2+size:
			return fs, io.ErrUnexpectedEOF
		}
		apiSize := int(rest[2]) | int(rest[3])<<8
		switch {
		case apiSize == 0:
			return fs, ErrEmptyAPI
		case apiSize > size-2:
			return fs, ErrAPISize
		}
		fs = append(fs, modelFrame{off, rest[4 : 4+apiSize], rest[4+apiSize : 2+size]})
		off += 2 + size
	}
}

// limitedReader returns at most n bytes per Read.
type limitedReader struct {
	b []byte
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if len(l.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), l.n)], l.b)
	l.b = l.b[n:]
	return n, nil
}

// FuzzReader feeds arbitrary bytes, cut into reads of at most chunk bytes
// (0: all at once), to a Reader limited to maxFrame (0: MaxSize), and checks
// every frame and the final error against modelParse; every frame must
// decode without panicking, and re-encoding it must read back the same.
func FuzzReader(f *testing.F) {
	for _, v := range loadVectors(f) {
		fr := v.frameBytes(f)
		f.Add(fr, uint8(0), uint16(0))
		f.Add(fr, uint8(1), uint16(0))
		f.Add(append(append([]byte{}, fr...), fr...), uint8(5), uint16(0))
	}
	valid, _ := AppendFrame(nil, "msg.Echo.Req", []byte{8, 1})
	f.Add([]byte{0xff, 0xff}, uint8(0), uint16(0)) // largest size, nothing after it
	f.Add(append([]byte{0xff, 0xff, 0x01, 0x00, 'x'}, make([]byte, 100)...), uint8(3), uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(0), uint16(0))                // api_size 65535 > size-2
	f.Add(valid[:len(valid)-1], uint8(2), uint16(0))                          // truncated payload
	f.Add(valid[:3], uint8(1), uint16(0))                                     // truncated header
	f.Add([]byte{0x01}, uint8(0), uint16(0))                                  // half a size field
	f.Add(append(append([]byte{}, valid...), valid...), uint8(0), uint16(10)) // over a small limit

	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, maxFrame uint16) {
		max := int(maxFrame)
		if max == 0 {
			max = MaxSize
		}
		want, wantErr := modelParse(data, max)

		var src io.Reader = bytes.NewReader(data)
		if chunk > 0 {
			src = &limitedReader{data, int(chunk)}
		}
		r := NewReader(src, int(maxFrame))
		for i := 0; ; i++ {
			api, payload, err := r.Next()
			if err != nil {
				if i != len(want) || !errors.Is(err, wantErr) {
					t.Fatalf("after %d frames: %v; model: %d frames then %v", i, err, len(want), wantErr)
				}
				break
			}
			if i >= len(want) {
				t.Fatalf("frame %d yielded; model ends after %d with %v", i, len(want), wantErr)
			}
			m := want[i]
			size := int(data[m.off]) | int(data[m.off+1])<<8
			if len(api) == 0 || len(api)+len(payload)+2 != size {
				t.Fatalf("frame %d: api %d + payload %d + 2 != size %d", i, len(api), len(payload), size)
			}
			if !bytes.Equal(api, m.api) || !bytes.Equal(payload, m.payload) {
				t.Fatalf("frame %d: got %q/%x, want %q/%x", i, api, payload, m.api, m.payload)
			}
			checkRoundTrip(t, data[m.off:m.off+2+size], api, payload)
			checkDecode(t, api, payload)
		}
	})
}

// checkRoundTrip re-encodes a frame with AppendFrame, compares it with the
// original bytes and reads it back.
func checkRoundTrip(t *testing.T, orig, api, payload []byte) {
	enc, err := AppendFrame(nil, string(api), payload)
	if err != nil {
		t.Fatalf("AppendFrame: %v", err)
	}
	if !bytes.Equal(enc, orig) {
		t.Fatalf("AppendFrame = %x, input had %x", enc, orig)
	}
	api2, payload2, err := NewReader(bytes.NewReader(enc), 0).Next()
	if err != nil || !bytes.Equal(api2, api) || !bytes.Equal(payload2, payload) {
		t.Fatalf("re-read: %q/%x, %v", api2, payload2, err)
	}
}

// checkDecode decodes a frame; a message that decodes must encode and decode
// back to an equal message.
func checkDecode(t *testing.T, api, payload []byte) {
	m, err := Decode(api, payload)
	if err != nil {
		if !errors.Is(err, ErrUnknownAPI) && !errors.Is(err, ErrBadPayload) && !errors.Is(err, ErrMissingRequired) {
			t.Fatalf("Decode: unexpected error %v", err)
		}
		if _, known := Lookup(api); known == errors.Is(err, ErrUnknownAPI) {
			t.Fatalf("Decode: %v, but Lookup known=%v", err, known)
		}
		return
	}
	api2, payload2, err := Encode(m)
	if errors.Is(err, ErrFrameTooLarge) {
		return // canonical encoding can be longer (int32 -1 takes 10 bytes)
	}
	if err != nil || api2 != string(api) {
		t.Fatalf("Encode of a decoded message: %q, %v", api2, err)
	}
	m2, err := Decode([]byte(api2), payload2)
	if err != nil || !proto.Equal(m, m2) {
		t.Fatalf("Decode(Encode(m)) = %v, %v; want %v", m2, err, m)
	}
}
