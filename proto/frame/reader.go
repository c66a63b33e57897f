package frame

import (
	"fmt"
	"io"
	"sync"
)

// hdrSize is the inline array the Reader waits for a frame in. Bigger
// costs every idle connection those bytes; smaller than a typical small frame
// costs a second read syscall per frame (the profile of the full echo path
// showed read syscalls at ~18% of CPU with a 2-byte array).
const hdrSize = 64

// maxEmptyReads is how many consecutive (0, nil) reads from the source the
// Reader tolerates before it reports io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// bufClasses are the sizes of the pooled read buffers. The last one holds the
// largest frame including its size field (2 + MaxSize bytes).
var bufClasses = [...]int{4 << 10, 16 << 10, 2 + MaxSize}

// bufPools holds one sync.Pool of *[]byte per entry of bufClasses. Pointers
// are pooled so that Get and Put do not allocate.
var bufPools [len(bufClasses)]sync.Pool

func init() {
	for i := range bufPools {
		n := bufClasses[i]
		bufPools[i].New = func() any {
			b := make([]byte, n)
			return &b
		}
	}
}

// classFor returns the index of the smallest buffer class holding n bytes.
func classFor(n int) int {
	for i, c := range bufClasses {
		if n <= c {
			return i
		}
	}
	return len(bufClasses) - 1
}

// Reader splits a byte stream into frames. It is meant for one connection
// and one goroutine.
//
// The Reader holds no buffer while it waits for a frame to start: it reads
// the first bytes into a small inline array (hdrSize bytes) and only then
// takes a buffer from a shared pool, giving it back as soon as every byte
// read has been consumed. An idle connection blocked in Next costs only the
// Reader struct itself (176 bytes on 64-bit platforms). A frame that fits in
// the inline array (most requests and answers: an Echo or GetItems request is
// about 20 bytes) comes in with that one Read instead of two.
// Frames that arrive together are read with one Read and yielded from the
// same buffer.
type Reader struct {
	src  io.Reader
	max  int
	hdr  [hdrSize]byte
	bufp *[]byte // pooled buffer; nil while nothing is buffered
	buf  []byte  // *bufp at full length
	r, w int     // unread bytes are buf[r:w]
	cls  int     // class of bufp
	serr error   // error from src not reported yet (data came with it)
	ferr error   // framing error: sticky, the stream is out of step
}

// NewReader returns a Reader of frames from r whose size field is at most
// maxFrame. A maxFrame that is not positive or above MaxSize means MaxSize.
func NewReader(r io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 || maxFrame > MaxSize {
		maxFrame = MaxSize
	}
	return &Reader{src: r, max: maxFrame}
}

// Next reads the next frame and returns its api and payload. Both are slices
// of the Reader's buffer, valid only until the next call to Next or Release;
// copy what must outlive that. Their capacity is capped, so appending to them
// cannot overwrite other data.
//
// Next returns io.EOF when the stream ends at a frame boundary and
// io.ErrUnexpectedEOF when it ends inside a frame. A malformed frame yields
// an error wrapping ErrFrameTooShort, ErrFrameTooLarge, ErrEmptyAPI or
// ErrAPISize; the stream is then out of step and every later call returns the
// same error, so the caller closes the connection. Other errors of the
// underlying reader (a read deadline, say) are returned once and keep the
// bytes read so far, so Next may be called again.
func (r *Reader) Next() (api, payload []byte, err error) {
	if r.ferr != nil {
		return nil, nil, r.ferr
	}
	if r.r == r.w {
		if err := r.start(); err != nil {
			return nil, nil, err
		}
	}
	if err := r.fill(2); err != nil {
		return nil, nil, err
	}
	size := int(r.buf[r.r]) | int(r.buf[r.r+1])<<8
	if size < 2 {
		return nil, nil, r.fail(fmt.Errorf("%w: size %d", ErrFrameTooShort, size))
	}
	if size > r.max {
		return nil, nil, r.fail(fmt.Errorf("%w: size %d > %d", ErrFrameTooLarge, size, r.max))
	}
	if err := r.fill(2 + size); err != nil {
		return nil, nil, err
	}
	f := r.buf[r.r+2 : r.r+2+size : r.r+2+size]
	apiSize := int(f[0]) | int(f[1])<<8
	if apiSize == 0 {
		return nil, nil, r.fail(fmt.Errorf("%w: size %d", ErrEmptyAPI, size))
	}
	if apiSize > size-2 {
		return nil, nil, r.fail(fmt.Errorf("%w: api_size %d, size %d", ErrAPISize, apiSize, size))
	}
	r.r += 2 + size
	return f[2 : 2+apiSize : 2+apiSize], f[2+apiSize:], nil
}

// Buffered returns the number of bytes read from the source but not yet
// returned by Next.
func (r *Reader) Buffered() int { return r.w - r.r }

// Release gives the Reader's buffer back to the shared pool if it holds no
// unread bytes (or only bytes past a framing error); slices returned by Next
// become invalid. Next does this itself before it waits for a new frame, so
// Release is only needed when the caller stops reading (for example when it
// closes the connection). With unread bytes buffered Release does nothing.
func (r *Reader) Release() {
	if r.bufp == nil || (r.r != r.w && r.ferr == nil) {
		return
	}
	*r.bufp = r.buf
	bufPools[r.cls].Put(r.bufp)
	r.bufp, r.buf = nil, nil
	r.r, r.w = 0, 0
}

// start waits for the first bytes of a frame while holding no buffer, then
// moves them into a pooled buffer. It is called with nothing buffered.
func (r *Reader) start() error {
	r.Release()
	if r.serr != nil {
		err := r.serr
		r.serr = nil
		return err // at a frame boundary: io.EOF stays io.EOF
	}
	var n int
	var err error
	for empty := 0; n == 0 && err == nil; empty++ {
		if empty == maxEmptyReads {
			return io.ErrNoProgress
		}
		n, err = r.src.Read(r.hdr[:])
	}
	if n < 0 || n > len(r.hdr) {
		return r.fail(fmt.Errorf("frame: source returned invalid count %d", n))
	}
	if n == 0 {
		return err
	}
	need := 2
	if n >= 2 {
		need += int(r.hdr[0]) | int(r.hdr[1])<<8
		if need > 2+r.max {
			need = 2 // Next reports the size; keep the buffer small
		}
	}
	r.grab(classFor(max(need, n)))
	r.w = copy(r.buf, r.hdr[:n])
	r.serr = err
	return nil
}

// grab takes a buffer of class cls from the pool, moving any unread bytes
// into it and giving the old buffer back.
func (r *Reader) grab(cls int) {
	bp := bufPools[cls].Get().(*[]byte)
	nb := (*bp)[:cap(*bp)]
	n := copy(nb, r.buf[r.r:r.w])
	if r.bufp != nil {
		*r.bufp = r.buf
		bufPools[r.cls].Put(r.bufp)
	}
	r.bufp, r.buf, r.cls = bp, nb, cls
	r.r, r.w = 0, n
}

// fill makes sure at least need unread bytes are buffered at buf[r:], reading
// as much as the source offers. It is called with at least one byte of the
// current frame buffered, so running out of input is io.ErrUnexpectedEOF.
func (r *Reader) fill(need int) error {
	if r.w-r.r >= need {
		return nil
	}
	if need > len(r.buf) {
		r.grab(classFor(need))
	} else if r.r+need > len(r.buf) {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	for empty := 0; r.w-r.r < need; {
		if r.serr != nil {
			err := r.serr
			r.serr = nil
			if err == io.EOF {
				err = r.fail(io.ErrUnexpectedEOF)
			}
			return err
		}
		n, err := r.src.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			return r.fail(fmt.Errorf("frame: source returned invalid count %d", n))
		}
		r.w += n
		r.serr = err
		if n > 0 || err != nil {
			empty = 0
		} else if empty++; empty == maxEmptyReads {
			return io.ErrNoProgress
		}
	}
	return nil
}

// fail records a framing error so that every later Next returns it.
func (r *Reader) fail(err error) error {
	r.ferr = err
	return err
}
