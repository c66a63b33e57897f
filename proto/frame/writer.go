package frame

import (
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/proto"
)

// writeBufSize is the capacity of a fresh pooled write buffer.
const writeBufSize = 4 << 10

// maxPooledWriteBuf is the largest write buffer given back to the pool;
// larger ones (after a big batch) are left to the garbage collector.
const maxPooledWriteBuf = 256 << 10

// writePool holds *[]byte write buffers of length 0.
var writePool = sync.Pool{New: func() any {
	b := make([]byte, 0, writeBufSize)
	return &b
}}

// Writer batches frames for one connection: WriteFrame and WriteMessage
// append to a pending buffer and Flush sends all of it with a single Write.
// The pending buffer comes from a shared pool on the first frame after a
// Flush and goes back to it when the Flush succeeds, so an idle Writer holds
// no buffer. A Writer is not safe for concurrent use.
type Writer struct {
	dst  io.Writer
	bufp *[]byte // pooled buffer; nil while nothing is pending
	buf  []byte  // pending frames
	err  error   // sticky write error
}

// NewWriter returns a Writer that sends batches of frames to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{dst: w}
}

// WriteFrame appends the frame (api, payload) to the pending batch. It fails
// without changing the batch if api is empty or the frame would be larger
// than MaxSize, and with the earlier error once a Flush has failed.
func (w *Writer) WriteFrame(api string, payload []byte) error {
	if w.err != nil {
		return w.err
	}
	w.take()
	b, err := AppendFrame(w.buf, api, payload)
	if err != nil {
		return err
	}
	w.buf = b
	return nil
}

// WriteMessage appends m as a frame named by its full name to the pending
// batch, as AppendMessage does. On error the batch is unchanged.
func (w *Writer) WriteMessage(m proto.Message) error {
	if w.err != nil {
		return w.err
	}
	w.take()
	b, err := AppendMessage(w.buf, m)
	if err != nil {
		return err
	}
	w.buf = b
	return nil
}

// Buffered returns the number of pending bytes not yet flushed.
func (w *Writer) Buffered() int { return len(w.buf) }

// Flush sends every pending frame with one Write call to the underlying
// writer. After a failed or short Write the unsent bytes stay pending and the
// error is sticky: every later call returns it, as the connection is broken.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.dst.Write(w.buf)
	if n < len(w.buf) && err == nil {
		err = io.ErrShortWrite
	}
	if err != nil {
		if n > 0 && n < len(w.buf) {
			w.buf = w.buf[:copy(w.buf, w.buf[n:])]
		}
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	if cap(w.buf) <= maxPooledWriteBuf {
		*w.bufp = w.buf
		writePool.Put(w.bufp)
	}
	w.bufp, w.buf = nil, nil
	return nil
}

// take gets a pending buffer from the pool if the Writer has none.
func (w *Writer) take() {
	if w.bufp == nil {
		w.bufp = writePool.Get().(*[]byte)
		w.buf = (*w.bufp)[:0]
	}
}

// AppendFrame appends one encoded frame (api, payload) to dst and returns the
// extended slice. It returns dst unchanged and an error wrapping ErrEmptyAPI
// if api is empty, or ErrFrameTooLarge if 2+len(api)+len(payload) exceeds
// MaxSize.
func AppendFrame(dst []byte, api string, payload []byte) ([]byte, error) {
	if len(api) == 0 {
		return dst, ErrEmptyAPI
	}
	size := 2 + len(api) + len(payload)
	if size > MaxSize {
		return dst, fmt.Errorf("%w: %s: size %d > %d", ErrFrameTooLarge, api, size, MaxSize)
	}
	dst = append(dst, byte(size), byte(size>>8), byte(len(api)), byte(len(api)>>8))
	dst = append(dst, api...)
	return append(dst, payload...), nil
}

// AppendMessage appends m to dst as one frame whose api is m's full protobuf
// name, and returns the extended slice. The message is marshaled straight
// into dst after the header, which is patched afterwards, so nothing is
// allocated when dst has room. Marshaling does not allow partial messages:
// a missing required field is an error. On error dst is returned unchanged
// (its spare capacity may have been written).
func AppendMessage(dst []byte, m proto.Message) ([]byte, error) {
	if m == nil {
		return dst, fmt.Errorf("%w: nil message", ErrEmptyAPI)
	}
	name := m.ProtoReflect().Descriptor().FullName()
	start := len(dst)
	b := append(dst, 0, 0, byte(len(name)), byte(len(name)>>8))
	b = append(b, name...)
	b, err := proto.MarshalOptions{AllowPartial: false}.MarshalAppend(b, m)
	if err != nil {
		return dst, fmt.Errorf("frame: marshal %s: %w", name, err)
	}
	size := len(b) - start - 2
	if size > MaxSize || len(name) > MaxSize {
		return dst, fmt.Errorf("%w: %s: size %d > %d", ErrFrameTooLarge, name, size, MaxSize)
	}
	b[start] = byte(size)
	b[start+1] = byte(size >> 8)
	return b, nil
}
