package frame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"
)

// testFrame is one frame of a generated stream.
type testFrame struct {
	api     string
	payload []byte
}

// makeStream returns n frames of varied sizes (empty payloads, a frame of the
// largest size, frames crossing the pooled buffer sizes) and their encoding.
func makeStream(tb testing.TB, n int) ([]testFrame, []byte) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var fs []testFrame
	var stream []byte
	for i := range n {
		api := fmt.Sprintf("msg.T%d.Req", i)
		var size int
		switch rng.IntN(12) {
		case 0:
			size = 0
		case 1:
			size = MaxSize - 2 - len(api) // the largest frame
		case 2:
			size = bufClasses[0] - HeaderSize - len(api) // fills the small buffer exactly
		case 3:
			size = bufClasses[0] // needs the next buffer class
		case 4:
			size = rng.IntN(3000)
		default:
			size = rng.IntN(300)
		}
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		var err error
		stream, err = AppendFrame(stream, api, p)
		if err != nil {
			tb.Fatal(err)
		}
		fs = append(fs, testFrame{api, p})
	}
	return fs, stream
}

// chunkReader returns at most a pseudo-random 1..max bytes per Read.
type chunkReader struct {
	b   []byte
	rng *rand.Rand
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.rng.IntN(c.max))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func TestReaderManyFrames(t *testing.T) {
	fs, stream := makeStream(t, 200)
	sources := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"onebyte":  func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"dataerr":  func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
		"chunks7":  func() io.Reader { return &chunkReader{stream, rand.New(rand.NewPCG(3, 4)), 7} },
		"chunks5k": func() io.Reader { return &chunkReader{stream, rand.New(rand.NewPCG(5, 6)), 5000} },
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			r := NewReader(src(), 0)
			for i, f := range fs {
				api, payload, err := r.Next()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if string(api) != f.api || !bytes.Equal(payload, f.payload) {
					t.Fatalf("frame %d: got %q with %d bytes, want %q with %d", i, api, len(payload), f.api, len(f.payload))
				}
				if cap(api) != len(api) || cap(payload) != len(payload) {
					t.Fatalf("frame %d: slices not capped: cap %d/%d", i, cap(api), cap(payload))
				}
			}
			for range 2 {
				if _, _, err := r.Next(); err != io.EOF {
					t.Fatalf("after last frame: %v, want io.EOF", err)
				}
			}
			if r.bufp != nil {
				t.Fatal("buffer still held after EOF")
			}
		})
	}
}

func TestReaderMaxFrame(t *testing.T) {
	const max = 100
	ok, _ := AppendFrame(nil, "a", make([]byte, max-3))  // size == max
	big, _ := AppendFrame(nil, "a", make([]byte, max-2)) // size == max+1
	r := NewReader(bytes.NewReader(append(ok, big...)), max)
	if _, p, err := r.Next(); err != nil || len(p) != max-3 {
		t.Fatalf("frame of size max: %d bytes, %v", len(p), err)
	}
	_, _, err := r.Next()
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("frame of size max+1: %v, want ErrFrameTooLarge", err)
	}
	if _, _, err2 := r.Next(); err2 != err {
		t.Fatalf("error not sticky: %v then %v", err, err2)
	}

	// Default limit: 0xffff is the largest size and is accepted.
	full, err := AppendFrame(nil, "x", make([]byte, MaxSize-3))
	if err != nil {
		t.Fatal(err)
	}
	if full[0] != 0xff || full[1] != 0xff {
		t.Fatalf("size field %x, want ffff", full[:2])
	}
	for _, m := range []int{0, -1, MaxSize, MaxSize + 1} {
		if _, p, err := NewReader(bytes.NewReader(full), m).Next(); err != nil || len(p) != MaxSize-3 {
			t.Fatalf("maxFrame %d: %d bytes, %v", m, len(p), err)
		}
	}
}

func TestReaderEOF(t *testing.T) {
	frame, _ := AppendFrame(nil, "msg.Echo.Req", []byte{8, 1})
	tests := []struct {
		name   string
		stream []byte
		frames int
		err    error
	}{
		{"empty", nil, 0, io.EOF},
		{"one frame", frame, 1, io.EOF},
		{"half size", frame[:1], 0, io.ErrUnexpectedEOF},
		{"size only", frame[:2], 0, io.ErrUnexpectedEOF},
		{"half api_size", frame[:3], 0, io.ErrUnexpectedEOF},
		{"no payload", frame[:len(frame)-2], 0, io.ErrUnexpectedEOF},
		{"one short", frame[:len(frame)-1], 0, io.ErrUnexpectedEOF},
		{"frame then half", append(append([]byte{}, frame...), frame[:5]...), 1, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "onebyte", "dataerr"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				var src io.Reader = bytes.NewReader(tt.stream)
				switch mode {
				case "onebyte":
					src = iotest.OneByteReader(src)
				case "dataerr":
					src = iotest.DataErrReader(src)
				}
				r := NewReader(src, MaxSize)
				for i := range tt.frames {
					if _, _, err := r.Next(); err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
				}
				for range 2 { // and again: still the same answer
					if _, _, err := r.Next(); err != tt.err {
						t.Fatalf("got %v, want %v", err, tt.err)
					}
				}
			})
		}
	}
}

func TestReaderViolations(t *testing.T) {
	tests := []struct {
		hex string
		err error
	}{
		{"0000", ErrFrameTooShort},
		{"0100ff", ErrFrameTooShort},
		{"02000000", ErrEmptyAPI},
		{"0400000008ff", ErrEmptyAPI},
		{"03000200ff", ErrAPISize},
		{"0400030061626364", ErrAPISize}, // api_size 3, room for 2
		{"ffff", ErrFrameTooLarge},       // with maxFrame 1000
	}
	for _, tt := range tests {
		t.Run(tt.hex, func(t *testing.T) {
			b := mustHex(t, tt.hex)
			valid, _ := AppendFrame(nil, "ok", nil)
			r := NewReader(bytes.NewReader(append(valid, b...)), 1000)
			if api, _, err := r.Next(); err != nil || string(api) != "ok" {
				t.Fatalf("leading valid frame: %q, %v", api, err)
			}
			_, _, err := r.Next()
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			if _, _, err2 := r.Next(); err2 != err {
				t.Fatalf("not sticky: %v then %v", err, err2)
			}
			r.Release()
			if r.bufp != nil {
				t.Fatal("Release kept the buffer after a framing error")
			}
		})
	}
}

// timeoutReader returns its chunks one per Read, with errTimeout between
// them, as a connection with a read deadline might.
type timeoutReader struct {
	chunks [][]byte
	fail   bool
}

var errTimeout = errors.New("i/o timeout")

func (t *timeoutReader) Read(p []byte) (int, error) {
	if t.fail = !t.fail; t.fail {
		return 0, errTimeout
	}
	if len(t.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, t.chunks[0])
	t.chunks[0] = t.chunks[0][n:]
	if len(t.chunks[0]) == 0 {
		t.chunks = t.chunks[1:]
	}
	return n, nil
}

func TestReaderTransientError(t *testing.T) {
	f1, _ := AppendFrame(nil, "msg.A.Req", []byte("one"))
	f2, _ := AppendFrame(nil, "msg.B.Req", []byte("two"))
	stream := append(append([]byte{}, f1...), f2...)
	// Cut inside the first size field, inside the first api, between the
	// frames and inside the second payload.
	src := &timeoutReader{chunks: [][]byte{stream[:1], stream[1:7], stream[7:len(f1)], stream[len(f1) : len(stream)-1], stream[len(stream)-1:]}}
	r := NewReader(src, MaxSize)
	var got []string
	for timeouts := 0; timeouts < 20; {
		api, payload, err := r.Next()
		if err == errTimeout {
			timeouts++
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, string(api)+"="+string(payload))
	}
	if want := "msg.A.Req=one msg.B.Req=two"; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// zeroReader returns (0, nil) forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	if _, _, err := NewReader(zeroReader{}, 0).Next(); err != io.ErrNoProgress {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
	src := io.MultiReader(bytes.NewReader([]byte{5, 0, 1}), zeroReader{})
	if _, _, err := NewReader(src, 0).Next(); err != io.ErrNoProgress {
		t.Fatalf("mid-frame: got %v, want io.ErrNoProgress", err)
	}
}

// spyReader records the length of every buffer it is asked to fill.
type spyReader struct {
	src  io.Reader
	lens []int
}

func (s *spyReader) Read(p []byte) (int, error) {
	s.lens = append(s.lens, len(p))
	return s.src.Read(p)
}

func TestReaderLazyBuffer(t *testing.T) {
	// What an idle connection costs: the Reader struct, no buffer.
	if size := unsafe.Sizeof(Reader{}); size > 192 {
		t.Errorf("Reader is %d bytes, want at most 192", size)
	}
	f, _ := AppendFrame(nil, "msg.Echo.Req", []byte{8, 1})
	spy := &spyReader{src: bytes.NewReader(append(append([]byte{}, f...), f...))}
	r := NewReader(spy, MaxSize)
	if r.bufp != nil || r.buf != nil {
		t.Fatal("NewReader allocated a buffer")
	}
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	// The first read, made while idle, goes into the inline array, and a
	// small frame needs no second one.
	if len(spy.lens) != 1 || spy.lens[0] != hdrSize {
		t.Fatalf("Reads of %v bytes, want one of %d", spy.lens, hdrSize)
	}
	if r.Buffered() != len(f) {
		t.Fatalf("Buffered %d, want %d (the second frame came with the first)", r.Buffered(), len(f))
	}
	r.Release() // unread bytes: keeps the buffer
	if r.bufp == nil {
		t.Fatal("Release dropped unread bytes")
	}
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	r.Release()
	if r.bufp != nil || r.buf != nil || r.Buffered() != 0 {
		t.Fatal("Release kept the buffer with nothing unread")
	}
	// Next drops the buffer by itself before waiting for the next frame.
	r2 := NewReader(bytes.NewReader(f), MaxSize)
	if _, _, err := r2.Next(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r2.Next(); err != io.EOF || r2.bufp != nil {
		t.Fatalf("at EOF: %v, buffer held %v", err, r2.bufp != nil)
	}
}

// repeatReader yields its frames over and over, filling every Read.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

func TestReaderNextAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	_, stream := makeStream(t, 20)
	one, _ := AppendFrame(nil, "msg.Echo.Req", []byte{8, 1})
	for name, src := range map[string]io.Reader{
		"stream":    &repeatReader{b: stream},
		"one frame": iotest.OneByteReader(&repeatReader{b: one}), // drains the buffer every frame
	} {
		r := NewReader(src, MaxSize)
		if _, _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Next made %v allocations per frame, want 0", name, allocs)
		}
	}
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// liarReader claims to have read more than it was given room for.
type liarReader struct{ prefix []byte }

func (l *liarReader) Read(p []byte) (int, error) {
	if len(l.prefix) > 0 {
		n := copy(p, l.prefix)
		l.prefix = l.prefix[n:]
		return n, nil
	}
	return len(p) + 1, nil
}

func TestReaderInvalidCount(t *testing.T) {
	for _, prefix := range [][]byte{nil, {5, 0}} {
		r := NewReader(&liarReader{prefix}, 0)
		_, _, err := r.Next()
		if err == nil || !strings.Contains(err.Error(), "invalid count") {
			t.Fatalf("prefix %x: %v, want invalid count", prefix, err)
		}
		if _, _, err2 := r.Next(); err2 != err {
			t.Fatalf("not sticky: %v then %v", err, err2)
		}
	}
}
